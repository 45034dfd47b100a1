"""The durable consumers of the upstream public events (assessment, remediation, advisory),
declared once: `subscriptions(deps, wiring)` gives the service definition one `Subscription` per
producer.

Upstream facts only feed read models, so a handler is the projection itself: each fetched batch
is applied set-based in one transaction (`project_upstream_batch`); the per-event handlers remain
for isolating a failing event and for dead-letter replays, with the same effect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.envelope import DomainEvent, Envelope
from libs.events.consumer import Subscription
from libs.servicekit.service import Wiring
from services.buyer_sharing.projections.upstream import project_upstream, project_upstream_batch
from services.buyer_sharing.upstream import UPSTREAM_EVENTS

DURABLES = {
    "assessment": "buyer_sharing_assessment",
    "remediation": "buyer_sharing_remediation",
    # delivered sessions and completed visits: the factories' training and advisory summaries
    "advisory": "buyer_sharing_advisory",
}

UpstreamHandler = Callable[[AsyncConnection, Envelope, DomainEvent], Awaitable[None]]

EVENT_HANDLERS: Mapping[str, Mapping[str, UpstreamHandler]] = {
    service: {event.event_name: project_upstream for event in events}
    for service, events in UPSTREAM_EVENTS.items()
}
"""Per producer, the handler of each event type this service reads."""


def subscriptions(_deps: Any, wiring: Wiring[Any]) -> Sequence[Subscription]:
    return [
        Subscription(
            durable=DURABLES[service],
            source_service=service,
            handlers=handlers,
            registry=wiring.registry,
            batch_handler=project_upstream_batch,
        )
        for service, handlers in EVENT_HANDLERS.items()
    ]
