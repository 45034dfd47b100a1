"""Our own narrow copies of the assessment service's public events that remediation reacts to
(registered under service "assessment"; fields we do not read are ignored). See
services/assessment/contract.py for the full events."""

from __future__ import annotations

from datetime import date
from typing import Any

from libs.domain.envelope import DomainEvent, EventRegistry
from services.remediation.domain.finding import ReportedFinding

SOURCE_SERVICE = "assessment"


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


def register_upstream(registry: EventRegistry) -> None:
    """Register the copies under the producer's name, with the upcasters of older versions."""
    registry.register_all(*UPSTREAM_EVENTS, service=SOURCE_SERVICE)

    @registry.upcaster("AssessmentCompleted", 1, service=SOURCE_SERVICE)
    def completed_v1(data: dict[str, Any]) -> dict[str, Any]:
        return data  # version 2 only added `results`, which this copy does not read
