"""Read-side queries of the public transparency pages: the version of the read models they come
from (the in-process page cache's key), the published factories, the completed reports the
low-compliance rule reads, and the calendar-year rates."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.buyer_sharing.domain import transparency
from services.buyer_sharing.tables import SCHEMA, TRANSPARENCY, read_model_version

Row = dict[str, Any]


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
