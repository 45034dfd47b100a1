"""The buyer's portfolio: one page of the factories shared with it, in risk order, with each
factory's latest report, change since the previous one, open issues, plan progress and training
and advisory totals, in one statement that checks consent with the one rule for what a buyer may
read (`consent.buyer_may_read`; docs/buyer_sharing.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.buyer_sharing.domain import portfolio
from services.buyer_sharing.queries import training_advisory
from services.buyer_sharing.queries.consent import buyer_may_read
from services.buyer_sharing.tables import SCHEMA

_PAGE_SQL = f"""
    WITH page AS (
        SELECT g.factory_id, g.granted_at, g.ends_on, s.country,
            s.latest_assessment_id, s.previous_assessment_id,
            coalesce(s.critical_found, 0) AS critical_found,
            coalesce(s.zero_tolerance_found, 0) AS zero_tolerance_found,
            coalesce(s.open_zero_tolerance, 0) AS open_zero_tolerance,
            coalesce(s.open_critical, 0) AS open_critical,
            coalesce(s.overdue, 0) AS risk_overdue,
            coalesce(s.rate_ppm, 0) AS rate_ppm
        FROM "{SCHEMA}".sharing_grant g
        LEFT JOIN "{SCHEMA}".factory_summary s ON s.factory_id = g.factory_id
        WHERE g.buyer_id = :buyer_id AND {buyer_may_read("g")}
          AND (CAST(:factory_id AS text) IS NULL OR g.factory_id = :factory_id)
          AND (CAST(:country AS text) IS NULL OR s.country = :country)
          AND (CAST(:countries AS text[]) IS NULL OR EXISTS (
              SELECT 1 FROM "{SCHEMA}".factory sf
              WHERE sf.factory_id = g.factory_id AND sf.country = ANY(CAST(:countries AS text[]))))
          AND (CAST(:open_critical AS boolean) IS NULL
               OR (coalesce(s.open_critical, 0) > 0) = :open_critical)
          AND (CAST(:overdue AS boolean) IS NULL OR (coalesce(s.overdue, 0) > 0) = :overdue)
          AND {{after}}
        ORDER BY {{order}}
        LIMIT :limit
    )
    SELECT page.factory_id, page.granted_at, page.ends_on, f.name, page.country, f.os_id,
        page.latest_assessment_id AS assessment_id, l.cycle, l.report_date, l.summary,
        page.previous_assessment_id, pr.report_date AS previous_report_date,
        pr.summary AS previous_summary, page.critical_found, page.zero_tolerance_found,
        page.open_critical, page.open_zero_tolerance, page.risk_overdue, page.rate_ppm,
        pp.total, pp.open, pp.in_progress, pp.done, pp.verified, pp.overdue,
        pp.published, pp.publication_late, pp.publication_due_date,
        {", ".join(training_advisory.TOTALS_COLUMNS)}
    FROM page
    LEFT JOIN "{SCHEMA}".factory f ON f.factory_id = page.factory_id
    LEFT JOIN "{SCHEMA}".report l ON l.assessment_id = page.latest_assessment_id
    LEFT JOIN "{SCHEMA}".report pr ON pr.assessment_id = page.previous_assessment_id
    LEFT JOIN "{SCHEMA}".plan_progress pp ON pp.factory_id = page.factory_id
    {training_advisory.TOTALS_JOINS}
    ORDER BY {{order}}
