"""A programme's past as the Factory and Assessment aggregates would have recorded it: each record
of the history bundle (libs/domain/history/assessment.py) decided by the aggregates' own rules,
step by step, each step on the day it happened. Pure: `imports/` appends the steps at their
business time and reports a record's rejections as row errors."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

from pydantic import ValidationError

from libs.domain.envelope import DomainEvent
from libs.domain.errors import DomainError
from libs.domain.history.assessment import AssessmentRecord, FactoryRecord, WorkforceYear
from libs.domain.types import TEXT_PATTERN
from services.assessment.compliance_catalogue import (
    Catalogue,
    CatalogueLibrary,
    NoCatalogueInForce,
)
from services.assessment.domain import assessment as rules
from services.assessment.domain.assessment_events import FindingFacts
from services.assessment.domain.assessment_state import Assessment, evolve
from services.assessment.domain.factory import (
    FACTORY,
    Factory,
    FactoryDetails,
    Workforce,
    register_factory,
    update_factory,
)

S = TypeVar("S")

# The bundle names no assessors; the live API requires some, so the history says so plainly.
IMPORTED_ASSESSORS = ("not recorded (imported history)",)
_SAFE_TEXT = re.compile(TEXT_PATTERN)


@dataclass(frozen=True)
class Rejection:
    """Why a record breaks a rule: the record's field and the reason."""

    field: str
    reason: str


class Rejected(Exception):
    """A record the aggregates refuse: nothing of it may be imported."""

    def __init__(self, rejections: Sequence[Rejection]) -> None:
        super().__init__("; ".join(f"{entry.field}: {entry.reason}" for entry in rejections))
        self.rejections = list(rejections)


def _reject(field: str, reason: str) -> Rejected:
    return Rejected([Rejection(field, reason)])


@dataclass(frozen=True)
class Step:
    """Events that happened on one day (their business time: that day)."""

    on: date
    events: tuple[DomainEvent, ...]


@dataclass(frozen=True)
class History(Generic[S]):
    """A record's steps in order, and the aggregate's state after the last."""

    steps: tuple[Step, ...]
    state: S

    @property
    def events(self) -> int:
        return sum(len(step.events) for step in self.steps)


def _not_after(day: date, today: date, field: str) -> None:
    if day > today:
        raise _reject(field, f"{day} is in the future: a history holds what happened")


def _unsafe(text: str) -> str | None:
    """Why `text` cannot be stored as the live API would store it (None: it can)."""
    if not _SAFE_TEXT.match(text):
        return "holds control characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "holds a lone surrogate"
    return None


# --- factories --------------------------------------------------------------------------------


def _details(record: FactoryRecord, workforce: WorkforceYear) -> FactoryDetails:
    """The registration details as the live API validates them (country code, ISIC, OS ID and
    its country)."""
    try:
        return FactoryDetails.model_validate(
            {
                "name": record.name,
                "country": record.country,
                "address": record.address,
                "sector_isic": record.sector_isic,
                "workforce": {"women": workforce.women, "men": workforce.men},
                "os_id": record.os_id,
            }
        )
    except ValidationError as error:
        rejections = []
        for problem in error.errors(include_url=False):
            location = problem["loc"]
            # the one rule on the whole model: the OS ID's country is the factory's
            field = str(location[0]) if location else "os_id"
            rejections.append(Rejection(field, problem["msg"]))
        raise Rejected(rejections) from None


def factory_history(record: FactoryRecord, *, factory_id: str, today: date) -> History[Factory]:
    """Registered on `registered_on` with the workforce of that year (the latest given up to
    it), then one update on 1 January of each later year whose workforce differs, so a reader
    knows the workforce in force on any day."""
    _not_after(record.registered_on, today, "registered_on")
    for index, entry in enumerate(record.workforce):
        _not_after(date(entry.year, 1, 1), today, f"workforce.{index}.year")
    registration_year = record.registered_on.year
    first = [entry for entry in record.workforce if entry.year <= registration_year][-1]
    details = _details(record, first)
    events = register_factory(None, factory_id, details)
    state = FACTORY.fold(events)
    steps = [Step(record.registered_on, tuple(events))]
    for entry in record.workforce:
        if entry.year <= registration_year:
            continue
        assert state is not None
        details = details.model_copy(
            update={"workforce": Workforce(women=entry.women, men=entry.men)}
        )
        events = update_factory(state, details)
        if events:
            state = FACTORY.fold(events, state)
            steps.append(Step(date(entry.year, 1, 1), tuple(events)))
    assert state is not None
    return History(tuple(steps), state)


# --- assessments ------------------------------------------------------------------------------


def catalogue_for(record: AssessmentRecord, country: str, library: CatalogueLibrary) -> Catalogue:
    """The catalogue the record names, else the one in force on the day of the assessment, with
    the factory's country variant. A version that took effect after the assessment is refused."""
    version = record.catalogue_version
    if version is None:
        try:
            version = library.version_in_force(record.assessed_on)
        except NoCatalogueInForce as error:
            raise _reject("assessed_on", str(error)) from None
    effective = library.effective_from(version)
    if effective is None:
        raise _reject(
            "catalogue_version",
            f"unknown catalogue version {version} (known: {', '.join(library.versions)})",
        )
    if effective > record.assessed_on:
        raise _reject(
            "catalogue_version",
            f"catalogue {version} took effect on {effective}, after the assessment",
        )
    catalogue = library.resolve(version, country)
    assert catalogue is not None  # every version has its base catalogue
    return catalogue


