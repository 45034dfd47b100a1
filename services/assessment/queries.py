"""The read side: factories, assessments and the reports built from the read models, and the
read-model lookups commands make inside their unit of work (`ReadModelLookups`)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import String, and_, cast, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.store import UnitOfWork, driver_connection
from services.assessment.compliance_catalogue import Catalogue, CatalogueLibrary
from services.assessment.tables import (
    assessment,
    assessment_point,
    event_store_tables,
    factory,
    finding,
    finding_response,
)
from services.assessment.tables import synthesis_version as synthesis_version_table


class ReadModelLookups:
    """What the command handlers ask the read models, in the command's own transaction (see
    `handlers.Lookups`; handler unit tests pass a fake)."""

    async def os_id_owner(self, unit: UnitOfWork, os_id: str) -> str | None:
        owner = await unit.connection.scalar(
            select(factory.c.factory_id).where(factory.c.os_id == os_id)
        )
        return str(owner) if owner is not None else None

    async def assessment_detail(
        self, unit: UnitOfWork, assessment_id: str
    ) -> dict[str, Any] | None:
        """The assessment with its findings, as a command on it left them (its answer)."""
        return await assessment_detail(unit.connection, assessment_id)

    async def last_cycle(self, unit: UnitOfWork, factory_id: str) -> int:
        cycle = await unit.connection.scalar(
            select(func.coalesce(func.max(assessment.c.cycle), 0)).where(
                assessment.c.factory_id == factory_id
            )
        )
        return int(cycle or 0)


def factory_view(row: RowMapping) -> dict[str, Any]:
    return {
        "factory_id": row["factory_id"],
        "name": row["name"],
        "country": row["country"],
        "address": row["address"],
        "sector_isic": row["sector_isic"],
        "workforce": {"women": row["workforce_women"], "men": row["workforce_men"]},
        "os_id": row["os_id"],
        "version": row["version"],
        "registered_at": row["registered_at"],
        "updated_at": row["updated_at"],
    }


async def get_factory(connection: AsyncConnection, factory_id: str) -> RowMapping | None:
    result = await connection.execute(select(factory).where(factory.c.factory_id == factory_id))
    return result.mappings().first()


async def list_factories(
    connection: AsyncConnection,
    *,
    country: str | None,
    only_factory: str | None,
    after: str | None,
    limit: int,
) -> list[RowMapping]:
    query = select(factory).order_by(factory.c.factory_id).limit(limit)
    if country is not None:
        query = query.where(factory.c.country == country)
    if only_factory is not None:
        query = query.where(factory.c.factory_id == only_factory)
    if after is not None:
        query = query.where(factory.c.factory_id > after)
    return list((await connection.execute(query)).mappings().all())


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
    after: str | None,
    limit: int,
) -> list[RowMapping]:
    query = select(assessment).order_by(assessment.c.assessment_id).limit(limit)
    if factory_id is not None:
        query = query.where(assessment.c.factory_id == factory_id)
    if status is not None:
        query = query.where(assessment.c.status == status)
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


def _rate(non_compliant: int, applicable: int) -> float:
    return round(non_compliant / applicable, 4) if applicable else 0.0


async def assessment_report(
    connection: AsyncConnection, row: RowMapping, catalogue: Catalogue
) -> dict[str, Any]:
    """Findings by cluster and compliance point with rates, critical issues first, and the
    factory's responses. Rates are recomputed from the current findings, so corrections show."""
    findings = {
        item["question_id"]: item for item in await findings_of(connection, row["assessment_id"])
    }
    responses = await responses_of(connection, row["assessment_id"])
    clusters = []
    critical_issues = []
    for cluster in catalogue.clusters:
        points = []
        cluster_applicable = cluster_non_compliant = 0
        for point in cluster.points:
            entries = []
            for question in point.questions:
                found = findings.get(question.id)
                if found is None:
                    continue
                entry = {
                    "question_id": question.id,
                    "question_text": question.text,
                    "critical": question.critical,
                    "zero_tolerance": question.zero_tolerance,
                    "result": found["result"],
                    "evidence": found["evidence"],
                    "evidence_refs": found["evidence_refs"],
                    "corrected": found["corrected"],
                    "responses": responses.get(question.id, []),
                }
                entries.append(entry)
                if found["result"] != "not_applicable":
                    cluster_applicable += 1
                if found["result"] == "non_compliant":
                    cluster_non_compliant += 1
                    if question.critical:
                        critical_issues.append(
                            {**entry, "cluster_id": cluster.id, "compliance_point_id": point.id}
                        )
            # critical questions first within each point
            entries.sort(key=lambda item: not item["critical"])
            points.append(
                {"compliance_point_id": point.id, "name": point.name, "findings": entries}
            )
        clusters.append(
            {
                "cluster_id": cluster.id,
                "name": cluster.name,
                "questions": cluster_applicable,
                "non_compliant": cluster_non_compliant,
                "rate": _rate(cluster_non_compliant, cluster_applicable),
                "compliance_points": points,
            }
        )
    return {
        **assessment_view(row),
        "critical_issues": critical_issues,
        "clusters": clusters,
    }


