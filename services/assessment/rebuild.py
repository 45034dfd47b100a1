"""`python -m services.assessment rebuild`: factories, assessments, findings and responses rebuilt
from the service's own event store. Each stream is read once (libs/events/history.py) and its rows
worked out in memory as the live projections (projections.py) write them, then written in batches
by binary COPY while the history is read ahead on a second connection, in one transaction that
readers see only once it has committed.

Times are business times (`RecordedEvent.occurred_at`: when the fact happened; for a live command
when it was recorded), as the live projections write them. Each append is projected with the
stream's version after the append; every business-time step of these streams holds a projected
event, so a row's version is its stream's last version and its `updated_at` the time of the
stream's last event. The history import (imports/) writes its rows with these same functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.domain.envelope import DomainEvent, EventRegistry
from libs.events.history import Progress, copy_rows, read_ahead, streams
from libs.servicekit.service import RebuildContext
from services.assessment.compliance_catalogue import CatalogueLibrary, load_library
from services.assessment.credentials.rows import credential_row, status_bits
from services.assessment.domain.assessment_events import (
    AssessmentCompleted,
    AssessmentScheduled,
    FactoryResponded,
    FindingCorrected,
    FindingDisputed,
    FindingRecorded,
    ReportCredentialIssued,
)
from services.assessment.domain.assessment_state import ASSESSMENT
from services.assessment.domain.factory import FACTORY, FactoryRegistered, FactoryUpdated
from services.assessment.projections import BUMP_ALL, factory_columns
from services.assessment.settings import AssessmentSettings
from services.assessment.tables import (
    SCHEMA,
    assessment,
    assessment_point,
    credential,
    factory,
    finding,
    finding_response,
)

# rows kept before a COPY: bounds memory, keeps round trips few
FLUSH_ROWS = 2_000


class Fact(Protocol):
    """An event of a stream with its version and business time: a stored event
    (`libs.events.store.RecordedEvent`) or one an import has just appended."""

    @property
    def event(self) -> DomainEvent: ...

    @property
    def version(self) -> int: ...

    @property
    def occurred_at(self) -> datetime: ...


@dataclass(frozen=True)
class RebuildReport:
    events: int
    factories: int
    assessments: int
    findings: int
    responses: int

    def summary(self) -> str:
        return (
            f"{self.factories} factories, {self.assessments} assessments, "
            f"{self.findings} findings, {self.responses} responses"
        )


async def rebuild(context: RebuildContext[AssessmentSettings]) -> RebuildReport:
    """`python -m services.assessment rebuild` (the service definition's `rebuild`): with the
    catalogues the service runs with, which say each finding's cluster and point."""
    catalogues = load_library(context.settings.catalogue_directory)

    def progress(done: int, total: int) -> None:
        context.progress("events", done, total)

    return await rebuild_read_models(
        context.engine, context.registry, catalogues, progress=progress
    )


def factory_row(history: Sequence[Fact]) -> dict[str, Any] | None:
    row: dict[str, Any] | None = None
    for entry in history:
        event = entry.event
        if isinstance(event, FactoryRegistered | FactoryUpdated):
            registered_at = row["registered_at"] if row is not None else entry.occurred_at
            row = {**factory_columns(event), "registered_at": registered_at}
    if row is not None:
        row["version"] = history[-1].version
        row["updated_at"] = history[-1].occurred_at
    return row


@dataclass
class AssessmentRows:
    assessment: dict[str, Any] | None
    findings: list[dict[str, Any]]
    responses: list[dict[str, Any]]
    points: list[dict[str, Any]]
    credentials: list[dict[str, Any]] = field(default_factory=list)


def assessment_rows(history: Sequence[Fact], catalogues: CatalogueLibrary) -> AssessmentRows:
    row: dict[str, Any] | None = None
    findings: dict[str, dict[str, Any]] = {}
    responses: list[dict[str, Any]] = []
    credentials: dict[str, dict[str, Any]] = {}
    catalogue = None
    for entry in history:
        event, at = entry.event, entry.occurred_at
        if isinstance(event, AssessmentScheduled):
            catalogue = catalogues.resolve(event.catalogue_version, event.country)
            row = {
                "assessment_id": event.assessment_id,
                "factory_id": event.factory_id,
                "cycle": event.cycle,
                "country": event.country,
                "catalogue_version": event.catalogue_version,
                "scheduled_for": event.scheduled_for,
                "assessors": list(event.assessors),
                "status": "scheduled",
                "report_date": None,
                "completed_by": None,
                "summary": None,
                "scheduled_at": at,
            }
        elif isinstance(event, FindingRecorded):
            assert catalogue is not None
            question = catalogue.question(event.question_id)
            assert question is not None  # the domain refused unknown questions
            previous = findings.get(event.question_id)
            findings[event.question_id] = {
                "assessment_id": event.assessment_id,
                "question_id": event.question_id,
                "cluster_id": question.cluster.id,
                "compliance_point_id": question.point.id,
                "critical": question.question.critical,
                "zero_tolerance": question.question.zero_tolerance,
                **_facts(event.result, event.evidence, event.evidence_refs, event.recorded_by, at),
                # a re-recording leaves the flag as it was (the live upsert does not set it)
                "corrected": previous["corrected"] if previous is not None else False,
            }
        elif isinstance(event, FindingCorrected):
            corrected = findings.get(event.question_id)
            if corrected is not None:
                after = event.after
                corrected.update(
                    _facts(
                        after.result, after.evidence, after.evidence_refs, event.corrected_by, at
                    ),
                    corrected=True,
                )
        elif isinstance(event, AssessmentCompleted) and row is not None:
            row.update(
                status="completed",
                report_date=event.report_date,
                completed_by=event.completed_by,
                summary=[summary.model_dump(mode="json") for summary in event.summary],
            )
        elif isinstance(event, ReportCredentialIssued):
            credentials[event.credential_id] = credential_row(event)
            if event.supersedes in credentials:
                credentials[event.supersedes]["superseded_by"] = event.credential_id
        elif isinstance(event, FactoryResponded | FindingDisputed):
            disputed = isinstance(event, FindingDisputed)
            responses.append(
                {
                    "assessment_id": event.assessment_id,
                    "question_id": event.question_id,
                    "kind": "dispute" if disputed else "response",
                    "text": event.text,
                    "reason": event.reason if isinstance(event, FindingDisputed) else None,
                    "responded_by": event.responded_by,
                    "responded_at": at,
                }
            )
    if row is not None:
        row["version"] = history[-1].version
        row["updated_at"] = history[-1].occurred_at
    rows = list(findings.values())
    return AssessmentRows(row, rows, responses, points_of(row, rows), list(credentials.values()))


def points_of(row: dict[str, Any] | None, findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A completed assessment's synthesis rows, as projections.refresh_assessment_points writes
    them: per compliance point with a finding, the findings answered (not "not applicable") and
    the non-compliant ones."""
    if row is None or row["status"] != "completed":
        return []
    points: dict[tuple[str, str], dict[str, Any]] = {}
    for found in findings:
        key = (found["cluster_id"], found["compliance_point_id"])
        point = points.get(key)
        if point is None:
            point = points[key] = {
                "assessment_id": row["assessment_id"],
                "cluster_id": key[0],
                "compliance_point_id": key[1],
                "factory_id": row["factory_id"],
                "country": row["country"],
                "report_date": row["report_date"],
                "findings": 0,
                "non_compliant": 0,
            }
        if found["result"] != "not_applicable":
            point["findings"] += 1
        if found["result"] == "non_compliant":
            point["non_compliant"] += 1
    return list(points.values())


def _facts(
    result: str, evidence: str, refs: tuple[str, ...], by: str, at: datetime
) -> dict[str, Any]:
    return {
        "result": result,
        "evidence": evidence,
        "evidence_refs": list(refs),
        "recorded_by": by,
        "recorded_at": at,
    }


async def rebuild_read_models(
    engine: AsyncEngine,
    registry: EventRegistry,
    catalogues: CatalogueLibrary,
    *,
    progress: Progress | None = None,
) -> RebuildReport:
    """Replace the read models with what the whole history gives. Commands that write them wait
    for the rebuild to commit (the tables are locked against writers, not readers)."""
    pending: dict[Any, list[dict[str, Any]]] = {
        table: []
        for table in (factory, assessment, finding, finding_response, assessment_point, credential)
    }
    tables = tuple(pending)
    counts = dict.fromkeys(pending, 0)
    events = 0
    async with engine.begin() as connection, engine.connect() as reader:
        names = ", ".join(f"{SCHEMA}.{table.name}" for table in tables)
        await connection.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
        for table in reversed(tables):
            await connection.execute(delete(table))

        async def flush(force: bool = False) -> None:
            for table, rows in pending.items():  # in order: factories before their assessments
                if rows and (force or len(rows) >= FLUSH_ROWS):
                    await copy_rows(connection, table, rows)
                    counts[table] += len(rows)
                    rows.clear()

        # the history is read on its own connection, ahead, while this one writes; its one
        # statement starts after the lock, so it sees every event committed before the rebuild
        history = streams(reader, SCHEMA, registry, progress=progress)
        async for stream in read_ahead(history):
            events += len(stream.events)
            if stream.stream_id.startswith(FACTORY.stream_prefix):
                row = factory_row(stream.events)
                if row is not None:
                    pending[factory].append(row)
            elif stream.stream_id.startswith(ASSESSMENT.stream_prefix):
                rows = assessment_rows(stream.events, catalogues)
                if rows.assessment is not None:
                    pending[assessment].append(rows.assessment)
                pending[finding].extend(rows.findings)
                pending[finding_response].extend(rows.responses)
                pending[assessment_point].extend(rows.points)
                pending[credential].extend(rows.credentials)
            await flush()
        await flush(force=True)
        await connection.execute(BUMP_ALL)  # every process's kept synthesis is out of date
        await status_bits(connection)  # the superseded credentials' bits, as the rows say
    return RebuildReport(
        events, counts[factory], counts[assessment], counts[finding], counts[finding_response]
    )
