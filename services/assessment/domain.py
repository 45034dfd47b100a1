"""The assessment service's aggregates (Factory, Assessment), their events and their rules.

Pure and synchronous: every decision takes the folded state, the pinned catalogue and the facts it
needs (who, when) and returns the new events, or raises a DomainError. No I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Annotated, Literal

import pycountry
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from libs.events import DomainEvent, EventRegistry
from libs.servicekit.types import SafeLine, SafeText, Token
from services.assessment.compliance_catalogue import Catalogue

SERVICE = "assessment"
FACTORY_STREAM = "factory"
ASSESSMENT_STREAM = "assessment"

Result = Literal["compliant", "non_compliant", "not_applicable"]
Status = Literal["scheduled", "completed"]

# Bounds on what grows with use, so no stream, read model or report grows without limit. A
# finding is recorded once or twice in practice and corrected rarely; a factory answers a
# finding a few times at most.
MAX_RECORDINGS_PER_FINDING = 20
MAX_CORRECTIONS_PER_FINDING = 20
MAX_RESPONSES_PER_FINDING = 20
MAX_EVIDENCE_LENGTH = 10_000
MAX_EVIDENCE_REFS = 50
MAX_REFERENCE_LENGTH = 500


# --- errors: plain exceptions, mapped to problem+json in one place (app.py) -------------------


class DomainError(Exception):
    """A command broke a rule; nothing was changed."""

    def __init__(self, detail: str, **extensions: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class InvalidCommand(DomainError):
    """The command cannot be carried out as asked (HTTP 422)."""


class StateConflict(DomainError):
    """The command conflicts with the aggregate's current state (HTTP 409)."""


class UnknownQuestion(InvalidCommand):
    def __init__(self, question_id: str, catalogue_version: str, country: str) -> None:
        super().__init__(
            f"question {question_id!r} is not in catalogue {catalogue_version} for {country}",
            question_id=question_id,
        )


class EvidenceRequired(InvalidCommand):
    pass


class NoFindingForQuestion(InvalidCommand):
    def __init__(self, question_id: str) -> None:
        super().__init__(
            f"no finding was recorded for question {question_id!r}", question_id=question_id
        )


class NothingToCorrect(InvalidCommand):
    pass


class CriticalQuestionsUnanswered(InvalidCommand):
    def __init__(self, question_ids: Sequence[str]) -> None:
        super().__init__(
            f"{len(question_ids)} critical question(s) have no finding yet",
            unanswered_critical_questions=list(question_ids),
        )
        self.question_ids = list(question_ids)


class InvalidFactory(InvalidCommand):
    pass


class LimitReached(InvalidCommand):
    """A bounded collection is full (e.g. the responses to one finding)."""

    def __init__(self, what: str, limit: int, question_id: str) -> None:
        super().__init__(
            f"{what} is limited to {limit} per finding", limit=limit, question_id=question_id
        )


class NotFoundError(DomainError):
    """No such aggregate, or one the caller may not know exists (HTTP 404)."""


