"""The assessment service's aggregates, pure and synchronous: Factory (`factory`) and Assessment
(its events in `assessment_events`, its folded state in `assessment_state`, its rules in
`assessment`). No I/O, no clock: every decision takes the state and the facts it needs."""

from __future__ import annotations

from libs.domain.envelope import DomainEvent, EventRegistry
from services.assessment.domain import assessment_events, factory

SERVICE = "assessment"

EVENT_CLASSES: tuple[type[DomainEvent], ...] = (
    factory.FactoryRegistered,
    factory.FactoryUpdated,
    *assessment_events.ASSESSMENT_EVENTS,
)


def make_registry() -> EventRegistry:
    """The internal events, as the event store decodes them."""
    registry = EventRegistry(SERVICE)
    registry.register_all(*EVENT_CLASSES)
    return registry
