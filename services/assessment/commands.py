"""What callers ask the assessment service to do (imperative names); built by the API layer from
request bodies that have already been checked against the request rules (schemas.py). Every staff
command carries the caller's `scope` (keyword-only and required, so none is built without one):
the country programmes it may act in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.assessment.domain.assessment_events import FindingFacts
from services.assessment.domain.factory import FactoryDetails
from services.assessment.domain.scope import CountryScope


@dataclass(frozen=True)
class RegisterFactory:
    factory_id: str
    details: FactoryDetails
    scope: CountryScope = field(kw_only=True)


@dataclass(frozen=True)
class UpdateFactory:
    factory_id: str
    changes: dict[str, object]
    expected_version: int | None = None
    scope: CountryScope = field(kw_only=True)


@dataclass(frozen=True)
class ScheduleAssessment:
    assessment_id: str
    factory_id: str
    scheduled_for: date
    assessors: tuple[str, ...]
    catalogue_version: str | None = None
    scope: CountryScope = field(kw_only=True)


@dataclass(frozen=True)
class RecordFindings:
    """Many findings of one assessment at once: one append, all or nothing."""

    assessment_id: str
    findings: tuple[tuple[str, FindingFacts], ...]
    recorded_by: str
    expected_version: int | None = None
    scope: CountryScope = field(kw_only=True)


@dataclass(frozen=True)
class RecordFinding:
    assessment_id: str
    question_id: str
    facts: FindingFacts
    recorded_by: str
    expected_version: int | None = None
    scope: CountryScope = field(kw_only=True)


@dataclass(frozen=True)
class CompleteAssessment:
    assessment_id: str
    completed_by: str
    expected_version: int | None = None
    scope: CountryScope = field(kw_only=True)


@dataclass(frozen=True)
class CorrectFinding:
    assessment_id: str
    question_id: str
    facts: FindingFacts
    reason: str
    corrected_by: str
    expected_version: int | None = None
    scope: CountryScope = field(kw_only=True)


@dataclass(frozen=True)
class RespondToFinding:
    """A factory user's response; `dispute_reason` makes it a dispute. `factory_id` is the caller's
    tenant: another factory's assessment is reported as not found."""

    assessment_id: str
    question_id: str
    text: str
    responded_by: str
    factory_id: str
    dispute_reason: str | None = None
    expected_version: int | None = None