class VersionMismatch(DomainError):
    """The caller's If-Match names a version the aggregate is no longer at (HTTP 412)."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(
            f"the resource is at version {actual}, not {expected}; reload it and retry",
            current_version=actual,
        )


class AssessmentAlreadyCompleted(StateConflict):
    def __init__(self, assessment_id: str) -> None:
        super().__init__(
            f"assessment {assessment_id} is completed; findings can only be corrected",
            assessment_id=assessment_id,
        )


class AssessmentNotCompleted(StateConflict):
    def __init__(self, assessment_id: str) -> None:
        super().__init__(
            f"assessment {assessment_id} is not completed yet", assessment_id=assessment_id
        )


class OsIdTaken(StateConflict):
    def __init__(self, os_id: str) -> None:
        super().__init__(f"OS ID {os_id} belongs to another factory", os_id=os_id)


# --- Open Supply Hub ID ---------------------------------------------------------------------

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_OS_ID_SHAPE = re.compile(r"^[A-Z]{2}\d{4}\d{3}[0-9A-HJKMNP-TV-Z]{6}$")


def normalise_os_id(raw: str) -> str:
    """Validate an OS ID and return it without hyphens or spaces, upper case.

    Shape: country (2 letters), year (4 digits), day of year (3 digits), five Crockford base-32
    characters, then a check character: the Crockford symbol of (the two country letters' character
    codes + the base-32 values of the other 12 characters) mod 32.
    """
    candidate = re.sub(r"[\s-]", "", raw).upper()
    if not _OS_ID_SHAPE.match(candidate):
        raise ValueError("an OS ID is 2 letters, 7 digits and 6 Crockford base-32 characters")
    if pycountry.countries.get(alpha_2=candidate[:2]) is None:
        raise ValueError(f"{candidate[:2]} is not an ISO 3166-1 country code")
    if not 1 <= int(candidate[6:9]) <= 366:
        raise ValueError("the day of year in an OS ID is between 001 and 366")
    total = ord(candidate[0]) + ord(candidate[1])
    total += sum(CROCKFORD.index(character) for character in candidate[2:14])
    if CROCKFORD[total % 32] != candidate[14]:
        raise ValueError("the OS ID's check character does not match")
    return candidate


# --- factories -------------------------------------------------------------------------------

# ISIC Rev.4 divisions (the first two digits of a group or class code).
_ISIC_DIVISIONS = frozenset(
    f"{division:02d}"
    for division in [
        *range(1, 4),
        *range(5, 10),
        *range(10, 34),
        35,
        *range(36, 40),
        *range(41, 44),
        *range(45, 48),
        *range(49, 54),
        55,
        56,
        *range(58, 64),
        *range(64, 67),
        68,
        *range(69, 76),
        *range(77, 83),
        84,
        85,
        *range(86, 89),
        *range(90, 94),
        *range(94, 97),
        97,
        98,
        99,
    ]
)


# For the OpenAPI document: the same rules as the validators below, as a client can check them.
ISIC_PATTERN = rf"^ *({'|'.join(sorted(_ISIC_DIVISIONS))})[0-9]{{0,2}} *$"
COUNTRY_CODES: list[JsonValue] = [
    country.alpha_2 for country in sorted(pycountry.countries, key=lambda c: c.alpha_2)
]


def validate_country(value: str) -> str:
    country = value.strip().upper()
    if len(country) != 2 or pycountry.countries.get(alpha_2=country) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return country


class Workforce(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    women: int = Field(ge=0, le=1_000_000)
    men: int = Field(ge=0, le=1_000_000)


class FactoryDetails(BaseModel):
    """What describes a factory; validated wherever it is built (request body or domain)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    name: SafeLine = Field(min_length=1, max_length=200)
    country: str = Field(
        description="ISO 3166-1 alpha-2 code (any case)",
        examples=["KH"],
        pattern=r"^ *[A-Za-z]{2} *$",
        json_schema_extra={"enum": COUNTRY_CODES},
    )
    address: SafeText = Field(min_length=1, max_length=500)
    sector_isic: str = Field(
        description="ISIC Rev.4 division, group or class",
        examples=["1410"],
        pattern=ISIC_PATTERN,
    )
    workforce: Workforce
    os_id: str | None = Field(
        default=None,
        description="Open Supply Hub ID; hyphens and spaces are ignored. Its country must be "
        "the factory's.",
        examples=["KH2019257Q2JMGF"],
        max_length=40,
        pattern=r"^[A-Za-z0-9 -]*$",
    )

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        return validate_country(value)

    @field_validator("sector_isic")
    @classmethod
    def _sector(cls, value: str) -> str:
        if not re.fullmatch(r"\d{2,4}", value) or value[:2] not in _ISIC_DIVISIONS:
            raise ValueError(f"{value!r} is not an ISIC Rev.4 division, group or class code")
        return value

    @field_validator("os_id")
    @classmethod
    def _os_id(cls, value: str | None) -> str | None:
        return normalise_os_id(value) if value else None

    @model_validator(mode="after")
    def _os_id_matches_country(self) -> FactoryDetails:
        # An OS ID starts with the country the facility was registered in; a mismatch is a typo.
        if self.os_id is not None and self.os_id[:2] != self.country:
            raise ValueError(
                f"OS ID {self.os_id} is for country {self.os_id[:2]}, not {self.country}"
            )
        return self


