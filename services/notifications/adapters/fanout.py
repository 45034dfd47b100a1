"""The SQL of the fan-out (the consumers' reactions): which endpoints want an upstream event and
were entitled to it when it happened, one message each; events held for a grant still on its
way and released by it; the grant history read from buyer sharing's events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.envelope import DomainEvent, Envelope
from services.notifications.adapters.delivery_tables import queue_messages
from services.notifications.domain.messages import webhook_body
from services.notifications.ids import message_id
from services.notifications.tables import SCHEMA
from services.notifications.upstream import BUYER_ADDRESSED, reaches_buyers

S = SCHEMA

_INTERESTED = text(
    f"""
    SELECT e.endpoint_id, e.buyer_id,
           (NOT CAST(:gated AS boolean) OR coalesce((
                SELECT g.kind = 'granted'
                       AND (g.ends_on IS NULL
                            OR g.ends_on >= CAST(CAST(:at AS timestamptz) AT TIME ZONE 'UTC' AS date))
                FROM "{S}".grant_event g
                WHERE g.factory_id = CAST(:factory AS text) AND g.buyer_id = e.buyer_id
                  AND g.at <= CAST(:at AS timestamptz)
                ORDER BY g.at DESC, g.version DESC LIMIT 1), false)) AS covered
    FROM "{S}".endpoint e
    WHERE e.enabled AND NOT e.deleted AND CAST(:name AS text) = ANY(e.event_types)
      AND (e.factory_ids IS NULL OR CAST(:factory AS text) = ANY(e.factory_ids))
      AND (CAST(:buyer AS text) IS NULL OR e.buyer_id = CAST(:buyer AS text))
    """
)
"""Endpoints that want the event, and whether their buyer was entitled to it when it happened:
its latest grant event at or before the event's time is a grant still within its end date."""

_HOLD = text(
    f'INSERT INTO "{S}".held_event (event_id, factory_id, event_type, event_time, payload, '
    "held_at, held_until) VALUES (:event_id, :factory_id, :event_type, :event_time, :payload, "
    ":now, :until) ON CONFLICT DO NOTHING"
)

_HELD_FOR_GRANT = text(
    f'SELECT event_id, event_type, event_time, payload FROM "{S}".held_event '
    "WHERE factory_id = :factory AND held_until > :now AND event_time >= :granted_at "
    "ORDER BY event_time"
)

_RECORD_GRANT = text(
    f'INSERT INTO "{S}".grant_event (factory_id, buyer_id, version, kind, at, ends_on) '
    "VALUES (:factory_id, :buyer_id, :version, :kind, :at, :ends_on) ON CONFLICT DO NOTHING"
)

# Fan-out of a factory's event and the recording of a grant of that factory serialize on this
# lock (events share it, grants take it alone): otherwise an event could be held by a
# transaction that does not yet see a concurrent grant while the grant's release does not yet
# see the held event, and both commit: held until it expires, never sent.
_FACTORY_LOCK_SHARED = text("SELECT pg_advisory_xact_lock_shared(hashtextextended(:key, 0))")
_FACTORY_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


def _factory_lock_key(factory_id: str) -> str:
    return f"{S}.factory-grants:{factory_id}"


async def lock_factory_grants(connection: AsyncConnection, factory_id: str) -> None:
    """A grant of the factory is recorded alone: no fan-out of its events meanwhile."""
    await connection.execute(_FACTORY_LOCK, {"key": _factory_lock_key(factory_id)})


async def _interested(
    connection: AsyncConnection,
    *,
    name: str,
    factory: str | None,
    buyer: str | None,
    gated: bool,
    at: datetime,
) -> list[tuple[str, str, bool]]:
    rows = await connection.execute(
        _INTERESTED, {"name": name, "factory": factory, "buyer": buyer, "gated": gated, "at": at}
    )
    return [(row.endpoint_id, row.buyer_id, row.covered) for row in rows]


