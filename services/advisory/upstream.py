"""Our own narrow copies of the assessment service's public events that advisory reads (registered
under service "assessment"; fields we do not read are ignored): a factory's country and name, and
its completed assessments' cycles. See services/assessment/contract.py for the full events."""

from __future__ import annotations

from datetime import date
from typing import Any

from libs.domain.envelope import DomainEvent, EventRegistry

SOURCE_SERVICE = "assessment"


class FactoryRegistered(DomainEvent):
    factory_id: str
    name: str
    country: str


class FactoryUpdated(DomainEvent):
    """Carries every detail as it now is: the country may have been corrected."""

    factory_id: str
    name: str
    country: str


class AssessmentCompleted(DomainEvent):
    """Version 2 added the report's `results`, which advisory does not read."""

    schema_version = 2

    assessment_id: str
    factory_id: str
    cycle: int
    report_date: date


UPSTREAM_EVENTS: tuple[type[DomainEvent], ...] = (
    FactoryRegistered,
    FactoryUpdated,
    AssessmentCompleted,
)


def register_upstream(registry: EventRegistry) -> None:
    """Register the copies under the producer's name, with the upcasters of older versions."""
    registry.register_all(*UPSTREAM_EVENTS, service=SOURCE_SERVICE)

    @registry.upcaster("AssessmentCompleted", 1, service=SOURCE_SERVICE)
    def completed_v1(data: dict[str, Any]) -> dict[str, Any]:
        return data  # version 2 only added `results`, which this copy does not read