"""
_RISK_KEY = (
    "-coalesce(s.open_zero_tolerance, 0), -coalesce(s.open_critical, 0), "
    "-coalesce(s.overdue, 0), -coalesce(s.rate_ppm, 0), g.factory_id"
)
_PAGE = {
    # (order of the page, order of the answer, keyset condition after the cursor's position)
    "risk": text(
        _PAGE_SQL.format(
            order="open_zero_tolerance DESC, open_critical DESC, risk_overdue DESC, "
            "rate_ppm DESC, factory_id",
            after=f"(CAST(:after_factory_id AS text) IS NULL OR ({_RISK_KEY}) > ("
            "CAST(:after_zero_tolerance AS integer), CAST(:after_critical AS integer), "
            "CAST(:after_overdue AS integer), CAST(:after_rate AS integer), "
            "CAST(:after_factory_id AS text)))",
        )
    ),
    "factory_id": text(
        _PAGE_SQL.format(
            order="factory_id",
            after="(CAST(:after_factory_id AS text) IS NULL OR g.factory_id > :after_factory_id)",
        )
    ),
}


def _entry(row: Any) -> portfolio.Entry:
    summary: Sequence[Mapping[str, Any]] = row["summary"] or []
    previous: Sequence[Mapping[str, Any]] | None = row["previous_summary"]
    rate = portfolio.overall_rate(summary)
    latest = None
    if row["assessment_id"] is not None:
        latest = {
            "assessment_id": row["assessment_id"],
            "cycle": row["cycle"],
            "report_date": row["report_date"],
            "non_compliance_rate": round(rate, 6),
            "clusters": portfolio.cluster_changes(summary, previous),
            "critical_issues_found": row["critical_found"],
            "zero_tolerance_issues_found": row["zero_tolerance_found"],
        }
    change = None
    if previous is not None:
        change = {
            "previous_assessment_id": row["previous_assessment_id"],
            "previous_report_date": row["previous_report_date"],
            "non_compliance_rate_change": round(rate - portfolio.overall_rate(previous), 6),
        }
    plan = None
    if row["total"] is not None:
        plan = {
            name: row[name]
            for name in (
                "total",
                "open",
                "in_progress",
                "done",
                "verified",
                "overdue",
                "published",
                "publication_late",
                "publication_due_date",
            )
        }
    shaped = {
        "factory_id": row["factory_id"],
        "name": row["name"],
        "country": row["country"],
        "os_id": row["os_id"],
        "shared_since": row["granted_at"],
        "shared_until": row["ends_on"],
        "latest_report": latest,
        "change_since_previous": change,
        "open_zero_tolerance_issues": row["open_zero_tolerance"],
        "open_critical_issues": row["open_critical"],
        "improvement_plan": plan,
        "training_and_advisory": training_advisory.totals(row),
    }
    return portfolio.Entry(
        factory_id=row["factory_id"],
        country=row["country"] or "",
        open_zero_tolerance=row["open_zero_tolerance"],
        open_critical=row["open_critical"],
        # the figures the statement ordered by (the summary's), so the cursor matches them
        overdue=row["risk_overdue"],
        rate=row["rate_ppm"] / portfolio.PPM,
        row=shaped,
    )


async def portfolio_page(
    connection: AsyncConnection,
    buyer_id: str,
    today: date,
    *,
    factory_id: str | None = None,
    country: str | None = None,
    open_critical: bool | None = None,
    overdue: bool | None = None,
    order: portfolio.SortOrder = "risk",
    after: Mapping[str, Any] | None = None,
    limit: int | None = None,
    countries: frozenset[str] | None = None,
) -> tuple[list[portfolio.Entry], portfolio.Entry | None]:
    """One page of the buyer's shared factories in `order` after the cursor's `after`, and the
    last entry if more follow: one statement, consent checked in it (the buyer's grants in force
    joined with the factory summaries, filtered, ordered by the risk key, keyset-paged; the page's
    rows then joined with their reports and plan progress). `countries`: a staff caller's
    country programmes (the factories registered there only)."""
    position = portfolio.key_of_position(order, after) if after is not None else None
    params: dict[str, Any] = {
        "buyer_id": buyer_id,
        "today": today,
        "factory_id": factory_id,
        "country": country,
        "open_critical": open_critical,
        "overdue": overdue,
        "countries": sorted(countries) if countries is not None else None,
        "limit": limit + 1 if limit is not None else None,
        "after_factory_id": position[-1] if position is not None else None,
    }
    if order == "risk":
        names = ("after_zero_tolerance", "after_critical", "after_overdue", "after_rate")
        params.update(
            zip(names, position[:4] if position is not None else (None,) * 4, strict=True)
        )
    entries = [_entry(row._mapping) for row in await connection.execute(_PAGE[order], params)]
    if limit is None or len(entries) <= limit:
        return entries, None
    return entries[:limit], entries[limit - 1]