async def compliance_trend(connection: AsyncConnection, factory_id: str) -> list[dict[str, Any]]:
    """Completed assessments by cycle with per-cluster counts and the change since the last cycle."""
    per_cluster = (
        await connection.execute(
            select(
                assessment.c.assessment_id,
                assessment.c.cycle,
                assessment.c.report_date,
                finding.c.cluster_id,
                func.count().filter(finding.c.result != "not_applicable").label("questions"),
                func.count().filter(finding.c.result == "non_compliant").label("non_compliant"),
            )
            .join(finding, finding.c.assessment_id == assessment.c.assessment_id)
            .where(assessment.c.factory_id == factory_id, assessment.c.status == "completed")
            .group_by(
                assessment.c.assessment_id,
                assessment.c.cycle,
                assessment.c.report_date,
                finding.c.cluster_id,
            )
            .order_by(assessment.c.cycle, finding.c.cluster_id)
        )
    ).mappings()
    cycles: dict[int, dict[str, Any]] = {}
    for row in per_cluster:
        entry = cycles.setdefault(
            row["cycle"],
            {
                "assessment_id": row["assessment_id"],
                "cycle": row["cycle"],
                "report_date": row["report_date"],
                "clusters": {},
            },
        )
        entry["clusters"][row["cluster_id"]] = {
            "questions": row["questions"],
            "non_compliant": row["non_compliant"],
            "rate": _rate(row["non_compliant"], row["questions"]),
        }
    trend: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for cycle in sorted(cycles):
        entry = cycles[cycle]
        total_questions = sum(c["questions"] for c in entry["clusters"].values())
        total_non_compliant = sum(c["non_compliant"] for c in entry["clusters"].values())
        entry["non_compliant"] = total_non_compliant
        entry["rate"] = _rate(total_non_compliant, total_questions)
        if previous is None:
            entry["change"] = None
        else:
            entry["change"] = {
                "non_compliant": total_non_compliant - previous["non_compliant"],
                "rate": round(entry["rate"] - previous["rate"], 4),
                "clusters": {
                    cluster_id: {
                        "non_compliant": values["non_compliant"]
                        - previous["clusters"].get(cluster_id, {}).get("non_compliant", 0),
                        "rate": round(
                            values["rate"]
                            - previous["clusters"].get(cluster_id, {}).get("rate", 0.0),
                            4,
                        ),
                    }
                    for cluster_id, values in entry["clusters"].items()
                },
            }
        entry["clusters"] = [
            {"cluster_id": cluster_id, **values} for cluster_id, values in entry["clusters"].items()
        ]
        trend.append(entry)
        previous = {**entry, "clusters": {c["cluster_id"]: c for c in entry["clusters"]}}
    return trend


class SynthesisCache:
    """The yearly syntheses this process computed, by country and year, each with the country's
    synthesis version it was computed at: valid while the version has not moved. The version is
    read before the synthesis, so an entry is never older than its version."""

    LIMIT = 512

    def __init__(self) -> None:
        self._entries: dict[tuple[str, int], tuple[int, dict[str, Any]]] = {}

    def get(self, country: str, year: int, version: int) -> dict[str, Any] | None:
        entry = self._entries.get((country, year))
        return entry[1] if entry is not None and entry[0] == version else None

    def put(self, country: str, year: int, version: int, synthesis: dict[str, Any]) -> None:
        if len(self._entries) >= self.LIMIT:
            self._entries.clear()
        self._entries[(country, year)] = (version, synthesis)


