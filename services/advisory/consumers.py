"""The durable consumer of the assessment service's public events: `subscriptions(deps, wiring)`
gives the service definition its one `Subscription`. Factory registrations are few, so each
event is applied in its own transaction (no batch handler)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.envelope import DomainEvent, Envelope
from libs.events.consumer import Handler, Subscription
from libs.servicekit.service import Wiring
from services.advisory.handlers import EVENT_HANDLERS
from services.advisory.handlers.dependencies import Dependencies
from services.advisory.handlers.factories import Reaction
from services.advisory.upstream import SOURCE_SERVICE

DURABLE = "advisory_assessment"


def _bind(deps: Dependencies, event_type: type[DomainEvent], reaction: Reaction) -> Handler:
    async def handle(connection: AsyncConnection, envelope: Envelope, event: DomainEvent) -> None:
        if not isinstance(event, event_type):
            raise TypeError(f"{envelope.type} decoded as {type(event).__name__}")
        await reaction(deps, connection, envelope, event)

    return handle


def subscriptions(deps: Dependencies, wiring: Wiring[Any]) -> Sequence[Subscription]:
    return [
        Subscription(
            durable=DURABLE,
            source_service=SOURCE_SERVICE,
            handlers={
                name: _bind(deps, event_type, reaction)
                for name, (event_type, reaction) in EVENT_HANDLERS.items()
            },
            registry=wiring.registry,
        )
    ]
