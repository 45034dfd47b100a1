"""The notifications service's domain, pure and synchronous: the WebhookEndpoint aggregate
(`endpoint`), what a webhook carries (`messages`), how it is signed (`signing`), the delivery
policy (`delivery`: retries, outcomes, rate) and which addresses it may reach (`ssrf`)."""

from __future__ import annotations

from libs.domain.envelope import EventRegistry
from services.notifications.domain.endpoint import ENDPOINT_EVENTS

SERVICE = "notifications"


def make_registry() -> EventRegistry:
    """The internal events, as the event store decodes them (service.py adds the upstream
    copies)."""
    registry = EventRegistry(SERVICE)
    registry.register_all(*ENDPOINT_EVENTS)
    return registry
