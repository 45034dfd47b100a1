"""Read-side queries of buyer sharing, on the connection `store.reading()` gives (the request's
own transaction when it has one).

Every buyer-facing query checks consent in the same statement or before any data is read, on
this service's own grant rows (projected in the command's transaction): the first request after a
revocation committed sees no grant, whatever the consumers are doing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import and_, or_, select, text, true
from sqlalchemy.ext.asyncio import AsyncConnection

from services.buyer_sharing.domain import portfolio, transparency
from services.buyer_sharing.projections import TRANSPARENCY
from services.buyer_sharing.tables import (
    SCHEMA,
    access_request,
    audit_reliance,
    buyer,
    factory,
    read_model_version,
    sharing_grant,
    sharing_history,
)

Row = dict[str, Any]


def _in_force(today: date) -> Any:
    return and_(
        sharing_grant.c.active,
        or_(sharing_grant.c.ends_on.is_(None), sharing_grant.c.ends_on >= today),
    )


async def buyer_row(connection: AsyncConnection, buyer_id: str) -> Row | None:
    row = (await connection.execute(select(buyer).where(buyer.c.buyer_id == buyer_id))).first()
    return row._asdict() if row is not None else None


async def buyers(connection: AsyncConnection, after: str | None, limit: int) -> list[Row]:
    query = select(buyer).order_by(buyer.c.buyer_id).limit(limit + 1)
    if after is not None:
        query = query.where(buyer.c.buyer_id > after)
    return [row._asdict() for row in await connection.execute(query)]


async def grant_in_force(
    connection: AsyncConnection, factory_id: str, buyer_id: str, today: date
) -> bool:
    found = await connection.scalar(
        select(true()).where(
            sharing_grant.c.factory_id == factory_id,
            sharing_grant.c.buyer_id == buyer_id,
            _in_force(today),
        )
    )
    return bool(found)


async def grant(connection: AsyncConnection, factory_id: str, buyer_id: str) -> Row | None:
    row = (
        await connection.execute(
            select(sharing_grant).where(
                sharing_grant.c.factory_id == factory_id, sharing_grant.c.buyer_id == buyer_id
            )
        )
    ).first()
    return row._asdict() if row is not None else None


async def grants(
    connection: AsyncConnection,
    *,
    factory_id: str | None,
    buyer_id: str | None,
    active: bool | None,
    after: tuple[str, str] | None,
    limit: int,
) -> list[Row]:
    query = (
        select(sharing_grant)
        .order_by(sharing_grant.c.factory_id, sharing_grant.c.buyer_id)
        .limit(limit + 1)
    )
    if factory_id is not None:
        query = query.where(sharing_grant.c.factory_id == factory_id)
    if buyer_id is not None:
        query = query.where(sharing_grant.c.buyer_id == buyer_id)
    if active is not None:
        query = query.where(sharing_grant.c.active == active)
    if after is not None:
        query = query.where(
            (sharing_grant.c.factory_id, sharing_grant.c.buyer_id) > after  # type: ignore[operator]
        )
    return [row._asdict() for row in await connection.execute(query)]


async def grant_history(connection: AsyncConnection, factory_id: str, buyer_id: str) -> list[Row]:
    query = (
        select(sharing_history)
        .where(sharing_history.c.factory_id == factory_id, sharing_history.c.buyer_id == buyer_id)
        .order_by(sharing_history.c.version)
    )
    return [row._asdict() for row in await connection.execute(query)]


async def factory_os_id(connection: AsyncConnection, factory_id: str) -> str | None:
    found: str | None = await connection.scalar(
        select(factory.c.os_id).where(factory.c.factory_id == factory_id)
    )
    return found


def _addressed_to(factory_id: str, os_id: str | None) -> Any:
    by_id = access_request.c.factory_id == factory_id
    if os_id is None:
        return by_id
    return or_(by_id, and_(access_request.c.factory_id.is_(None), access_request.c.os_id == os_id))


async def access_request_row(connection: AsyncConnection, request_id: str) -> Row | None:
    row = (
        await connection.execute(
            select(access_request).where(access_request.c.request_id == request_id)
        )
    ).first()
    return row._asdict() if row is not None else None


async def access_requests(
    connection: AsyncConnection,
    *,
    buyer_id: str | None = None,
    factory_id: str | None = None,
    status: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> list[Row]:
    query = select(access_request).order_by(access_request.c.request_id).limit(limit + 1)
    if buyer_id is not None:
        query = query.where(access_request.c.buyer_id == buyer_id)
    if factory_id is not None:
        query = query.where(_addressed_to(factory_id, await factory_os_id(connection, factory_id)))
    if status is not None:
        query = query.where(access_request.c.status == status)
    if after is not None:
        query = query.where(access_request.c.request_id > after)
    return [row._asdict() for row in await connection.execute(query)]


async def reliances(
    connection: AsyncConnection, *, buyer_id: str | None, after: str | None, limit: int
) -> list[Row]:
    query = select(audit_reliance).order_by(audit_reliance.c.reliance_id).limit(limit + 1)
    if buyer_id is not None:
        query = query.where(audit_reliance.c.buyer_id == buyer_id)
    if after is not None:
        query = query.where(audit_reliance.c.reliance_id > after)
    return [row._asdict() for row in await connection.execute(query)]


async def reliance(connection: AsyncConnection, reliance_id: str) -> Row | None:
    row = (
        await connection.execute(
            select(audit_reliance).where(audit_reliance.c.reliance_id == reliance_id)
        )
    ).first()
    return row._asdict() if row is not None else None


# --- portfolio ----------------------------------------------------------------------------------

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
        WHERE g.buyer_id = :buyer_id AND g.active
          AND (g.ends_on IS NULL OR g.ends_on >= :today)
          AND (CAST(:factory_id AS text) IS NULL OR g.factory_id = :factory_id)
          AND (CAST(:country AS text) IS NULL OR s.country = :country)
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
        pp.published, pp.publication_late, pp.publication_due_date
    FROM page
    LEFT JOIN "{SCHEMA}".factory f ON f.factory_id = page.factory_id
    LEFT JOIN "{SCHEMA}".report l ON l.assessment_id = page.latest_assessment_id
    LEFT JOIN "{SCHEMA}".report pr ON pr.assessment_id = page.previous_assessment_id
    LEFT JOIN "{SCHEMA}".plan_progress pp ON pp.factory_id = page.factory_id
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
) -> tuple[list[portfolio.Entry], portfolio.Entry | None]:
    """One page of the buyer's shared factories in `order` after the cursor's `after`, and the
    last entry if more follow: one statement, consent checked in it (the buyer's grants in force
    joined with the factory summaries, filtered, ordered by the risk key, keyset-paged; the page's
    rows then joined with their reports and plan progress)."""
    position = portfolio.key_of_position(order, after) if after is not None else None
    params: dict[str, Any] = {
        "buyer_id": buyer_id,
        "today": today,
        "factory_id": factory_id,
        "country": country,
        "open_critical": open_critical,
        "overdue": overdue,
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


# --- reports ------------------------------------------------------------------------------------

_REPORTS_SQL = text(
    f"""
    SELECT assessment_id, cycle, country, catalogue_version, report_date, non_compliance_count,
        summary
    FROM "{SCHEMA}".report WHERE factory_id = :factory_id
    ORDER BY report_date DESC, cycle DESC
    """
)
_FINDINGS_SQL = text(
    f"""
    SELECT f.assessment_id, f.question_id, f.cluster_id, f.cluster_name, f.compliance_point_id,
        f.compliance_point_name, f.question_text, f.critical, f.zero_tolerance, f.evidence,
        coalesce(rr.result, 'non_compliant') AS result,
        (SELECT p.status FROM "{SCHEMA}".plan_item p
         WHERE p.assessment_id = f.assessment_id AND p.question_id = f.question_id
         ORDER BY p.plan_version DESC LIMIT 1) AS remediation_status,
        (SELECT bool_or(p.overdue) FROM "{SCHEMA}".plan_item p
         WHERE p.assessment_id = f.assessment_id AND p.question_id = f.question_id)
            AS remediation_overdue
    FROM "{SCHEMA}".finding f
    LEFT JOIN "{SCHEMA}".report_result rr
        ON rr.assessment_id = f.assessment_id AND rr.question_id = f.question_id
    WHERE f.assessment_id = ANY(:assessment_ids)
    ORDER BY f.assessment_id, f.question_id
    """
)
_NOTES_SQL = text(
    f"""
    SELECT assessment_id, question_id, kind, text, reason, result_before, result_after, actor, at
    FROM "{SCHEMA}".finding_note WHERE assessment_id = ANY(:assessment_ids)
    ORDER BY assessment_id, stream_version, event_id
    """
)


async def factory_reports(connection: AsyncConnection, factory_id: str) -> list[Row]:
    """Every completed report of the factory, newest first, with its findings, the factory's
    responses and disputes, corrections as attributed history, and remediation status. Only
    completed assessments ever reach these tables (the assessment service publishes nothing
    before completion)."""
    reports = [
        row._asdict() for row in await connection.execute(_REPORTS_SQL, {"factory_id": factory_id})
    ]
    ids = [report["assessment_id"] for report in reports]
    if not ids:
        return []
    findings: dict[str, list[Row]] = {assessment_id: [] for assessment_id in ids}
    by_question: dict[tuple[str, str], Row] = {}
    for row in await connection.execute(_FINDINGS_SQL, {"assessment_ids": ids}):
        finding = row._asdict()
        finding.update(responses=[], disputes=[], corrections=[])
        findings[finding["assessment_id"]].append(finding)
        by_question[(finding["assessment_id"], finding["question_id"])] = finding
    for row in await connection.execute(_NOTES_SQL, {"assessment_ids": ids}):
        note = row._asdict()
        target = by_question.get((note["assessment_id"], note["question_id"]))
        if target is None:  # a note on a question found compliant (e.g. corrected to non-compliant)
            continue
        key = {"response": "responses", "dispute": "disputes", "correction": "corrections"}
        target[key[note["kind"]]].append(
            {k: note[k] for k in ("text", "reason", "result_before", "result_after", "actor", "at")}
        )
    for report in reports:
        report["findings"] = findings[report["assessment_id"]]
    return reports


# --- programme statistics -----------------------------------------------------------------------

_INTERVALS_SQL = text(
    f"""
    SELECT h.factory_id, h.buyer_id, h.action, h.at, h.ends_on,
        lead(h.at) OVER (PARTITION BY h.factory_id, h.buyer_id ORDER BY h.version) AS next_at,
        f.country
    FROM "{SCHEMA}".sharing_history h
    LEFT JOIN "{SCHEMA}".factory f ON f.factory_id = h.factory_id
    """
)
_RELIANCE_SQL = text(
    f"""
    SELECT r.factory_id, r.buyer_id, r.period_start, r.period_end, r.withdrawn_at, f.country
    FROM "{SCHEMA}".audit_reliance r
    LEFT JOIN "{SCHEMA}".factory f ON f.factory_id = r.factory_id
    """
)


async def statistics(
    connection: AsyncConnection, *, today: date, year: int | None, country: str | None
) -> list[Row]:
    """Per calendar year and factory country: buyers with at least one grant in force during the
    year, buyers relying, factories covered by a grant, and audits avoided (one per factory,
    buyer and year covered by a reliance declaration not withdrawn before the year). A
    declaration counts only in the years its factory shared with its buyer: a period reaching
    back before the grant avoids no audit there, so relying buyers are always participating."""
    participating: dict[tuple[int, str], set[str]] = {}
    covered: dict[tuple[int, str], set[str]] = {}
    shared_years: set[tuple[int, str, str]] = set()
    for row in await connection.execute(_INTERVALS_SQL):
        if row.action != "granted":
            continue
        start = row.at.date()
        end_candidates = [
            d for d in (row.next_at.date() if row.next_at else None, row.ends_on) if d
        ]
        end = min(end_candidates) if end_candidates else today
        for y in range(start.year, max(start.year, end.year) + 1):
            key = (y, row.country or "")
            participating.setdefault(key, set()).add(row.buyer_id)
            covered.setdefault(key, set()).add(row.factory_id)
            shared_years.add((y, row.factory_id, row.buyer_id))
    relying: dict[tuple[int, str], set[str]] = {}
    avoided: dict[tuple[int, str], set[tuple[str, str]]] = {}
    for row in await connection.execute(_RELIANCE_SQL):
        last = row.period_end
        if row.withdrawn_at is not None:
            last = min(last, row.withdrawn_at.date())
        for y in range(row.period_start.year, last.year + 1):
            if last < row.period_start:
                break
            if (y, row.factory_id, row.buyer_id) not in shared_years:
                continue
            key = (y, row.country or "")
            relying.setdefault(key, set()).add(row.buyer_id)
            avoided.setdefault(key, set()).add((row.factory_id, row.buyer_id))
    keys = sorted(set(participating) | set(relying))
    return [
        {
            "year": y,
            "country": c or None,
            "buyers_participating": len(participating.get((y, c), ())),
            "buyers_relying": len(relying.get((y, c), ())),
            "factories_covered": len(covered.get((y, c), ())),
            "audits_avoided": len(avoided.get((y, c), ())),
        }
        for y, c in keys
        if (year is None or y == year) and (country is None or c == country)
    ]


# --- transparency -------------------------------------------------------------------------------


async def public_version(connection: AsyncConnection) -> int:
    """The public pages' version: moved by every transaction that changes what they show."""
    found: int | None = await connection.scalar(
        select(read_model_version.c.version).where(read_model_version.c.name == TRANSPARENCY)
    )
    return found or 0