async def fan_out(
    connection: AsyncConnection, envelope: Envelope, event: DomainEvent, *, hold_seconds: float
) -> None:
    """Queue the event for every enabled endpoint that wants it and is entitled to it: the
    buyer's own events for buyer-addressed ones; otherwise an active grant for the factory when
    the event happened (the grant is checked again before each attempt). When an interested
    endpoint's buyer has no grant covering it (yet: the grant may still be on its way on buyer
    sharing's stream), the event is held for `hold_seconds` for a SharingGranted to release.
    An event the publication gate keeps from buyers (a plan's draft) is queued for no one, and
    so is an imported fact (`importedfrom`: a programme's past, or what followed from it), nor
    is it held: imported history is not news (docs/notifications.md). The read models such an
    event feeds (the grant history) are the caller's, and are updated all the same."""
    if envelope.imported:
        return
    name = envelope.event_name
    addressed = name in BUYER_ADDRESSED
    factory = getattr(event, "factory_id", None)
    if not addressed and factory is None:
        return
    if not reaches_buyers(event):
        return
    if not addressed and factory is not None:
        await connection.execute(_FACTORY_LOCK_SHARED, {"key": _factory_lock_key(factory)})
    rows = await _interested(
        connection,
        name=name,
        factory=factory,
        buyer=getattr(event, "buyer_id", None) if addressed else None,
        gated=not addressed,
        at=envelope.time,
    )
    if not rows:
        return
    payload = webhook_body(envelope)
    now = datetime.now(UTC)
    entitled = [(endpoint, buyer) for endpoint, buyer, covered in rows if covered]
    if entitled:
        await queue_messages(
            connection,
            [(message_id(endpoint, envelope.id), endpoint, buyer) for endpoint, buyer in entitled],
            event_id=envelope.id,
            event_type=name,
            factory_id=factory,
            gated=not addressed,
            event_time=envelope.time,
            payload=payload,
            now=now,
        )
    if len(entitled) < len(rows) and hold_seconds > 0:
        await connection.execute(
            _HOLD,
            {
                "event_id": envelope.id,
                "factory_id": factory,
                "event_type": name,
                "event_time": envelope.time,
                "payload": payload,
                "now": now,
                "until": now + timedelta(seconds=hold_seconds),
            },
        )


async def release_held(
    connection: AsyncConnection, factory_id: str, buyer_id: str, granted_at: datetime
) -> int:
    """Queue, for the buyer's endpoints now entitled to them, the held events of the factory
    that happened at or after the grant and are still within their hold window; how many
    events were looked at. Entitlement is checked as at fan-out (the grant history at the
    event's time), and again before each attempt."""
    now = datetime.now(UTC)
    held = (
        await connection.execute(
            _HELD_FOR_GRANT, {"factory": factory_id, "now": now, "granted_at": granted_at}
        )
    ).all()
    for event in held:
        rows = await _interested(
            connection,
            name=event.event_type,
            factory=factory_id,
            buyer=buyer_id,
            gated=True,
            at=event.event_time,
        )
        entitled = [(endpoint, buyer) for endpoint, buyer, covered in rows if covered]
        if entitled:
            await queue_messages(
                connection,
                [
                    (message_id(endpoint, event.event_id), endpoint, buyer)
                    for endpoint, buyer in entitled
                ],
                event_id=event.event_id,
                event_type=event.event_type,
                factory_id=factory_id,
                gated=True,
                event_time=event.event_time,
                payload=bytes(event.payload),
                now=now,
            )
    return len(held)


async def record_grant(
    connection: AsyncConnection, envelope: Envelope, kind: str, at: datetime, ends_on: date | None
) -> None:
    """A grant or a revocation of the (factory, buyer) pair, at its stream's version: a repeat
    records nothing, and the order is the grant stream's whatever the delivery order."""
    event = envelope.data
    await connection.execute(
        _RECORD_GRANT,
        {
            "factory_id": event["factory_id"],
            "buyer_id": event["buyer_id"],
            "version": envelope.streamversion,
            "kind": kind,
            "at": at,
            "ends_on": ends_on,
        },
    )
