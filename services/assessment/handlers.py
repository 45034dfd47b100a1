"""Command handlers of the assessment service: `async def verb(command, deps)`. Each hands a pure
decision to the aggregate repository (libs.events.repository), which loads the aggregate,
authorizes, checks If-Match, decides, appends and projects in one unit of work. The registry of
handlers is at the end; app.py reads it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from libs.domain.aggregate import Change, Loaded
from libs.domain.envelope import DomainEvent
from libs.events.repository import Project, Repository, Store
from services.assessment.commands import (
    CompleteAssessment,
    CorrectFinding,
    RecordFinding,
    RecordFindings,
    RegisterFactory,
    RespondToFinding,
    ScheduleAssessment,
    UpdateFactory,
)
from services.assessment.compliance_catalogue import Catalogue, CatalogueLibrary
from services.assessment.domain import assessment as rules
from services.assessment.domain import factory as factories
from services.assessment.domain.assessment_state import ASSESSMENT, Assessment
from services.assessment.domain.factory import FACTORY, Factory, FactoryDetails
from services.assessment.errors import (
    InvalidCommand,
    InvalidFactory,
    NotFoundError,
    OsIdTaken,
    StateConflict,
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Lookups(Protocol):
    """What commands ask the read models, inside their own unit of work (queries.ReadModelLookups;
    a fake in handler unit tests)."""

    async def os_id_owner(self, unit: Any, os_id: str) -> str | None: ...

    async def last_cycle(self, unit: Any, factory_id: str) -> int: ...


# committed assessment states each process keeps (an assessment's state is tens of kB)
STATES_CACHED = 256

ReadAnswer = Callable[[Any, str], Awaitable[Any]]
"""Reads an assessment's answer (the assessment with its findings) in a unit of work."""


@dataclass
class Dependencies:
    """What the handlers need; the composition root builds it once (`make_dependencies`)."""

    factories: Repository[Factory | None, Any]
    assessments: Repository[Assessment | None, Any]
    catalogues: CatalogueLibrary
    lookups: Lookups
    clock: Callable[[], datetime] = field(default=_utcnow)
    # The answer of a command on an assessment, read in the command's own transaction (the
    # change's `answer`); None where there are no read models (handler unit tests).
    assessment_answer: ReadAnswer | None = None

    def pinned_catalogue(self, assessment: Assessment) -> Catalogue:
        catalogue = self.catalogues.resolve(assessment.catalogue_version, assessment.country)
        if catalogue is None:  # a catalogue version is never removed once assessments pin it
            raise RuntimeError(f"catalogue {assessment.catalogue_version} is missing")
        return catalogue


def _factory_of(_assessment_id: str, assessment: Assessment | None) -> str:
    """An assessment's events are about its factory (the CloudEvents subject)."""
    assert assessment is not None
    return assessment.factory_id


def make_dependencies(
    store: Store[Any],
    catalogues: CatalogueLibrary,
    lookups: Lookups,
    *,
    project_factory: Project[Any, Factory | None] | None = None,
    project_assessment: Project[Any, Assessment | None] | None = None,
    assessment_answer: ReadAnswer | None = None,
    clock: Callable[[], datetime] = _utcnow,
) -> Dependencies:
    return Dependencies(
        factories=Repository(store, FACTORY, project=project_factory),
        # an assessment on site takes a finding after another: each command starts from the
        # state the last one committed (libs/events/repository.py) instead of its snapshot
        assessments=Repository(
            store,
            ASSESSMENT,
            subject_of=_factory_of,
            project=project_assessment,
            cache=STATES_CACHED,
        ),
        catalogues=catalogues,
        lookups=lookups,
        clock=clock,
        assessment_answer=assessment_answer,
    )


def _must_exist(kind: str, aggregate_id: str) -> Callable[[Loaded[Any]], None]:
    def authorize(loaded: Loaded[Any]) -> None:
        if loaded.state is None:
            raise NotFoundError(f"{kind} {aggregate_id} does not exist")

    return authorize