def cycle_conflict(cycle: int, day: date, others: Iterable[tuple[int, date]]) -> str | None:
    """Why `cycle` on `day` does not fit the factory's other assessments (cycle, day): a cycle
    is the factory's once, and cycles follow the days of their visits."""
    for other_cycle, other_day in others:
        if other_cycle == cycle:
            return f"cycle {cycle} is the factory's assessment of {other_day}"
        if other_day != day and (other_cycle < cycle) != (other_day < day):
            return f"cycle {cycle} on {day} is out of order with cycle {other_cycle} on {other_day}"
    return None


def _checked_findings(record: AssessmentRecord, catalogue: Catalogue) -> None:
    """Every finding's question is in the catalogue, a non-compliance has evidence, every
    critical question is answered (what the live completion requires), texts are storable."""
    rejections = []
    for index, finding in enumerate(record.findings):
        if catalogue.question(finding.question_id) is None:
            rejections.append(
                Rejection(f"findings.{index}.question_id", f"not in catalogue {catalogue.version}")
            )
        elif not finding.compliant and not finding.evidence.strip():
            rejections.append(
                Rejection(f"findings.{index}.evidence", "a non-compliant finding needs evidence")
            )
        elif (why := _unsafe(finding.evidence)) is not None:
            rejections.append(Rejection(f"findings.{index}.evidence", why))
    answered = {finding.question_id for finding in record.findings}
    unanswered = [
        question for question in catalogue.critical_question_ids if question not in answered
    ]
    if unanswered:
        rejections.append(
            Rejection(
                "findings",
                f"critical questions of catalogue {catalogue.version} unanswered: "
                + ", ".join(unanswered),
            )
        )
    for index, correction in enumerate(record.corrections):
        if (why := _unsafe(correction.reason)) is not None:
            rejections.append(Rejection(f"corrections.{index}.reason", why))
    for index, response in enumerate(record.responses):
        if (why := _unsafe(response.text)) is not None:
            rejections.append(Rejection(f"responses.{index}.text", why))
    if rejections:
        raise Rejected(rejections)


def _fold(state: Assessment | None, events: Sequence[DomainEvent]) -> Assessment:
    for event in events:
        state = evolve(state, event)
    assert state is not None
    return state


def assessment_history(
    record: AssessmentRecord,
    *,
    assessment_id: str,
    factory: Factory,
    catalogue: Catalogue,
    by: str,
    today: date,
) -> History[Assessment]:
    """A completed assessment as the live API would have recorded it, decided by the
    aggregate's rules: scheduled and its findings recorded on `assessed_on`, completed on
    `report_date`, then each correction and response on its day (in the order of their days)."""
    _not_after(record.report_date, today, "report_date")
    _checked_findings(record, catalogue)
    opening = rules.schedule_assessment(
        None,
        assessment_id=assessment_id,
        factory=factory,
        cycle=record.cycle,
        scheduled_for=record.assessed_on,
        assessors=IMPORTED_ASSESSORS,
        catalogue=catalogue,
    )
    state = _fold(None, opening)
    findings = [
        (
            finding.question_id,
            FindingFacts(
                result="compliant" if finding.compliant else "non_compliant",
                evidence=finding.evidence,
            ),
        )
        for finding in record.findings
    ]
    recorded = rules.record_findings(state, catalogue, findings=findings, recorded_by=by)
    state = _fold(recorded.states[-1], ())  # it folds as it decides: the state after them all
    steps = [Step(record.assessed_on, (*opening, *recorded))]
    completion = rules.complete_assessment(
        state, catalogue, completed_by=by, report_date=record.report_date
    )
    state = _fold(state, completion)
    steps.append(Step(record.report_date, tuple(completion)))
    later: list[tuple[date, int, int]] = [
        (correction.corrected_on, 0, index) for index, correction in enumerate(record.corrections)
    ] + [(response.responded_on, 1, index) for index, response in enumerate(record.responses)]
    for day, kind, index in sorted(later):
        field = f"{'corrections' if kind == 0 else 'responses'}.{index}"
        _not_after(day, today, field)
        try:
            if kind == 0:
                events = _correction(state, catalogue, record, index, by)
            else:
                response = record.responses[index]
                events = rules.respond_to_finding(
                    state,
                    question_id=response.question_id,
                    responded_by=by,
                    text=response.text,
                    dispute_reason=response.text if response.disputes else None,
                )
        except DomainError as error:
            raise _reject(field, error.detail) from None
        state = _fold(state, events)
        steps.append(Step(day, tuple(events)))
    return History(tuple(steps), state)


def _correction(
    state: Assessment, catalogue: Catalogue, record: AssessmentRecord, index: int, by: str
) -> list[DomainEvent]:
    """The assessor's correction: the judgement changes, the evidence seen stays (the reason
    stands for it when a compliant finding without evidence is corrected to a non-compliance)."""
    correction = record.corrections[index]
    previous = state.findings[correction.question_id].facts
    result = "compliant" if correction.compliant else "non_compliant"
    evidence = previous.evidence
    if result == "non_compliant" and not evidence.strip():
        evidence = correction.reason
    return rules.correct_finding(
        state,
        catalogue,
        question_id=correction.question_id,
        facts=FindingFacts(result=result, evidence=evidence, evidence_refs=previous.evidence_refs),
        corrected_by=by,
        reason=correction.reason,
    )