_PUBLISHED_SQL = text(
    f"""
    SELECT s.factory_id, s.assessments, s.latest_assessment_id AS newest, r.report_date, r.cycle,
        s.country, f.name
    FROM "{SCHEMA}".factory_summary s
    JOIN "{SCHEMA}".report r ON r.assessment_id = s.latest_assessment_id
    LEFT JOIN "{SCHEMA}".factory f ON f.factory_id = s.factory_id
    WHERE s.assessments >= :minimum
      AND (CAST(:after AS text) IS NULL OR s.factory_id > :after)
      AND (CAST(:country AS text) IS NULL OR s.country = :country)
    ORDER BY s.factory_id
    LIMIT :limit
    """
)
_CRITICAL_SQL = text(
    f"""
    SELECT rr.assessment_id, rr.question_id, rr.compliance_point_id, rr.result,
        fi.question_text
    FROM "{SCHEMA}".report_result rr
    LEFT JOIN "{SCHEMA}".finding fi
        ON fi.assessment_id = rr.assessment_id AND fi.question_id = rr.question_id
    WHERE rr.assessment_id = ANY(:assessment_ids) AND rr.critical
    ORDER BY rr.assessment_id, rr.question_id
    """
)
_RESPONSES_SQL = text(
    f"""
    SELECT assessment_id, question_id, text, at FROM "{SCHEMA}".finding_note
    WHERE assessment_id = ANY(:assessment_ids) AND kind = 'response'
    ORDER BY assessment_id, stream_version, event_id
    """
)


