"""Read models fed by the assessment service's events: `project_<event>` functions, run by the
aggregate repository in the unit of work that appends the events (so a client reads its own
writes). Their times are business times (the envelope's `time`: when the fact happened; for a
live command, when it was recorded)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.aggregate import Change
from libs.domain.envelope import DomainEvent
from libs.events.store import UnitOfWork, driver_connection
from services.assessment.compliance_catalogue import Catalogue, CatalogueLibrary
from services.assessment.credentials.rows import credential_row
from services.assessment.credentials.status import mark_superseded
from services.assessment.domain.assessment_events import (
    AssessmentCompleted,
    AssessmentScheduled,
    FactoryResponded,
    FindingCorrected,
    FindingDisputed,
    FindingRecorded,
    ReportCredentialIssued,
)
from services.assessment.domain.assessment_state import Assessment
from services.assessment.domain.factory import Factory, FactoryRegistered, FactoryUpdated
from services.assessment.tables import (
    SCHEMA,
    assessment,
    assessment_point,
    credential,
    factory,
    finding,
    finding_response,
)


@dataclass(frozen=True)
class Projection:
    """What a `project_<event>` function works with: the unit's connection, the aggregate's
    version after the whole change (the read model shows the stream's version), the event's
    business time, and the catalogue the assessment pins."""

    connection: AsyncConnection
    version: int
    occurred_at: datetime
    catalogue: Catalogue | None = None


async def project_factory(unit: UnitOfWork, change: Change[Factory | None]) -> None:
    await _apply(Projection(unit.connection, change.version, _occurred_at(change)), change)


def assessment_projector(
    catalogues: CatalogueLibrary,
) -> Callable[[UnitOfWork, Change[Assessment | None]], Awaitable[None]]:
    """The assessment repository's projection; findings take their cluster and point from the
    catalogue the assessment pins."""

    async def project_assessment(unit: UnitOfWork, change: Change[Assessment | None]) -> None:
        state = change.state
        assert state is not None  # every assessment event follows its AssessmentScheduled
        catalogue = catalogues.resolve(state.catalogue_version, state.country)
        projection = Projection(unit.connection, change.version, _occurred_at(change), catalogue)
        await _apply(projection, change)

    return project_assessment


def _occurred_at(change: Change[Any]) -> datetime:
    """Business time of the change's first event."""
    return change.envelopes[0].time


async def _apply(projection: Projection, change: Change[Any]) -> None:
    recorded = [event for event in change.events if isinstance(event, FindingRecorded)]
    if len(recorded) > 1:  # many findings at once (the bulk command): one statement for them all
        await project_findings_recorded(projection, recorded)
    for event, envelope in zip(change.events, change.envelopes, strict=True):
        if len(recorded) > 1 and isinstance(event, FindingRecorded):
            continue
        project = _PROJECTIONS.get(type(event))
        if project is not None:
            # a change's events may have happened on different days (not a live command's)
            at = envelope.time
            await project(
                projection if at == projection.occurred_at else replace(projection, occurred_at=at),
                event,
            )


async def project_factory_registered(projection: Projection, event: DomainEvent) -> None:
    assert isinstance(event, FactoryRegistered)
    await projection.connection.execute(
        insert(factory).values(
            **factory_columns(event),
            version=projection.version,
            registered_at=projection.occurred_at,
            updated_at=projection.occurred_at,
        )
    )


async def project_factory_updated(projection: Projection, event: DomainEvent) -> None:
    assert isinstance(event, FactoryUpdated)
    await projection.connection.execute(
        update(factory)
        .where(factory.c.factory_id == event.factory_id)
        .values(
            **factory_columns(event),
            version=projection.version,
            updated_at=projection.occurred_at,
        )
    )


def factory_columns(event: FactoryRegistered | FactoryUpdated) -> dict[str, Any]:
    return {
        "factory_id": event.factory_id,
        "name": event.name,
        "country": event.country,
        "address": event.address,
        "sector_isic": event.sector_isic,
        "workforce_women": event.workforce.women,
        "workforce_men": event.workforce.men,
        "os_id": event.os_id,
    }


async def project_assessment_scheduled(projection: Projection, event: DomainEvent) -> None:
    assert isinstance(event, AssessmentScheduled)
    await projection.connection.execute(
        insert(assessment).values(
            assessment_id=event.assessment_id,
            factory_id=event.factory_id,
            cycle=event.cycle,
            country=event.country,
            catalogue_version=event.catalogue_version,
            scheduled_for=event.scheduled_for,
            assessors=list(event.assessors),
            status="scheduled",
            version=projection.version,
            scheduled_at=projection.occurred_at,
            updated_at=projection.occurred_at,
        )
    )


async def _touch_assessment(projection: Projection, assessment_id: str) -> None:
    await projection.connection.execute(
        update(assessment)
        .where(assessment.c.assessment_id == assessment_id)
        .values(version=projection.version, updated_at=projection.occurred_at)
    )


def _finding_row(projection: Projection, event: FindingRecorded) -> dict[str, Any]:
    assert projection.catalogue is not None
    entry = projection.catalogue.question(event.question_id)
    assert entry is not None  # the domain refused unknown questions
    return {
        "assessment_id": event.assessment_id,
        "question_id": event.question_id,
        "cluster_id": entry.cluster.id,
        "compliance_point_id": entry.point.id,
        "critical": entry.question.critical,
        "zero_tolerance": entry.question.zero_tolerance,
        "result": event.result,
        "evidence": event.evidence,
        "evidence_refs": list(event.evidence_refs),
        "recorded_by": event.recorded_by,
        "recorded_at": projection.occurred_at,
    }


async def _upsert_findings(projection: Projection, rows: list[dict[str, Any]]) -> None:
    statement = insert(finding).values(rows)
    await projection.connection.execute(
        statement.on_conflict_do_update(
            index_elements=[finding.c.assessment_id, finding.c.question_id],
            set_={
                name: statement.excluded[name]
                for name in ("result", "evidence", "evidence_refs", "recorded_by", "recorded_at")
            },
        )
    )


# every column of a finding's row but the correction flag (a re-recording leaves it as it was)
_RECORDED_COLUMNS = tuple(column.name for column in finding.columns if column.name != "corrected")
_REPLACED_ON_CONFLICT = ("result", "evidence", "evidence_refs", "recorded_by", "recorded_at")
# The command on site (one finding at a time): the finding's row and the assessment's version in
# one prepared statement on the driver connection (one round trip, nothing compiled per request).
_FINDING_RECORDED_SQL = f"""
WITH upserted AS (
    INSERT INTO {finding.fullname} ({", ".join(_RECORDED_COLUMNS)})
    VALUES ({
    ", ".join(
        f"${index}::jsonb" if name == "evidence_refs" else f"${index}"
        for index, name in enumerate(_RECORDED_COLUMNS, start=1)
    )
})
    ON CONFLICT (assessment_id, question_id) DO UPDATE SET
        {", ".join(f"{name} = excluded.{name}" for name in _REPLACED_ON_CONFLICT)}
    RETURNING 1
)
UPDATE {assessment.fullname}
SET version = ${len(_RECORDED_COLUMNS) + 1}, updated_at = ${len(_RECORDED_COLUMNS) + 2}
WHERE assessment_id = $1
"""


async def project_finding_recorded(projection: Projection, event: DomainEvent) -> None:
    assert isinstance(event, FindingRecorded)
    row = _finding_row(projection, event)
    row["evidence_refs"] = json.dumps(row["evidence_refs"])
    driver = await driver_connection(projection.connection)
    await driver.execute(
        _FINDING_RECORDED_SQL,
        *(row[name] for name in _RECORDED_COLUMNS),
        projection.version,
        projection.occurred_at,
    )


async def project_findings_recorded(projection: Projection, events: list[FindingRecorded]) -> None:
    """Findings recorded by one command, as one multi-row upsert (the latest of a question wins,
    as it would one statement at a time)."""
    rows = {event.question_id: _finding_row(projection, event) for event in events}
    await _upsert_findings(projection, list(rows.values()))
    await _touch_assessment(projection, events[-1].assessment_id)


# A completed assessment's rows of `assessment_point`, from its findings (all completed
# assessments' when no id is bound: the rebuild).
_POINTS_SQL = f"""
    INSERT INTO {SCHEMA}.assessment_point
        (assessment_id, cluster_id, compliance_point_id, factory_id, country, report_date,
         findings, non_compliant)
    SELECT a.assessment_id, f.cluster_id, f.compliance_point_id, a.factory_id, a.country,
           a.report_date,
           count(*) FILTER (WHERE f.result <> 'not_applicable'),
           count(*) FILTER (WHERE f.result = 'non_compliant')
    FROM {SCHEMA}.assessment a JOIN {SCHEMA}.finding f ON f.assessment_id = a.assessment_id
    WHERE a.status = 'completed' {{only}}
    GROUP BY a.assessment_id, f.cluster_id, f.compliance_point_id
    """
_POINTS_OF_ONE = text(_POINTS_SQL.format(only="AND a.assessment_id = :assessment_id"))


# The synthesis's version of the countries whose rows a transaction changed: strictly up, from
# the clock when it is ahead (so a version never comes back, whatever was cached before).
_BUMP_SQL = f"""
    INSERT INTO {SCHEMA}.synthesis_version AS v (country, version)
    SELECT country, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
    FROM (SELECT DISTINCT country FROM {SCHEMA}.assessment {{only}}) AS changed
    ON CONFLICT (country) DO UPDATE SET version = greatest(v.version + 1, excluded.version)
    """
_BUMP_ONE = text(_BUMP_SQL.format(only="WHERE assessment_id = :assessment_id"))
BUMP_ALL = text(_BUMP_SQL.format(only=""))
# the countries given (`:countries`, a list): the history import's
BUMP_COUNTRIES = text(_BUMP_SQL.format(only="WHERE country = ANY(:countries)"))


async def refresh_assessment_points(connection: AsyncConnection, assessment_id: str) -> None:
    """The synthesis rows of a completed assessment, set-based from its findings; its country's
    synthesis version moves in the same transaction."""
    await connection.execute(
        delete(assessment_point).where(assessment_point.c.assessment_id == assessment_id)
    )
    await connection.execute(_POINTS_OF_ONE, {"assessment_id": assessment_id})
    await connection.execute(_BUMP_ONE, {"assessment_id": assessment_id})


async def project_finding_corrected(projection: Projection, event: DomainEvent) -> None:
    assert isinstance(event, FindingCorrected)
    await projection.connection.execute(
        update(finding)
        .where(
            finding.c.assessment_id == event.assessment_id,
            finding.c.question_id == event.question_id,
        )
        .values(
            result=event.after.result,
            evidence=event.after.evidence,
            evidence_refs=list(event.after.evidence_refs),
            recorded_by=event.corrected_by,
            recorded_at=projection.occurred_at,
            corrected=True,
        )
    )
    await _touch_assessment(projection, event.assessment_id)
    await refresh_assessment_points(projection.connection, event.assessment_id)


async def project_assessment_completed(projection: Projection, event: DomainEvent) -> None:
    assert isinstance(event, AssessmentCompleted)
    await projection.connection.execute(
        update(assessment)
        .where(assessment.c.assessment_id == event.assessment_id)
        .values(
            status="completed",
            report_date=event.report_date,
            completed_by=event.completed_by,
            summary=[summary.model_dump(mode="json") for summary in event.summary],
            version=projection.version,
            updated_at=projection.occurred_at,
        )
    )
    await refresh_assessment_points(projection.connection, event.assessment_id)


async def project_factory_response(projection: Projection, event: DomainEvent) -> None:
    assert isinstance(event, FactoryResponded | FindingDisputed)
    await projection.connection.execute(
        insert(finding_response).values(
            assessment_id=event.assessment_id,
            question_id=event.question_id,
            kind="dispute" if isinstance(event, FindingDisputed) else "response",
            text=event.text,
            reason=event.reason if isinstance(event, FindingDisputed) else None,
            responded_by=event.responded_by,
            responded_at=projection.occurred_at,
        )
    )
    await _touch_assessment(projection, event.assessment_id)


async def project_credential_issued(projection: Projection, event: DomainEvent) -> None:
    """The credential's row; the one it supersedes marked, and its bit set in its status list."""
    assert isinstance(event, ReportCredentialIssued)
    connection = projection.connection
    await connection.execute(insert(credential).values(**credential_row(event)))
    if event.supersedes is not None:
        superseded = (
            await connection.execute(
                update(credential)
                .where(credential.c.credential_id == event.supersedes)
                .values(superseded_by=event.credential_id)
                .returning(credential.c.status_list, credential.c.status_list_index)
            )
        ).one()
        await mark_superseded(
            connection, superseded.status_list, superseded.status_list_index, event.issued_at
        )
    await _touch_assessment(projection, event.assessment_id)


_Project = Callable[[Projection, DomainEvent], Awaitable[None]]

# Events not listed (ZeroToleranceIssueFound, NonComplianceFound) change no read model here; the
# version they advance is written by the event that accompanies them (the change's last version).
_PROJECTIONS: dict[type[DomainEvent], _Project] = {
    FactoryRegistered: project_factory_registered,
    FactoryUpdated: project_factory_updated,
    AssessmentScheduled: project_assessment_scheduled,
    FindingRecorded: project_finding_recorded,
    FindingCorrected: project_finding_corrected,
    AssessmentCompleted: project_assessment_completed,
    FactoryResponded: project_factory_response,
    FindingDisputed: project_factory_response,
    ReportCredentialIssued: project_credential_issued,
}