async def synthesis_version(connection: AsyncConnection, country: str) -> int:
    """The country's synthesis version (0 before its first completed assessment)."""
    version = await connection.scalar(
        select(synthesis_version_table.c.version).where(
            synthesis_version_table.c.country == country
        )
    )
    return int(version or 0)


async def yearly_synthesis(
    connection: AsyncConnection, library: CatalogueLibrary, *, country: str, year: int
) -> dict[str, Any]:
    """Per cluster and compliance point, across the factories of a country assessed in a year:
    how many factories were non-compliant on it (the programme's published rate), and findings."""
    # assessment_point holds completed assessments only, one row per compliance point
    point = assessment_point.c
    in_year = and_(
        point.country == country,
        point.report_date >= date(year, 1, 1),
        point.report_date <= date(year, 12, 31),
    )
    per_point = (
        await connection.execute(
            select(
                point.cluster_id,
                point.compliance_point_id,
                func.count(func.distinct(point.factory_id)).label("factories_assessed"),
                func.count(func.distinct(point.factory_id))
                .filter(point.non_compliant > 0)
                .label("factories_non_compliant"),
                func.sum(point.findings).label("findings"),
                func.sum(point.non_compliant).label("non_compliant"),
            )
            .where(in_year)
            .group_by(point.cluster_id, point.compliance_point_id)
            .order_by(point.cluster_id, point.compliance_point_id)
        )
    ).mappings()
    assessments_count = await connection.scalar(
        select(func.count())
        .select_from(assessment)
        .where(
            assessment.c.status == "completed",
            assessment.c.country == country,
            assessment.c.report_date >= date(year, 1, 1),
            assessment.c.report_date <= date(year, 12, 31),
        )
    )
    names = _point_names(library)
    clusters: dict[str, dict[str, Any]] = {}
    for row in per_point:
        cluster_name, point_name = names.get(row["compliance_point_id"], (None, None))
        cluster = clusters.setdefault(
            row["cluster_id"],
            {
                "cluster_id": row["cluster_id"],
                "name": cluster_name,
                "findings": 0,
                "non_compliant": 0,
                "compliance_points": [],
            },
        )
        cluster["findings"] += row["findings"]
        cluster["non_compliant"] += row["non_compliant"]
        cluster["compliance_points"].append(
            {
                "compliance_point_id": row["compliance_point_id"],
                "name": point_name,
                "factories_assessed": row["factories_assessed"],
                "factories_non_compliant": row["factories_non_compliant"],
                "factory_rate": _rate(row["factories_non_compliant"], row["factories_assessed"]),
                "findings": row["findings"],
                "non_compliant": row["non_compliant"],
                "rate": _rate(row["non_compliant"], row["findings"]),
            }
        )
    for cluster in clusters.values():
        cluster["rate"] = _rate(cluster["non_compliant"], cluster["findings"])
    return {
        "country": country,
        "year": year,
        "assessments": int(assessments_count or 0),
        "clusters": list(clusters.values()),
    }


def _point_names(library: CatalogueLibrary) -> dict[str, tuple[str, str]]:
    names: dict[str, tuple[str, str]] = {}
    for catalogue in library.catalogues.values():
        for cluster in catalogue.clusters:
            for point in cluster.points:
                names[point.id] = (cluster.name, point.name)
    return names


async def history_page(
    connection: AsyncConnection, stream_id: str, after_version: int, limit: int
) -> list[RowMapping]:
    """Up to `limit` stored events of a stream after `after_version`, in order, data as JSON text
    (decoded by the caller through the event registry, as the store does)."""
    event = event_store_tables["event"].c
    query = (
        select(
            event.version,
            cast(event.event_id, String).label("event_id"),
            event.event_type,
            cast(event.data, String).label("data"),
            event.metadata["actor"].astext.label("actor"),
            event.recorded_at,
        )
        .where(event.stream_id == stream_id, event.version > after_version)
        .order_by(event.version)
        .limit(limit)
    )
    return list((await connection.execute(query)).mappings().all())
