"""Command handlers of the Assessment aggregate: `async def verb(command, deps)`, each handing a pure
decision (domain/assessment.py) with the catalogue the assessment pins to the aggregate repository,
which loads, authorizes, checks If-Match, decides, appends and projects in one unit of work. Staff
act only on assessments of their country programmes (the country an assessment pinned when it was
scheduled); any other is 'not found', as another tenant's."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from sqlalchemy.exc import IntegrityError

from libs.domain.aggregate import Change, Loaded
from libs.domain.envelope import DomainEvent
from libs.domain.errors import Conflict, DomainError, NotFound
from libs.events.store import UnitOfWork
from services.assessment.commands import (
    CompleteAssessment,
    CorrectFinding,
    RecordFinding,
    RecordFindings,
    RespondToFinding,
    ScheduleAssessment,
)
from services.assessment.compliance_catalogue import Catalogue
from services.assessment.credentials.issuing import Issuance, factory_named
from services.assessment.domain import assessment as rules
from services.assessment.domain.assessment_events import AssessmentCompleted, FindingCorrected
from services.assessment.domain.assessment_state import Assessment
from services.assessment.domain.credential import changes_report
from services.assessment.handlers.dependencies import Dependencies
from services.assessment.handlers.guards import must_exist_in, unique_violation

CYCLE_INDEX = "uq_assessment_factory_id_cycle"


async def schedule_assessment(
    command: ScheduleAssessment, deps: Dependencies
) -> Change[Assessment | None]:
    version = command.catalogue_version or deps.catalogues.latest_version
    try:
        async with deps.assessments.store.unit_of_work(authorize_first=True) as unit:
            factory = (await deps.factories.load(unit, command.factory_id)).state
            # another programme's factory is as unknown as one that does not exist
            if factory is None or not command.scope.covers(factory.country):
                raise NotFound(f"factory {command.factory_id} does not exist")
            catalogue = deps.catalogues.resolve(version, factory.country)
            if catalogue is None:
                raise DomainError(
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

            return await deps.assessments.execute(
                command.assessment_id,
                decide,
                unit=unit,
                answer=deps.assessment_answer(command.assessment_id),
            )
    except IntegrityError as error:
        if unique_violation(error, CYCLE_INDEX):
            raise Conflict(
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
    authorize: Callable[[Loaded[Assessment | None]], None],
    answered: bool = True,
    unit: UnitOfWork | None = None,
) -> Change[Assessment | None]:
    """Run a decision on an existing assessment with the catalogue it pins, once `authorize`
    let the caller at it; the change's `answer` is the assessment as the command left it, read in
    the same transaction (unless the command's caller is `answered` from the change alone). With
    `unit`, in the caller's unit of work."""

    def decide(assessment: Assessment | None) -> Sequence[DomainEvent]:
        assert assessment is not None  # authorized: it exists
        return decision(assessment, deps.pinned_catalogue(assessment))

    return await deps.assessments.execute(
        assessment_id,
        decide,
        expected_version=expected_version,
        authorize=authorize,
        answer=deps.assessment_answer(assessment_id) if answered else None,
        unit=unit,
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
        authorize=must_exist_in(command.scope, "assessment", command.assessment_id),
    )


async def record_findings(command: RecordFindings, deps: Dependencies) -> Change[Assessment | None]:
    return await _decide_on(
        deps,
        command.assessment_id,
        lambda assessment, catalogue: rules.record_findings(
            assessment, catalogue, findings=command.findings, recorded_by=command.recorded_by
        ),
        expected_version=command.expected_version,
        authorize=must_exist_in(command.scope, "assessment", command.assessment_id),
    )


def attested_version(change: Change[Assessment | None]) -> int | None:
    """The version of the event that made (or changed) the report, when the change did: its
    AssessmentCompleted, or a FindingCorrected that changes the report document."""
    for offset, event in enumerate(change.events, start=1):
        if isinstance(event, AssessmentCompleted) or (
            isinstance(event, FindingCorrected) and changes_report(event.before, event.after)
        ):
            return change.before.version + offset
    return None


async def _decide_and_issue(
    deps: Dependencies,
    assessment_id: str,
    decision: Decision,
    *,
    expected_version: int | None,
    authorize: Callable[[Loaded[Assessment | None]], None],
) -> Change[Assessment | None]:
    """A decision that may make or change the report, and, in the same transaction, the report's
    next credential (docs/credentials.md): appended after the decision's events, once their hash
    is stored, so the credential names the event it attests. The answer is the assessment after
    both."""
    issuer = deps.credentials
    if issuer is None:  # handler unit tests: no keys, no store of credentials
        return await _decide_on(
            deps, assessment_id, decision, expected_version=expected_version, authorize=authorize
        )
    async with deps.assessments.store.unit_of_work(authorize_first=True) as unit:
        change = await _decide_on(
            deps,
            assessment_id,
            decision,
            expected_version=expected_version,
            authorize=authorize,
            answered=False,
            unit=unit,
        )
        attested = attested_version(change)
        if attested is None:
            answer = deps.assessment_answer(assessment_id)
            if answer is None:
                return change
            return dataclasses.replace(change, answer=await answer(unit, change))

        async def issue(assessment: Assessment | None) -> Sequence[DomainEvent]:
            assert assessment is not None and attested is not None
            issuance = Issuance(
                assessment,
                deps.pinned_catalogue(assessment),
                deps.catalogues.effective_from(assessment.catalogue_version),
                await factory_named(unit.connection, assessment.factory_id),
                attested,
            )
            return await issuer.issue(unit.connection, [issuance], deps.clock())

        return await deps.assessments.execute(
            assessment_id, issue, unit=unit, answer=deps.assessment_answer(assessment_id)
        )


async def complete_assessment(
    command: CompleteAssessment, deps: Dependencies
) -> Change[Assessment | None]:
    report_date = deps.clock().date()
    return await _decide_and_issue(
        deps,
        command.assessment_id,
        lambda assessment, catalogue: rules.complete_assessment(
            assessment, catalogue, completed_by=command.completed_by, report_date=report_date
        ),
        expected_version=command.expected_version,
        authorize=must_exist_in(command.scope, "assessment", command.assessment_id),
    )


async def correct_finding(command: CorrectFinding, deps: Dependencies) -> Change[Assessment | None]:
    return await _decide_and_issue(
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
        authorize=must_exist_in(command.scope, "assessment", command.assessment_id),
    )


def _visible_to_factory(
    assessment_id: str, factory_id: str
) -> Callable[[Loaded[Assessment | None]], None]:
    """A factory user learns nothing about other factories' assessments, nor about its own
    before the report exists (assessments are unannounced): all of them are 'not found'."""

    def authorize(loaded: Loaded[Assessment | None]) -> None:
        assessment = loaded.state
        if assessment is None or assessment.factory_id != factory_id or not assessment.completed:
            raise NotFound(f"assessment {assessment_id} does not exist")

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
        # the factory is answered with what it sent and the assessment's new version
        answered=False,
    )
