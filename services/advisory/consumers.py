"""The durable consumer of the assessment service's public events: `subscriptions(deps, wiring)`
gives the service definition its one `Subscription`. Live registrations are few, but a
programme's imported history arrives as a backlog (every factory's registration, a yearly update
of its workforce, every report): a fetched batch is applied per factory at once
(`handlers.factories.on_assessment_events`), in lanes by factory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from libs.events.consumer import BatchHandler, Subscription, bind_reactions
from libs.servicekit.service import Wiring
from services.advisory.handlers import EVENT_HANDLERS
from services.advisory.handlers.dependencies import Dependencies
from services.advisory.handlers.factories import on_assessment_events
from services.advisory.upstream import SOURCE_SERVICE

DURABLE = "advisory_assessment"


def batch_handler(deps: Dependencies) -> BatchHandler:
    """`on_assessment_events` as the consumer runner calls it, on its connection."""

    async def handle(connection: Any, batch: Any) -> None:
        await on_assessment_events(deps, connection, batch)

    return handle


def subscriptions(deps: Dependencies, wiring: Wiring[Any]) -> Sequence[Subscription]:
    return [
        Subscription(
            durable=DURABLE,
            source_service=SOURCE_SERVICE,
            handlers=bind_reactions(deps, EVENT_HANDLERS),
            registry=wiring.registry,
            batch_handler=batch_handler(deps),
            # a backlog is applied a thousand events per fetch, in two transactions by factory at
            # once (two cores: one's decisions overlap the other's round trips)
            batch_size=1000,
            lanes=2,
        )
    ]