class FactoryRegistered(DomainEvent):
    factory_id: str
    name: str
    country: str
    address: str
    sector_isic: str
    workforce: Workforce
    os_id: str | None


class FactoryUpdated(DomainEvent):
    factory_id: str
    name: str
    country: str
    address: str
    sector_isic: str
    workforce: Workforce
    os_id: str | None


@dataclass(frozen=True)
class Factory:
    factory_id: str
    details: FactoryDetails
    version: int


def register_factory(factory_id: str, details: FactoryDetails) -> FactoryRegistered:
    return FactoryRegistered(factory_id=factory_id, **details.model_dump())


def update_factory(factory: Factory, details: FactoryDetails) -> list[FactoryUpdated]:
    """An update that changes nothing records nothing."""
    if details == factory.details:
        return []
    return [FactoryUpdated(factory_id=factory.factory_id, **details.model_dump())]


def fold_factory(events: Iterable[DomainEvent]) -> Factory | None:
    factory: Factory | None = None
    for event in events:
        if isinstance(event, FactoryRegistered | FactoryUpdated):
            details = FactoryDetails.model_validate(event.model_dump(exclude={"factory_id"}))
            factory = Factory(event.factory_id, details, (factory.version if factory else 0) + 1)
    return factory


# --- assessments -----------------------------------------------------------------------------


class FindingFacts(BaseModel):
    """A finding's content, as carried in corrections' before and after."""

    model_config = ConfigDict(frozen=True)

    result: Result
    evidence: SafeText = Field(default="", max_length=MAX_EVIDENCE_LENGTH)
    evidence_refs: tuple[Annotated[Token, Field(max_length=MAX_REFERENCE_LENGTH)], ...] = Field(
        default=(), max_length=MAX_EVIDENCE_REFS
    )


class ClusterSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    cluster_id: str
    cluster_name: str
    questions: int
    non_compliant: int
    rate: float


class AssessmentScheduled(DomainEvent):
    assessment_id: str
    factory_id: str
    cycle: int
    scheduled_for: date
    assessors: tuple[str, ...]
    country: str
    catalogue_version: str


class FindingRecorded(DomainEvent):
    assessment_id: str
    factory_id: str
    question_id: str
    result: Result
    evidence: str
    evidence_refs: tuple[str, ...]
    recorded_by: str


class ZeroToleranceIssueFound(DomainEvent):
    assessment_id: str
    factory_id: str
    question_id: str
    cluster_id: str
    compliance_point_id: str
    question_text: str
    evidence: str
    recorded_by: str


class QuestionResult(BaseModel):
    """The result of one answered question in a completed report."""

    model_config = ConfigDict(frozen=True)

    question_id: str
    cluster_id: str
    compliance_point_id: str
    critical: bool
    zero_tolerance: bool
    result: Result


class AssessmentCompleted(DomainEvent):
    assessment_id: str
    factory_id: str
    cycle: int
    catalogue_version: str
    country: str
    report_date: date
    completed_by: str
    non_compliance_count: int
    summary: tuple[ClusterSummary, ...]
    # Every answered question's result (empty in reports completed before it was recorded).
    results: tuple[QuestionResult, ...] = ()


class NonComplianceFound(DomainEvent):
    assessment_id: str
    factory_id: str
    cycle: int
    report_date: date
    cluster_id: str
    cluster_name: str
    compliance_point_id: str
    compliance_point_name: str
    question_id: str
    question_text: str
    critical: bool
    zero_tolerance: bool
    evidence: str
    evidence_refs: tuple[str, ...]


class FindingCorrected(DomainEvent):
    assessment_id: str
    factory_id: str
    question_id: str
    corrected_by: str
    reason: str
    before: FindingFacts
    after: FindingFacts


class FindingDisputed(DomainEvent):
    assessment_id: str
    factory_id: str
    question_id: str
    responded_by: str
    text: str
    reason: str


class FactoryResponded(DomainEvent):
    assessment_id: str
    factory_id: str
    question_id: str
    responded_by: str
    text: str


