"""The durable consumers of upstream public events, one per producing service, and their
reactions: every deliverable live event is fanned out to the endpoints that want it (an imported
one, `importedfrom`, to none: imported history is not news); buyer sharing's
grants and revocations also feed the grant history, and a grant releases the events held for it;
buyer sharing's consent watermark, applied by the same consumer in stream order after them, says
as of when that history is complete. `subscriptions(deps, wiring)` is what the service definition
subscribes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.envelope import DomainEvent, Envelope
from libs.events.consumer import Handler, Subscription
from libs.servicekit.service import Wiring
from services.notifications.adapters.consent import record_watermark
from services.notifications.adapters.fanout import (
    fan_out,
    lock_factory_grants,
    record_grant,
    release_held,
)
from services.notifications.handlers import Dependencies
from services.notifications.settings import NotificationsSettings
from services.notifications.upstream import (
    DELIVERABLE_EVENTS,
    ConsentWatermark,
    SharingGranted,
    SharingRevoked,
)

DURABLES = {
    "assessment": "notifications_assessment",
    "remediation": "notifications_remediation",
    "buyer_sharing": "notifications_buyer_sharing",
    "advisory": "notifications_advisory",
}

# Events whose reaction is idempotent by itself, so they keep no inbox row: a consent watermark
# records the newest `as_of` (an older or repeated one changes nothing), and buyer sharing's relay
# publishes one every few seconds, which would add a row each (about 17,000 a day at 5 s).
IDEMPOTENT = {"buyer_sharing": frozenset({ConsentWatermark.event_name})}


def event_handlers(hold_seconds: float, prefix: str = "") -> dict[str, Mapping[str, Handler]]:
    """Reactions per upstream service, by event name. `hold_seconds`: how long a factory event
    waits for a grant still on its way; `prefix`: the subject prefix (of the dead letters the
    watermark looks at)."""

    async def deliverable(
        connection: AsyncConnection, envelope: Envelope, event: DomainEvent
    ) -> None:
        await fan_out(connection, envelope, event, hold_seconds=hold_seconds)

    async def on_sharing_granted(
        connection: AsyncConnection, envelope: Envelope, event: DomainEvent
    ) -> None:
        assert isinstance(event, SharingGranted)
        await lock_factory_grants(connection, event.factory_id)
        await record_grant(connection, envelope, "granted", event.granted_at, event.ends_on)
        await fan_out(connection, envelope, event, hold_seconds=hold_seconds)
        await release_held(connection, event.factory_id, event.buyer_id, event.granted_at)

    async def on_sharing_revoked(
        connection: AsyncConnection, envelope: Envelope, event: DomainEvent
    ) -> None:
        assert isinstance(event, SharingRevoked)
        await record_grant(connection, envelope, "revoked", event.revoked_at, None)
        await fan_out(connection, envelope, event, hold_seconds=hold_seconds)

    async def on_consent_watermark(
        connection: AsyncConnection, _envelope: Envelope, event: DomainEvent
    ) -> None:
        assert isinstance(event, ConsentWatermark)
        await record_watermark(connection, event.as_of, prefix)

    handlers: dict[str, dict[str, Handler]] = {
        service: {cls.event_name: deliverable for cls in classes}
        for service, classes in DELIVERABLE_EVENTS.items()
    }
    handlers["buyer_sharing"]["SharingGranted"] = on_sharing_granted
    handlers["buyer_sharing"]["SharingRevoked"] = on_sharing_revoked
    handlers["buyer_sharing"]["ConsentWatermark"] = on_consent_watermark
    return dict(handlers)


def subscriptions(
    _deps: Dependencies, wiring: Wiring[NotificationsSettings]
) -> Sequence[Subscription]:
    """One durable consumer per producing service; each applies its events in stream order (one
    lane), which the consent watermark relies on."""
    settings = wiring.settings
    return [
        Subscription(
            durable=DURABLES[service],
            source_service=service,
            handlers=handlers,
            registry=wiring.registry,
            idempotent_events=IDEMPOTENT.get(service, frozenset()),
        )
        for service, handlers in event_handlers(
            settings.hold_seconds, settings.subject_prefix
        ).items()
    ]