def _unique_violation(error: IntegrityError, constraint: str) -> bool:
    return constraint in str(error.orig)


# --- factories -------------------------------------------------------------------------------


async def _refuse_taken_os_id(deps: Dependencies, unit: Any, os_id: str | None, owner: str) -> None:
    """A friendly early answer; the unique index decides when two registrations race."""
    if os_id is None:
        return
    current_owner = await deps.lookups.os_id_owner(unit, os_id)
    if current_owner is not None and current_owner != owner:
        raise OsIdTaken(os_id)


async def register_factory(command: RegisterFactory, deps: Dependencies) -> Change[Factory | None]:
    os_id = command.details.os_id
    try:
        async with deps.factories.store.unit_of_work(authorize_first=True) as unit:

            async def decide(factory: Factory | None) -> Sequence[DomainEvent]:
                await _refuse_taken_os_id(deps, unit, os_id, command.factory_id)
                return factories.register_factory(factory, command.factory_id, command.details)

            return await deps.factories.execute(command.factory_id, decide, unit=unit)
    except IntegrityError as error:
        if os_id and _unique_violation(error, "uq_factory_os_id"):
            raise OsIdTaken(os_id) from error
        raise


async def update_factory(command: UpdateFactory, deps: Dependencies) -> Change[Factory | None]:
    os_id: str | None = None
    try:
        async with deps.factories.store.unit_of_work(authorize_first=True) as unit:

            async def decide(factory: Factory | None) -> Sequence[DomainEvent]:
                nonlocal os_id
                assert factory is not None  # authorized: it exists
                try:
                    details = FactoryDetails.model_validate(
                        {**factory.details(), **command.changes}
                    )
                except ValidationError as error:
                    raise InvalidFactory(_validation_message(error)) from error
                os_id = details.os_id
                await _refuse_taken_os_id(deps, unit, os_id, command.factory_id)
                return factories.update_factory(factory, details)

            return await deps.factories.execute(
                command.factory_id,
                decide,
                expected_version=command.expected_version,
                authorize=_must_exist("factory", command.factory_id),
                unit=unit,
            )
    except IntegrityError as error:
        if os_id and _unique_violation(error, "uq_factory_os_id"):
            raise OsIdTaken(os_id) from error
        raise


def _validation_message(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}"
        for problem in error.errors()
    )


# --- assessments -----------------------------------------------------------------------------


async def schedule_assessment(
    command: ScheduleAssessment, deps: Dependencies
) -> Change[Assessment | None]:
    version = command.catalogue_version or deps.catalogues.latest_version
    try:
        async with deps.assessments.store.unit_of_work(authorize_first=True) as unit:
            factory = (await deps.factories.load(unit, command.factory_id)).state
            if factory is None:
                raise NotFoundError(f"factory {command.factory_id} does not exist")
            catalogue = deps.catalogues.resolve(version, factory.country)
            if catalogue is None:
                raise InvalidCommand(
                    f"catalogue version {version} does not exist",
                    available_versions=deps.catalogues.versions,
                )

            async def decide(assessment: Assessment | None) -> Sequence[DomainEvent]:
                assert factory is not None and catalogue is not None
                previous_cycle = await deps.lookups.last_cycle(unit, command.factory_id)
                return rules.schedule_assessment(
                    assessment,
                    assessment_id=command.assessment_id,
                    factory=factory,
                    cycle=previous_cycle + 1,
                    scheduled_for=command.scheduled_for,
                    assessors=command.assessors,
                    catalogue=catalogue,
                )

            return await deps.assessments.execute(command.assessment_id, decide, unit=unit)
    except IntegrityError as error:
        if _unique_violation(error, "uq_assessment_factory_id_cycle"):
            raise StateConflict(
                "another assessment of this factory was scheduled at the same time; retry"
            ) from error
        raise


Decision = Callable[[Assessment, Catalogue], Sequence[DomainEvent]]