@dataclass(frozen=True)
class Finding:
    question_id: str
    facts: FindingFacts
    recorded_by: str


@dataclass(frozen=True)
class Assessment:
    assessment_id: str
    factory_id: str
    cycle: int
    country: str
    catalogue_version: str
    scheduled_for: date
    assessors: tuple[str, ...]
    status: Status = "scheduled"
    findings: dict[str, Finding] = field(default_factory=dict)
    report_date: date | None = None
    version: int = 0
    # how often each question's finding was recorded, corrected and answered
    recordings: dict[str, int] = field(default_factory=dict)
    corrections: dict[str, int] = field(default_factory=dict)
    responses: dict[str, int] = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        return self.status == "completed"


def _evolve(assessment: Assessment | None, event: DomainEvent) -> Assessment | None:
    if isinstance(event, AssessmentScheduled):
        return Assessment(
            assessment_id=event.assessment_id,
            factory_id=event.factory_id,
            cycle=event.cycle,
            country=event.country,
            catalogue_version=event.catalogue_version,
            scheduled_for=event.scheduled_for,
            assessors=event.assessors,
        )
    if assessment is None:
        return None
    if isinstance(event, FindingRecorded):
        facts = FindingFacts(
            result=event.result, evidence=event.evidence, evidence_refs=event.evidence_refs
        )
        finding = Finding(event.question_id, facts, event.recorded_by)
        return replace(
            assessment,
            findings={**assessment.findings, event.question_id: finding},
            recordings=_counted(assessment.recordings, event.question_id),
        )
    if isinstance(event, FindingCorrected):
        finding = Finding(event.question_id, event.after, event.corrected_by)
        return replace(
            assessment,
            findings={**assessment.findings, event.question_id: finding},
            corrections=_counted(assessment.corrections, event.question_id),
        )
    if isinstance(event, FactoryResponded | FindingDisputed):
        return replace(assessment, responses=_counted(assessment.responses, event.question_id))
    if isinstance(event, AssessmentCompleted):
        return replace(assessment, status="completed", report_date=event.report_date)
    return assessment


def _counted(counts: dict[str, int], question_id: str) -> dict[str, int]:
    return {**counts, question_id: counts.get(question_id, 0) + 1}


def _check_limit(counts: dict[str, int], question_id: str, limit: int, what: str) -> None:
    if counts.get(question_id, 0) >= limit:
        raise LimitReached(what, limit, question_id)


def fold_assessment(events: Iterable[DomainEvent]) -> Assessment | None:
    """Rebuild an assessment from its stream; its version is the number of events."""
    assessment: Assessment | None = None
    count = 0
    for event in events:
        assessment = _evolve(assessment, event)
        count += 1
    return replace(assessment, version=count) if assessment is not None else None


def schedule_assessment(
    *,
    assessment_id: str,
    factory: Factory,
    cycle: int,
    scheduled_for: date,
    assessors: Sequence[str],
    catalogue: Catalogue,
) -> AssessmentScheduled:
    names = [assessor.strip() for assessor in assessors]
    if not names or any(not name for name in names) or len(set(names)) != len(names):
        raise InvalidCommand("an assessment needs one or more distinct, non-empty assessors")
    return AssessmentScheduled(
        assessment_id=assessment_id,
        factory_id=factory.factory_id,
        cycle=cycle,
        scheduled_for=scheduled_for,
        assessors=tuple(names),
        country=factory.details.country,
        catalogue_version=catalogue.version,
    )


def _zero_tolerance_raised(
    assessment: Assessment, catalogue: Catalogue, question_id: str, facts: FindingFacts, by: str
) -> list[DomainEvent]:
    """A zero-tolerance non-compliance escalates at once, but only when it newly becomes one."""
    entry = catalogue.question(question_id)
    previous = assessment.findings.get(question_id)
    if (
        entry is None
        or not entry.question.zero_tolerance
        or facts.result != "non_compliant"
        or (previous is not None and previous.facts.result == "non_compliant")
    ):
        return []
    return [
        ZeroToleranceIssueFound(
            assessment_id=assessment.assessment_id,
            factory_id=assessment.factory_id,
            question_id=question_id,
            cluster_id=entry.cluster.id,
            compliance_point_id=entry.point.id,
            question_text=entry.question.text,
            evidence=facts.evidence,
            recorded_by=by,
        )
    ]


