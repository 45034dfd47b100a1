"""The remediation service's domain, pure and synchronous: the improvement plan (its events in
`plan_events`, its state in `plan_state`, its rules in `plan`), the finding an item remedies
(`finding`), the committee (`committee`), the capacity building done for the plan's items
(`capacity`), the due-date policy (`policy`) and the read side's rows (`views`). No I/O, no clock:
every decision takes the state and the facts it needs."""

from __future__ import annotations

from libs.domain.envelope import EventRegistry
from services.remediation.domain.capacity import CAPACITY_EVENTS
from services.remediation.domain.committee import COMMITTEE_EVENTS
from services.remediation.domain.plan_events import PLAN_EVENTS

SERVICE = "remediation"


def make_registry() -> EventRegistry:
    """The internal events, as the event store decodes them (service.py adds the upstream copies)."""
    registry = EventRegistry(SERVICE)
    registry.register_all(*PLAN_EVENTS, *COMMITTEE_EVENTS, *CAPACITY_EVENTS)
    return registry