async def published_factories(
    connection: AsyncConnection, *, country: str | None, after: str | None, limit: int
) -> list[Row]:
    rows = [
        row._asdict()
        for row in await connection.execute(
            _PUBLISHED_SQL,
            {
                "minimum": transparency.MIN_ASSESSMENTS_PUBLISHED,
                "after": after,
                "country": country,
                "limit": limit + 1,
            },
        )
    ]
    ids = [row["newest"] for row in rows]
    critical: dict[str, list[Row]] = {assessment_id: [] for assessment_id in ids}
    responses: dict[str, list[Row]] = {assessment_id: [] for assessment_id in ids}
    if ids:
        for row in await connection.execute(_CRITICAL_SQL, {"assessment_ids": ids}):
            critical[row.assessment_id].append(
                {
                    "question_id": row.question_id,
                    "compliance_point_id": row.compliance_point_id,
                    "question_text": row.question_text,
                    "compliant": row.result != "non_compliant",
                    "result": row.result,
                }
            )
        for row in await connection.execute(_RESPONSES_SQL, {"assessment_ids": ids}):
            responses[row.assessment_id].append(
                {"question_id": row.question_id, "text": row.text, "responded_at": row.at}
            )
    return [
        {
            "factory_id": row["factory_id"],
            "name": row["name"],
            "country": row["country"],
            "completed_assessments": row["assessments"],
            "report": {
                "assessment_id": row["newest"],
                "cycle": row["cycle"],
                "report_date": row["report_date"],
            },
            "critical_issues": critical[row["newest"]],
            "factory_responses": responses[row["newest"]],
        }
        for row in rows
    ]


