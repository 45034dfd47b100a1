"""Our own narrow copies of the public events remediation reacts to, registered under the
producer's service name (fields we do not read are ignored): the assessment service's completions
and findings (services/assessment/contract.py) and the advisory service's delivered sessions and
completed visits (services/advisory/contract.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

from libs.domain.envelope import DomainEvent, EventRegistry
from services.remediation.domain.finding import ReportedFinding

SOURCE_SERVICE = "assessment"
ADVISORY_SERVICE = "advisory"


class AssessmentCompleted(DomainEvent):
    """Version 2 added the report's `results`, which remediation does not read. `country` (the
    factory's, in both versions) scopes the plan to its country programme; a message without it
    leaves the plan's country unknown (the headquarters' staff only)."""

    schema_version = 2

    assessment_id: str
    factory_id: str
    cycle: int
    report_date: date
    non_compliance_count: int = 0
    country: str | None = None


class NonComplianceFound(ReportedFinding, DomainEvent):
    """The finding's fields, of the factory, with what the assessor saw."""

    factory_id: str
    evidence: str = ""


UPSTREAM_EVENTS: tuple[type[DomainEvent], ...] = (AssessmentCompleted, NonComplianceFound)


class TrainingSessionDelivered(DomainEvent):
    """A session delivered with participants of the factory (its counts alone); `plan_item_ids`:
    the items of the factory's plan it addressed. Not read: country, course version, open
    session, language, the groups by role and gender, the delivery date."""

    session_id: str
    factory_id: str
    course_code: str
    course_title: str
    start_date: date
    end_date: date
    training_days: int
    plan_item_ids: tuple[str, ...] = ()
    participants: int
    completions: int


class AdvisoryVisitCompleted(DomainEvent):
    """An advisor's visit took place; `plan_item_ids`: the items of the factory's plan it worked
    on. Not read: country."""

    visit_id: str
    factory_id: str
    visited_on: date
    duration_days: float
    purpose: str
    plan_item_ids: tuple[str, ...] = ()
    committee_meeting_id: str | None = None


ADVISORY_EVENTS: tuple[type[DomainEvent], ...] = (TrainingSessionDelivered, AdvisoryVisitCompleted)


def register_upstream(registry: EventRegistry) -> None:
    """Register the copies under the producer's name, with the upcasters of older versions."""
    registry.register_all(*UPSTREAM_EVENTS, service=SOURCE_SERVICE)
    registry.register_all(*ADVISORY_EVENTS, service=ADVISORY_SERVICE)

    @registry.upcaster("AssessmentCompleted", 1, service=SOURCE_SERVICE)
    def completed_v1(data: dict[str, Any]) -> dict[str, Any]:
        return data  # version 2 only added `results`, which this copy does not read