def _checked_facts(
    assessment: Assessment, catalogue: Catalogue, question_id: str, facts: FindingFacts
) -> None:
    if catalogue.question(question_id) is None:
        raise UnknownQuestion(question_id, assessment.catalogue_version, assessment.country)
    if facts.result == "non_compliant" and not facts.evidence.strip():
        raise EvidenceRequired(
            "a non-compliant finding needs evidence text", question_id=question_id
        )


def record_finding(
    assessment: Assessment,
    catalogue: Catalogue,
    *,
    question_id: str,
    facts: FindingFacts,
    recorded_by: str,
) -> list[DomainEvent]:
    """Before completion a question's finding may be recorded again; the latest one counts."""
    if assessment.completed:
        raise AssessmentAlreadyCompleted(assessment.assessment_id)
    _checked_facts(assessment, catalogue, question_id, facts)
    _check_limit(
        assessment.recordings, question_id, MAX_RECORDINGS_PER_FINDING, "recording a finding"
    )
    recorded = FindingRecorded(
        assessment_id=assessment.assessment_id,
        factory_id=assessment.factory_id,
        question_id=question_id,
        result=facts.result,
        evidence=facts.evidence,
        evidence_refs=facts.evidence_refs,
        recorded_by=recorded_by,
    )
    return [
        recorded,
        *_zero_tolerance_raised(assessment, catalogue, question_id, facts, recorded_by),
    ]


def _non_compliance(
    assessment: Assessment, catalogue: Catalogue, finding: Finding, report_date: date
) -> NonComplianceFound:
    entry = catalogue.question(finding.question_id)
    assert entry is not None  # findings are only ever recorded for catalogue questions
    return NonComplianceFound(
        assessment_id=assessment.assessment_id,
        factory_id=assessment.factory_id,
        cycle=assessment.cycle,
        report_date=report_date,
        cluster_id=entry.cluster.id,
        cluster_name=entry.cluster.name,
        compliance_point_id=entry.point.id,
        compliance_point_name=entry.point.name,
        question_id=entry.question.id,
        question_text=entry.question.text,
        critical=entry.question.critical,
        zero_tolerance=entry.question.zero_tolerance,
        evidence=finding.facts.evidence,
        evidence_refs=finding.facts.evidence_refs,
    )


def summarise(assessment: Assessment, catalogue: Catalogue) -> tuple[ClusterSummary, ...]:
    """Per cluster: applicable questions answered, how many are non-compliant, and the rate."""
    summaries = []
    for cluster in catalogue.clusters:
        results = [
            assessment.findings[question.id].facts.result
            for point in cluster.points
            for question in point.questions
            if question.id in assessment.findings
        ]
        applicable = [result for result in results if result != "not_applicable"]
        non_compliant = sum(result == "non_compliant" for result in applicable)
        summaries.append(
            ClusterSummary(
                cluster_id=cluster.id,
                cluster_name=cluster.name,
                questions=len(applicable),
                non_compliant=non_compliant,
                rate=round(non_compliant / len(applicable), 4) if applicable else 0.0,
            )
        )
    return tuple(summaries)


def complete_assessment(
    assessment: Assessment, catalogue: Catalogue, *, completed_by: str, report_date: date
) -> list[DomainEvent]:
    """Completion makes the findings the official report and emits one NonComplianceFound each."""
    if assessment.completed:
        raise AssessmentAlreadyCompleted(assessment.assessment_id)
    unanswered = [
        question_id
        for question_id in catalogue.critical_question_ids
        if question_id not in assessment.findings
    ]
    if unanswered:
        raise CriticalQuestionsUnanswered(unanswered)
    non_compliances = [
        _non_compliance(assessment, catalogue, assessment.findings[entry.question.id], report_date)
        for entry in catalogue.questions()
        if entry.question.id in assessment.findings
        and assessment.findings[entry.question.id].facts.result == "non_compliant"
    ]
    completed = AssessmentCompleted(
        assessment_id=assessment.assessment_id,
        factory_id=assessment.factory_id,
        cycle=assessment.cycle,
        catalogue_version=assessment.catalogue_version,
        country=assessment.country,
        report_date=report_date,
        completed_by=completed_by,
        non_compliance_count=len(non_compliances),
        summary=summarise(assessment, catalogue),
        results=tuple(
            QuestionResult(
                question_id=entry.question.id,
                cluster_id=entry.cluster.id,
                compliance_point_id=entry.point.id,
                critical=entry.question.critical,
                zero_tolerance=entry.question.zero_tolerance,
                result=assessment.findings[entry.question.id].facts.result,
            )
            for entry in catalogue.questions()
            if entry.question.id in assessment.findings
        ),
    )
    return [completed, *non_compliances]


