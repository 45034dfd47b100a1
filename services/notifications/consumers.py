"""The durable consumers of upstream public events: one per producing service, each feeding the
fan-out (and, for buyer sharing, the grant history)."""

from __future__ import annotations

from libs.domain.envelope import EventRegistry
from libs.events.consumer import Subscription
from services.notifications.handlers import DEFAULT_HOLD_SECONDS, event_handlers

DURABLES = {
    "assessment": "notifications_assessment",
    "remediation": "notifications_remediation",
    "buyer_sharing": "notifications_buyer_sharing",
}


def subscriptions(
    registry: EventRegistry, *, hold_seconds: float = DEFAULT_HOLD_SECONDS
) -> list[Subscription]:
    """`hold_seconds`: how long a factory event waits for a grant still on its way."""
    return [
        Subscription(
            durable=DURABLES[service],
            source_service=service,
            handlers=handlers,
            registry=registry,
        )
        for service, handlers in event_handlers(hold_seconds).items()
    ]