async def _decide_on(
    deps: Dependencies,
    assessment_id: str,
    decision: Decision,
    *,
    expected_version: int | None,
    authorize: Callable[[Loaded[Assessment | None]], None] | None = None,
) -> Change[Assessment | None]:
    """Run a decision on an existing assessment with the catalogue it pins; the change's
    `answer` is the assessment as the command left it, read in the same transaction."""

    def decide(assessment: Assessment | None) -> Sequence[DomainEvent]:
        assert assessment is not None  # authorized: it exists
        return decision(assessment, deps.pinned_catalogue(assessment))

    read_answer = deps.assessment_answer

    async def answer(unit: Any, _change: Change[Assessment | None]) -> Any:
        assert read_answer is not None
        return await read_answer(unit, assessment_id)

    return await deps.assessments.execute(
        assessment_id,
        decide,
        expected_version=expected_version,
        authorize=authorize or _must_exist("assessment", assessment_id),
        answer=answer if read_answer is not None else None,
    )


async def record_finding(command: RecordFinding, deps: Dependencies) -> Change[Assessment | None]:
    return await _decide_on(
        deps,
        command.assessment_id,
        lambda assessment, catalogue: rules.record_finding(
            assessment,
            catalogue,
            question_id=command.question_id,
            facts=command.facts,
            recorded_by=command.recorded_by,
        ),
        expected_version=command.expected_version,
    )


async def record_findings(command: RecordFindings, deps: Dependencies) -> Change[Assessment | None]:
    return await _decide_on(
        deps,
        command.assessment_id,
        lambda assessment, catalogue: rules.record_findings(
            assessment, catalogue, findings=command.findings, recorded_by=command.recorded_by
        ),
        expected_version=command.expected_version,
    )


async def complete_assessment(
    command: CompleteAssessment, deps: Dependencies
) -> Change[Assessment | None]:
    report_date = deps.clock().date()
    return await _decide_on(
        deps,
        command.assessment_id,
        lambda assessment, catalogue: rules.complete_assessment(
            assessment, catalogue, completed_by=command.completed_by, report_date=report_date
        ),
        expected_version=command.expected_version,
    )


async def correct_finding(command: CorrectFinding, deps: Dependencies) -> Change[Assessment | None]:
    return await _decide_on(
        deps,
        command.assessment_id,
        lambda assessment, catalogue: rules.correct_finding(
            assessment,
            catalogue,
            question_id=command.question_id,
            facts=command.facts,
            corrected_by=command.corrected_by,
            reason=command.reason,
        ),
        expected_version=command.expected_version,
    )


def _visible_to_factory(
    assessment_id: str, factory_id: str
) -> Callable[[Loaded[Assessment | None]], None]:
    """A factory user learns nothing about other factories' assessments, nor about its own
    before the report exists (assessments are unannounced): all of them are 'not found'."""

    def authorize(loaded: Loaded[Assessment | None]) -> None:
        assessment = loaded.state
        if assessment is None or assessment.factory_id != factory_id or not assessment.completed:
            raise NotFoundError(f"assessment {assessment_id} does not exist")

    return authorize


async def respond_to_finding(
    command: RespondToFinding, deps: Dependencies
) -> Change[Assessment | None]:
    return await _decide_on(
        deps,
        command.assessment_id,
        lambda assessment, _catalogue: rules.respond_to_finding(
            assessment,
            question_id=command.question_id,
            responded_by=command.responded_by,
            text=command.text,
            dispute_reason=command.dispute_reason,
        ),
        expected_version=command.expected_version,
        authorize=_visible_to_factory(command.assessment_id, command.factory_id),
    )


Handler = Callable[[Any, Dependencies], Awaitable[Change[Any]]]

COMMAND_HANDLERS: dict[type, Handler] = {
    RegisterFactory: register_factory,
    UpdateFactory: update_factory,
    ScheduleAssessment: schedule_assessment,
    RecordFinding: record_finding,
    RecordFindings: record_findings,
    CompleteAssessment: complete_assessment,
    CorrectFinding: correct_finding,
    RespondToFinding: respond_to_finding,
}
