"""Read models of the assessment service, updated inline in the unit of work that appends the
events (so a client reads its own writes), plus the `project_<event>` functions that feed them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events import DomainEvent
from libs.events.tables import NAMING_CONVENTION, define_event_store_tables
from libs.servicekit.idempotency import define_idempotency_table
from services.assessment.compliance_catalogue import Catalogue
from services.assessment.domain import (
    AssessmentCompleted,
    AssessmentScheduled,
    FactoryRegistered,
    FactoryResponded,
    FactoryUpdated,
    FindingCorrected,
    FindingDisputed,
    FindingRecorded,
)

SCHEMA = "assessment"

metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)
event_store_tables = define_event_store_tables(metadata)
idempotency_key = define_idempotency_table(metadata)

factory = Table(
    "factory",
    metadata,
    Column("factory_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("country", String(2), nullable=False),
    Column("address", String(500), nullable=False),
    Column("sector_isic", String(4), nullable=False),
    Column("workforce_women", Integer, nullable=False),
    Column("workforce_men", Integer, nullable=False),
    # The unique index is what keeps an OS ID on one factory when two registrations race.
    Column("os_id", String(15), nullable=True, unique=True),
    Column("version", Integer, nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(None, "country", "factory_id"),
)

assessment = Table(
    "assessment",
    metadata,
    Column("assessment_id", String(64), primary_key=True),
    Column("factory_id", String(64), nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("country", String(2), nullable=False),
    Column("catalogue_version", String(20), nullable=False),
    Column("scheduled_for", Date, nullable=False),
    Column("assessors", JSONB, nullable=False),
    Column("status", String(20), nullable=False),
    Column("version", Integer, nullable=False),
    Column("report_date", Date, nullable=True),
    Column("completed_by", String(200), nullable=True),
    Column("summary", JSONB, nullable=True),
    Column("scheduled_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # One assessment per cycle: two schedulings racing for the same cycle cannot both commit.
    UniqueConstraint("factory_id", "cycle"),
    Index(None, "status", "report_date"),
)

finding = Table(
    "finding",
    metadata,
    Column("assessment_id", String(64), nullable=False),
    Column("question_id", String(20), nullable=False),
    Column("cluster_id", String(3), nullable=False),
    Column("compliance_point_id", String(7), nullable=False),
    Column("critical", Boolean, nullable=False),
    Column("zero_tolerance", Boolean, nullable=False),
    Column("result", String(20), nullable=False),
    Column("evidence", Text, nullable=False),
    Column("evidence_refs", JSONB, nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("corrected", Boolean, nullable=False, server_default="false"),
    PrimaryKeyConstraint("assessment_id", "question_id"),
)

finding_response = Table(
    "finding_response",
    metadata,
    Column("response_id", Integer, Identity(always=True), primary_key=True),
    Column("assessment_id", String(64), nullable=False),
    Column("question_id", String(20), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("text", Text, nullable=False),
    Column("reason", Text, nullable=True),
    Column("responded_by", String(200), nullable=False),
    Column("responded_at", DateTime(timezone=True), nullable=False),
    Index(None, "assessment_id", "question_id"),
)


class Projector:
    """Applies freshly appended events to the read models inside the caller's transaction."""

    def __init__(
        self, connection: AsyncConnection, *, catalogue: Catalogue | None, recorded_at: datetime
    ) -> None:
        self.connection = connection
        self.catalogue = catalogue
        self.recorded_at = recorded_at

    async def apply(self, events: Sequence[DomainEvent], stream_version: int) -> None:
        for event in events:
            handler = _PROJECTIONS.get(type(event))
            if handler is not None:
                await handler(self, event, stream_version)


async def project_factory_registered(
    projector: Projector, event: DomainEvent, version: int
) -> None:
    assert isinstance(event, FactoryRegistered)
    await projector.connection.execute(
        insert(factory).values(
            **_factory_columns(event),
            version=version,
            registered_at=projector.recorded_at,
            updated_at=projector.recorded_at,
        )
    )