_COMPLETED_SQL = text(
    f"""
    SELECT r.factory_id, coalesce(f.country, r.country) AS country, r.assessment_id, r.cycle,
        r.report_date, r.compliant, r.answered
    FROM "{SCHEMA}".report r
    LEFT JOIN "{SCHEMA}".factory f ON f.factory_id = r.factory_id
    """
)


async def completed_reports(connection: AsyncConnection) -> list[transparency.CompletedReport]:
    return [
        transparency.CompletedReport(
            factory_id=row.factory_id,
            country=row.country,
            assessment_id=row.assessment_id,
            cycle=row.cycle,
            report_date=row.report_date,
            compliant=row.compliant,
            answered=row.answered,
        )
        for row in await connection.execute(_COMPLETED_SQL)
    ]


_RATES_SQL = text(
    f"""
    SELECT r.country, {{key}} AS id,
        count(*) FILTER (WHERE rr.result = 'non_compliant') AS non_compliant,
        count(*) FILTER (WHERE rr.result IN ('compliant', 'non_compliant')) AS answered,
        count(DISTINCT r.assessment_id) AS assessments
    FROM "{SCHEMA}".report r
    JOIN "{SCHEMA}".report_result rr ON rr.assessment_id = r.assessment_id
    WHERE r.report_date >= :start AND r.report_date < :end
      AND (CAST(:country AS text) IS NULL OR r.country = :country)
    GROUP BY r.country, {{key}}
    ORDER BY r.country, {{key}}
    """
)


async def yearly_rates(
    connection: AsyncConnection, *, year: int, country: str | None
) -> dict[str, list[Row]]:
    """Calendar-year non-compliance rates per country, per cluster and per compliance point."""
    params = {"start": date(year, 1, 1), "end": date(year + 1, 1, 1), "country": country}
    shaped: dict[str, list[Row]] = {}
    for name, column in (
        ("clusters", "rr.cluster_id"),
        ("compliance_points", "rr.compliance_point_id"),
    ):
        statement = text(_RATES_SQL.text.replace("{key}", column))
        shaped[name] = [
            {
                "country": row.country,
                "id": row.id,
                "assessments": row.assessments,
                "answered": row.answered,
                "non_compliant": row.non_compliant,
                "rate": round(row.non_compliant / row.answered, 6) if row.answered else 0.0,
            }
            for row in await connection.execute(statement, params)
            if row.id is not None
        ]
    return shaped