def correct_finding(
    assessment: Assessment,
    catalogue: Catalogue,
    *,
    question_id: str,
    facts: FindingFacts,
    corrected_by: str,
    reason: str,
) -> list[DomainEvent]:
    """After completion a finding changes only by an attributed correction, never an edit.

    A correction that turns a finding non-compliant also emits NonComplianceFound (and, for a
    zero-tolerance question, ZeroToleranceIssueFound), so remediation learns of it like any other.
    """
    if not assessment.completed or assessment.report_date is None:
        raise AssessmentNotCompleted(assessment.assessment_id)
    _checked_facts(assessment, catalogue, question_id, facts)
    if not reason.strip():
        raise InvalidCommand("a correction needs a reason")
    previous = assessment.findings.get(question_id)
    if previous is None:
        raise NoFindingForQuestion(question_id)
    if previous.facts == facts:
        raise NothingToCorrect(
            "the correction is identical to the finding", question_id=question_id
        )
    _check_limit(assessment.corrections, question_id, MAX_CORRECTIONS_PER_FINDING, "correcting")
    events: list[DomainEvent] = [
        FindingCorrected(
            assessment_id=assessment.assessment_id,
            factory_id=assessment.factory_id,
            question_id=question_id,
            corrected_by=corrected_by,
            reason=reason.strip(),
            before=previous.facts,
            after=facts,
        )
    ]
    if facts.result == "non_compliant" and previous.facts.result != "non_compliant":
        events += _zero_tolerance_raised(assessment, catalogue, question_id, facts, corrected_by)
        corrected = Finding(question_id, facts, corrected_by)
        events.append(_non_compliance(assessment, catalogue, corrected, assessment.report_date))
    return events


def respond_to_finding(
    assessment: Assessment,
    *,
    question_id: str,
    responded_by: str,
    text: str,
    dispute_reason: str | None = None,
) -> list[DomainEvent]:
    """The factory answers a finding of its official report, or disputes it with a reason."""
    if not assessment.completed:
        raise AssessmentNotCompleted(assessment.assessment_id)
    if question_id not in assessment.findings:
        raise NoFindingForQuestion(question_id)
    if not text.strip():
        raise InvalidCommand("a response needs text")
    _check_limit(assessment.responses, question_id, MAX_RESPONSES_PER_FINDING, "responding")
    if dispute_reason is not None:
        if not dispute_reason.strip():
            raise InvalidCommand("a dispute needs a reason")
        return [
            FindingDisputed(
                assessment_id=assessment.assessment_id,
                factory_id=assessment.factory_id,
                question_id=question_id,
                responded_by=responded_by,
                text=text.strip(),
                reason=dispute_reason.strip(),
            )
        ]
    return [
        FactoryResponded(
            assessment_id=assessment.assessment_id,
            factory_id=assessment.factory_id,
            question_id=question_id,
            responded_by=responded_by,
            text=text.strip(),
        )
    ]


EVENT_CLASSES: tuple[type[DomainEvent], ...] = (
    FactoryRegistered,
    FactoryUpdated,
    AssessmentScheduled,
    FindingRecorded,
    ZeroToleranceIssueFound,
    AssessmentCompleted,
    NonComplianceFound,
    FindingCorrected,
    FindingDisputed,
    FactoryResponded,
)


def make_registry() -> EventRegistry:
    registry = EventRegistry(SERVICE)
    registry.register_all(*EVENT_CLASSES)
    return registry