async def project_factory_updated(projector: Projector, event: DomainEvent, version: int) -> None:
    assert isinstance(event, FactoryUpdated)
    await projector.connection.execute(
        update(factory)
        .where(factory.c.factory_id == event.factory_id)
        .values(**_factory_columns(event), version=version, updated_at=projector.recorded_at)
    )


def _factory_columns(event: FactoryRegistered | FactoryUpdated) -> dict[str, Any]:
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


async def project_assessment_scheduled(
    projector: Projector, event: DomainEvent, version: int
) -> None:
    assert isinstance(event, AssessmentScheduled)
    await projector.connection.execute(
        insert(assessment).values(
            assessment_id=event.assessment_id,
            factory_id=event.factory_id,
            cycle=event.cycle,
            country=event.country,
            catalogue_version=event.catalogue_version,
            scheduled_for=event.scheduled_for,
            assessors=list(event.assessors),
            status="scheduled",
            version=version,
            scheduled_at=projector.recorded_at,
            updated_at=projector.recorded_at,
        )
    )


async def _touch_assessment(projector: Projector, assessment_id: str, version: int) -> None:
    await projector.connection.execute(
        update(assessment)
        .where(assessment.c.assessment_id == assessment_id)
        .values(version=version, updated_at=projector.recorded_at)
    )


async def project_finding_recorded(projector: Projector, event: DomainEvent, version: int) -> None:
    assert isinstance(event, FindingRecorded)
    assert projector.catalogue is not None
    entry = projector.catalogue.question(event.question_id)
    assert entry is not None  # the domain refused unknown questions
    values = {
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
        "recorded_at": projector.recorded_at,
    }
    statement = insert(finding).values(**values)
    await projector.connection.execute(
        statement.on_conflict_do_update(
            index_elements=[finding.c.assessment_id, finding.c.question_id],
            set_={
                name: statement.excluded[name]
                for name in ("result", "evidence", "evidence_refs", "recorded_by", "recorded_at")
            },
        )
    )
    await _touch_assessment(projector, event.assessment_id, version)


async def project_finding_corrected(projector: Projector, event: DomainEvent, version: int) -> None:
    assert isinstance(event, FindingCorrected)
    await projector.connection.execute(
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
            recorded_at=projector.recorded_at,
            corrected=True,
        )
    )
    await _touch_assessment(projector, event.assessment_id, version)


async def project_assessment_completed(
    projector: Projector, event: DomainEvent, version: int
) -> None:
    assert isinstance(event, AssessmentCompleted)
    await projector.connection.execute(
        update(assessment)
        .where(assessment.c.assessment_id == event.assessment_id)
        .values(
            status="completed",
            report_date=event.report_date,
            completed_by=event.completed_by,
            summary=[summary.model_dump(mode="json") for summary in event.summary],
            version=version,
            updated_at=projector.recorded_at,
        )
    )


async def project_factory_response(projector: Projector, event: DomainEvent, version: int) -> None:
    assert isinstance(event, FactoryResponded | FindingDisputed)
    await projector.connection.execute(
        insert(finding_response).values(
            assessment_id=event.assessment_id,
            question_id=event.question_id,
            kind="dispute" if isinstance(event, FindingDisputed) else "response",
            text=event.text,
            reason=event.reason if isinstance(event, FindingDisputed) else None,
            responded_by=event.responded_by,
            responded_at=projector.recorded_at,
        )
    )
    await _touch_assessment(projector, event.assessment_id, version)


_Projection = Callable[[Projector, DomainEvent, int], Awaitable[None]]

# Events not listed (ZeroToleranceIssueFound, NonComplianceFound) change no read model here; the
# stream version is still advanced by the event that accompanies them.
_PROJECTIONS: dict[type[DomainEvent], _Projection] = {
    FactoryRegistered: project_factory_registered,
    FactoryUpdated: project_factory_updated,
    AssessmentScheduled: project_assessment_scheduled,
    FindingRecorded: project_finding_recorded,
    FindingCorrected: project_finding_corrected,
    AssessmentCompleted: project_assessment_completed,
    FactoryResponded: project_factory_response,
    FindingDisputed: project_factory_response,
}
