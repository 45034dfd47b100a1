"""The buyer sharing service's domain, pure and synchronous: the aggregates (`buyer`, `sharing`,
`access_request`) and the rules of its read-side views (`portfolio`, `transparency`)."""

from __future__ import annotations

from libs.domain.envelope import EventRegistry
from services.buyer_sharing.domain.access_request import ACCESS_REQUEST_EVENTS
from services.buyer_sharing.domain.buyer import BUYER_EVENTS
from services.buyer_sharing.domain.sharing import SHARING_EVENTS

SERVICE = "buyer_sharing"


def make_registry() -> EventRegistry:
    """The internal events, as the event store decodes them (app.py adds the upstream copies)."""
    registry = EventRegistry(SERVICE)
    registry.register_all(*BUYER_EVENTS, *SHARING_EVENTS, *ACCESS_REQUEST_EVENTS)
    return registry
