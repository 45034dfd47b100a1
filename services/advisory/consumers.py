"""The durable consumer of the assessment service's public events: `subscriptions(deps, wiring)`
gives the service definition its one `Subscription`. Factory registrations are few, so each
event is applied in its own transaction (no batch handler)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from libs.events.consumer import Subscription, bind_reactions
from libs.servicekit.service import Wiring
from services.advisory.handlers import EVENT_HANDLERS
from services.advisory.handlers.dependencies import Dependencies
from services.advisory.upstream import SOURCE_SERVICE

DURABLE = "advisory_assessment"


def subscriptions(deps: Dependencies, wiring: Wiring[Any]) -> Sequence[Subscription]:
    return [
        Subscription(
            durable=DURABLE,
            source_service=SOURCE_SERVICE,
            handlers=bind_reactions(deps, EVENT_HANDLERS),
            registry=wiring.registry,
        )
    ]
