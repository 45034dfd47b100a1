"""The notifications service's public events: `WebhookEndpointDisabled` (typed, versioned,
documented in docs/asyncapi.yaml), translated from the internal events in one place. Secrets,
URLs and who acted stay inside the service."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import Field

from libs.domain.contract import PublicContract
from libs.domain.envelope import DomainEvent
from services.notifications.domain import SERVICE, endpoint


class WebhookEndpointDisabled(DomainEvent):
    """A buyer's webhook endpoint stopped receiving messages: disabled by the buyer, by a 410
    answer, or because a message failed for the whole retry schedule."""

    endpoint_id: str
    buyer_id: str
    reason: str = Field(description="`manual`, `gone` (the receiver answered 410) or `failing`.")
    disabled_at: datetime


PUBLIC_EVENTS: tuple[type[DomainEvent], ...] = (WebhookEndpointDisabled,)


def translate(event: DomainEvent, _state: Any = None) -> Sequence[DomainEvent]:
    if isinstance(event, endpoint.WebhookEndpointDisabled):
        return [
            WebhookEndpointDisabled(
                endpoint_id=event.endpoint_id,
                buyer_id=event.buyer_id,
                reason=event.reason,
                disabled_at=event.disabled_at,
            )
        ]
    return []


CONTRACT = PublicContract.of(SERVICE, PUBLIC_EVENTS, translate)
