"""Reads of assessments for the API: one, a page of them, one with its findings (also a command's
answer, on the driver connection), its findings and the factory's responses, and its event history."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import DateTime, String, cast, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.store import driver_connection
from services.assessment.tables import assessment, event_store_tables, finding, finding_response


def assessment_view(row: RowMapping) -> dict[str, Any]:
    return {
        "assessment_id": row["assessment_id"],
        "factory_id": row["factory_id"],
        "cycle": row["cycle"],
        "country": row["country"],
        "catalogue_version": row["catalogue_version"],
        "scheduled_for": row["scheduled_for"],
        "assessors": row["assessors"],
        "status": row["status"],
        "report_date": row["report_date"],
        "completed_by": row["completed_by"],
        "summary": row["summary"],
        "version": row["version"],
    }


async def get_assessment(connection: AsyncConnection, assessment_id: str) -> RowMapping | None:
    result = await connection.execute(
        select(assessment).where(assessment.c.assessment_id == assessment_id)
    )
    return result.mappings().first()


_FINDING_COLUMNS = tuple(
    column.name for column in finding.columns if column.name != "assessment_id"
)
_ASSESSMENT_COLUMNS = (
    "assessment_id",
    "factory_id",
    "cycle",
    "country",
    "catalogue_version",
    "scheduled_for",
    "assessors",
    "status",
    "report_date",
    "completed_by",
    "summary",
    "version",
)
_JSON_COLUMNS = {"assessors", "summary", "evidence_refs"}


def _column(table: str, name: str) -> str:
    return f"{table}.{name}::text AS {name}" if name in _JSON_COLUMNS else f"{table}.{name}"


# Every command on an assessment answers with it: one prepared statement (one round trip) on the
# driver connection instead of two SQLAlchemy selects compiled and run through its layers.
_DETAIL_SQL = f"""
SELECT {", ".join(_column("a", name) for name in _ASSESSMENT_COLUMNS)},
       {", ".join(_column("f", name) for name in _FINDING_COLUMNS)}
FROM {assessment.fullname} AS a
LEFT JOIN {finding.fullname} AS f ON f.assessment_id = a.assessment_id
WHERE a.assessment_id = $1
ORDER BY f.question_id
"""


def _decoded(name: str, value: Any) -> Any:
    return json.loads(value) if name in _JSON_COLUMNS and value is not None else value


async def assessment_detail(
    connection: AsyncConnection, assessment_id: str
) -> dict[str, Any] | None:
    """The assessment with its findings (`AssessmentDetail`), None if it does not exist."""
    driver = await driver_connection(connection)
    rows = await driver.fetch(_DETAIL_SQL, assessment_id)
    if not rows:
        return None
    first = rows[0]
    detail = {name: _decoded(name, first[name]) for name in _ASSESSMENT_COLUMNS}
    detail["findings"] = [
        {name: _decoded(name, row[name]) for name in _FINDING_COLUMNS}
        for row in rows
        if row["question_id"] is not None
    ]
    return detail


async def list_assessments(
    connection: AsyncConnection,
    *,
    factory_id: str | None,
    status: str | None,
    countries: frozenset[str] | None,
    after: str | None,
    limit: int,
) -> list[RowMapping]:
    query = select(assessment).order_by(assessment.c.assessment_id).limit(limit)
    if factory_id is not None:
        query = query.where(assessment.c.factory_id == factory_id)
    if status is not None:
        query = query.where(assessment.c.status == status)
    if countries is not None:  # a staff member's country programmes
        query = query.where(assessment.c.country.in_(sorted(countries)))
    if after is not None:
        query = query.where(assessment.c.assessment_id > after)
    return list((await connection.execute(query)).mappings().all())


async def findings_of(connection: AsyncConnection, assessment_id: str) -> list[dict[str, Any]]:
    rows = (
        await connection.execute(
            select(finding)
            .where(finding.c.assessment_id == assessment_id)
            .order_by(finding.c.question_id)
        )
    ).mappings()
    return [
        {
            "question_id": row["question_id"],
            "cluster_id": row["cluster_id"],
            "compliance_point_id": row["compliance_point_id"],
            "critical": row["critical"],
            "zero_tolerance": row["zero_tolerance"],
            "result": row["result"],
            "evidence": row["evidence"],
            "evidence_refs": row["evidence_refs"],
            "recorded_by": row["recorded_by"],
            "recorded_at": row["recorded_at"],
            "corrected": row["corrected"],
        }
        for row in rows
    ]


async def responses_of(
    connection: AsyncConnection, assessment_id: str
) -> dict[str, list[dict[str, Any]]]:
    rows = (
        await connection.execute(
            select(finding_response)
            .where(finding_response.c.assessment_id == assessment_id)
            .order_by(finding_response.c.response_id)
        )
    ).mappings()
    by_question: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_question[row["question_id"]].append(
            {
                "kind": row["kind"],
                "text": row["text"],
                "reason": row["reason"],
                "responded_by": row["responded_by"],
                "responded_at": row["responded_at"],
            }
        )
    return by_question


async def history_page(
    connection: AsyncConnection, stream_id: str, after_version: int, limit: int
) -> list[RowMapping]:
    """Up to `limit` stored events of a stream after `after_version`, in order, data as JSON text
    (decoded by the caller through the event registry, as the store does), with their business
    time and, for an imported fact, its bundle."""
    event = event_store_tables["event"].c
    query = (
        select(
            event.version,
            cast(event.event_id, String).label("event_id"),
            event.event_type,
            cast(event.data, String).label("data"),
            event.metadata["actor"].astext.label("actor"),
            event.recorded_at,
            # business time: the metadata holds it when it is not the recording time
            func.coalesce(
                cast(event.metadata["occurred_at"].astext, DateTime(timezone=True)),
                event.recorded_at,
            ).label("occurred_at"),
            event.metadata[("imported", "bundle")].astext.label("imported_from"),
        )
        .where(event.stream_id == stream_id, event.version > after_version)
        .order_by(event.version)
        .limit(limit)
    )
    return list((await connection.execute(query)).mappings().all())
