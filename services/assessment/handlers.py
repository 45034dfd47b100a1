"""Async command handlers: load the aggregate's stream, let the domain decide, append the events
with the expected version and update the read models, all in one unit of work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from libs.events import DomainEvent, EventStore, RecordedEvent, UnitOfWork
from services.assessment import domain
from services.assessment.commands import (
    CompleteAssessment,
    CorrectFinding,
    RecordFinding,
    RegisterFactory,
    RespondToFinding,
    ScheduleAssessment,
    UpdateFactory,
)
from services.assessment.compliance_catalogue import Catalogue, CatalogueLibrary
from services.assessment.projections import Projector, assessment, factory

FACTORY_STREAM_PREFIX = "factory-"
ASSESSMENT_STREAM_PREFIX = "assessment-"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Dependencies:
    """What the handlers need; the composition root builds it once."""

    store: EventStore
    catalogues: CatalogueLibrary
    clock: Callable[[], datetime] = field(default=_utcnow)

    def pinned_catalogue(self, assessment_: domain.Assessment) -> Catalogue:
        catalogue = self.catalogues.resolve(assessment_.catalogue_version, assessment_.country)
        if catalogue is None:  # a catalogue version is never removed once assessments pin it
            raise RuntimeError(f"catalogue {assessment_.catalogue_version} is missing")
        return catalogue


def factory_stream(factory_id: str) -> str:
    return FACTORY_STREAM_PREFIX + factory_id


def assessment_stream(assessment_id: str) -> str:
    return ASSESSMENT_STREAM_PREFIX + assessment_id


def _check_expected(expected: int | None, actual: int) -> None:
    if expected is not None and expected != actual:
        raise domain.VersionMismatch(expected, actual)


def _unique_violation(error: IntegrityError, constraint: str) -> bool:
    return constraint in str(error.orig)


async def _append_and_project(
    uow: UnitOfWork,
    deps: Dependencies,
    *,
    stream_id: str,
    stream_type: str,
    expected_version: int,
    events: Sequence[DomainEvent],
    subject: str,
    catalogue: Catalogue | None = None,
) -> int:
    await uow.append(
        stream_id,
        stream_type=stream_type,
        expected_version=expected_version,
        events=events,
        subject=subject,
    )
    new_version = expected_version + len(events)
    projector = Projector(uow.connection, catalogue=catalogue, recorded_at=deps.clock())
    await projector.apply(events, new_version)
    return new_version


# --- factories -------------------------------------------------------------------------------


async def _load_factory(uow: UnitOfWork, factory_id: str) -> domain.Factory:
    recorded = await uow.load(factory_stream(factory_id))
    loaded = domain.fold_factory(event.event for event in recorded)
    if loaded is None:
        raise domain.NotFoundError(f"factory {factory_id} does not exist")
    return loaded


async def _refuse_taken_os_id(uow: UnitOfWork, os_id: str | None, factory_id: str) -> None:
    """A friendly early answer; the unique index decides when two registrations race."""
    if os_id is None:
        return
    owner = await uow.connection.scalar(
        select(factory.c.factory_id).where(factory.c.os_id == os_id)
    )
    if owner is not None and owner != factory_id:
        raise domain.OsIdTaken(os_id)


async def register_factory(command: RegisterFactory, deps: Dependencies) -> domain.Factory:
    event = domain.register_factory(command.factory_id, command.details)
    try:
        async with deps.store.unit_of_work() as uow:
            await _refuse_taken_os_id(uow, command.details.os_id, command.factory_id)
            version = await _append_and_project(
                uow,
                deps,
                stream_id=factory_stream(command.factory_id),
                stream_type=domain.FACTORY_STREAM,
                expected_version=0,
                events=[event],
                subject=command.factory_id,
            )
    except IntegrityError as error:
        if command.details.os_id and _unique_violation(error, "uq_factory_os_id"):
            raise domain.OsIdTaken(command.details.os_id) from error
        raise
    return domain.Factory(command.factory_id, command.details, version)


async def update_factory(command: UpdateFactory, deps: Dependencies) -> domain.Factory:
    os_id: str | None = None
    try:
        async with deps.store.unit_of_work() as uow:
            current = await _load_factory(uow, command.factory_id)
            _check_expected(command.expected_version, current.version)
            try:
                details = domain.FactoryDetails.model_validate(
                    {**current.details.model_dump(), **command.changes}
                )
            except ValidationError as error:
                raise domain.InvalidFactory(_validation_message(error)) from error
            os_id = details.os_id
            await _refuse_taken_os_id(uow, details.os_id, command.factory_id)
            events = domain.update_factory(current, details)
            version = current.version
            if events:
                version = await _append_and_project(
                    uow,
                    deps,
                    stream_id=factory_stream(command.factory_id),
                    stream_type=domain.FACTORY_STREAM,
                    expected_version=current.version,
                    events=events,
                    subject=command.factory_id,
                )
    except IntegrityError as error:
        if os_id and _unique_violation(error, "uq_factory_os_id"):
            raise domain.OsIdTaken(os_id) from error
        raise
    return domain.Factory(command.factory_id, details, version)


def _validation_message(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}"
        for problem in error.errors()
    )


# --- assessments -----------------------------------------------------------------------------


async def _load_assessment(
    uow: UnitOfWork, assessment_id: str, *, visible_to_factory: str | None = None
) -> domain.Assessment:
    return _visible(
        await uow.load(assessment_stream(assessment_id)), assessment_id, visible_to_factory
    )


def _visible(
    recorded: Sequence[RecordedEvent], assessment_id: str, visible_to_factory: str | None
) -> domain.Assessment:
    loaded = domain.fold_assessment(event.event for event in recorded)
    # A factory user learns nothing about other factories' assessments, nor about its own
    # before the report exists (assessments are unannounced).
    if loaded is None or (
        visible_to_factory is not None
        and (loaded.factory_id != visible_to_factory or not loaded.completed)
    ):
        raise domain.NotFoundError(f"assessment {assessment_id} does not exist")
    return loaded


async def schedule_assessment(command: ScheduleAssessment, deps: Dependencies) -> str:
    version = command.catalogue_version or deps.catalogues.latest_version
    try:
        async with deps.store.unit_of_work() as uow:
            factory_ = await _load_factory(uow, command.factory_id)
            catalogue = deps.catalogues.resolve(version, factory_.details.country)
            if catalogue is None:
                raise domain.InvalidCommand(
                    f"catalogue version {version} does not exist",
                    available_versions=deps.catalogues.versions,
                )
            previous_cycle = await uow.connection.scalar(
                select(func.coalesce(func.max(assessment.c.cycle), 0)).where(
                    assessment.c.factory_id == command.factory_id
                )
            )
            event = domain.schedule_assessment(
                assessment_id=command.assessment_id,
                factory=factory_,
                cycle=int(previous_cycle or 0) + 1,
                scheduled_for=command.scheduled_for,
                assessors=command.assessors,
                catalogue=catalogue,
            )
            await _append_and_project(
                uow,
                deps,
                stream_id=assessment_stream(command.assessment_id),
                stream_type=domain.ASSESSMENT_STREAM,
                expected_version=0,
                events=[event],
                subject=command.factory_id,
                catalogue=catalogue,
            )
    except IntegrityError as error:
        if _unique_violation(error, "uq_assessment_factory_id_cycle"):
            raise domain.StateConflict(
                "another assessment of this factory was scheduled at the same time; retry"
            ) from error
        raise
    return command.assessment_id


Decision = Callable[[domain.Assessment, Catalogue], list[DomainEvent]]


async def _decide_on_assessment(
    deps: Dependencies,
    assessment_id: str,
    expected_version: int | None,
    decide: Decision,
    *,
    visible_to_factory: str | None = None,
) -> int:
    if visible_to_factory is not None:
        # Authorization before the unit of work: a retried request (Idempotency-Key) is replayed
        # when its unit of work opens, so a caller who may not see the assessment is refused first.
        _visible(
            await deps.store.load(assessment_stream(assessment_id)),
            assessment_id,
            visible_to_factory,
        )
    async with deps.store.unit_of_work() as uow:
        current = await _load_assessment(uow, assessment_id, visible_to_factory=visible_to_factory)
        _check_expected(expected_version, current.version)
        catalogue = deps.pinned_catalogue(current)
        events = decide(current, catalogue)
        return await _append_and_project(
            uow,
            deps,
            stream_id=assessment_stream(assessment_id),
            stream_type=domain.ASSESSMENT_STREAM,
            expected_version=current.version,
            events=events,
            subject=current.factory_id,
            catalogue=catalogue,
        )


async def record_finding(command: RecordFinding, deps: Dependencies) -> int:
    return await _decide_on_assessment(
        deps,
        command.assessment_id,
        command.expected_version,
        lambda current, catalogue: domain.record_finding(
            current,
            catalogue,
            question_id=command.question_id,
            facts=command.facts,
            recorded_by=command.recorded_by,
        ),
    )


async def complete_assessment(command: CompleteAssessment, deps: Dependencies) -> int:
    report_date = deps.clock().date()
    return await _decide_on_assessment(
        deps,
        command.assessment_id,
        command.expected_version,
        lambda current, catalogue: domain.complete_assessment(
            current, catalogue, completed_by=command.completed_by, report_date=report_date
        ),
    )


async def correct_finding(command: CorrectFinding, deps: Dependencies) -> int:
    return await _decide_on_assessment(
        deps,
        command.assessment_id,
        command.expected_version,
        lambda current, catalogue: domain.correct_finding(
            current,
            catalogue,
            question_id=command.question_id,
            facts=command.facts,
            corrected_by=command.corrected_by,
            reason=command.reason,
        ),
    )


async def respond_to_finding(command: RespondToFinding, deps: Dependencies) -> int:
    return await _decide_on_assessment(
        deps,
        command.assessment_id,
        command.expected_version,
        lambda current, _catalogue: domain.respond_to_finding(
            current,
            question_id=command.question_id,
            responded_by=command.responded_by,
            text=command.text,
            dispute_reason=command.dispute_reason,
        ),
        visible_to_factory=command.factory_id,
    )


Handler = Callable[[Any, Dependencies], Awaitable[Any]]

HANDLERS: dict[type, Handler] = {
    RegisterFactory: register_factory,
    UpdateFactory: update_factory,
    ScheduleAssessment: schedule_assessment,
    RecordFinding: record_finding,
    CompleteAssessment: complete_assessment,
    CorrectFinding: correct_finding,
    RespondToFinding: respond_to_finding,
}
