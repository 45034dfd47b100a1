"""Command handlers of notifications (endpoints through the aggregate repository; messages and
deliveries on the delivery tables, in the request's unit of work) and the reactions to upstream
events: the grant history, and the fan-out of a deliverable event into one message per entitled
endpoint. The registries are at the end.

Authorization that needs the endpoint (is it the caller's buyer's?) runs before
`before_write()`, the idempotency replay point; another buyer's endpoint is a 404.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.aggregate import Change, Loaded
from libs.domain.envelope import DomainEvent, Envelope
from libs.events.repository import Repository, Store
from services.notifications import endpoint as ep
from services.notifications import signing
from services.notifications.commands import (
    DeleteEndpoint,
    DisableEndpoint,
    Recover,
    Redeliver,
    RegisterEndpoint,
    RotateSecret,
    SendTestMessage,
    UpdateEndpoint,
)
from services.notifications.errors import (
    EndpointDisabled,
    NotFound,
    OverlapOutOfRange,
    PayloadExpired,
    UnknownEventTypes,
    UnsafeUrl,
)
from services.notifications.ids import message_id, new_secret_id, test_message_id
from services.notifications.projections import project_endpoint
from services.notifications.secretbox import SecretBox
from services.notifications.ssrf import AddressPolicy, Refused
from services.notifications.tables import SCHEMA
from services.notifications.transport import Resolver, check_url, system_resolver
from services.notifications.upstream import (
    BUYER_ADDRESSED,
    DELIVERABLE,
    UPSTREAM,
    SharingGranted,
    SharingRevoked,
)

CONFLICT_RETRIES = 3
DUE_CHANNEL = f"{SCHEMA}_due"
MAX_BODY_BYTES = 20_000
# how long a factory event waits for a grant that may still be on its way (BW_WEBHOOK_HOLD_SECONDS)
DEFAULT_HOLD_SECONDS = 600.0
S = SCHEMA


Handler = Callable[[AsyncConnection, Envelope, DomainEvent], Awaitable[None]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class MessageFound:
    """What redelivery needs to know about a message (locked for the unit of work)."""

    message_id: str
    endpoint_id: str
    buyer_id: str
    purged: bool
    enabled: bool


class DeliveryTables(Protocol):
    """The handlers' writes beside the event store: encrypted secrets and delivery state. The
    SQL implementation works in the unit of work's connection; handler unit tests give a fake."""

    async def keep_secret(
        self,
        connection: Any,
        endpoint_id: str,
        secret_id: str,
        sealed: bytes,
        fingerprint: str,
        at: datetime,
    ) -> None: ...

    async def expire_secrets(self, connection: Any, endpoint_id: str, until: datetime) -> None: ...

    async def queue_test_message(
        self,
        connection: Any,
        message: str,
        endpoint_id: str,
        buyer_id: str,
        payload: bytes,
        at: datetime,
    ) -> None: ...

    async def find_message(self, connection: Any, message: str) -> MessageFound | None: ...

    async def redeliver(self, connection: Any, message: str, now: datetime) -> None: ...

    async def recover(
        self, connection: Any, endpoint_id: str, since: datetime, now: datetime
    ) -> int: ...


class SqlDeliveryTables:
    """DeliveryTables on PostgreSQL, in the caller's transaction. Redelivery and recovery start
    a new lease: the outcome of an attempt still in flight from before is late and cannot undo
    them (it would otherwise mark the message succeeded and the redelivery would never go)."""

    async def keep_secret(
        self,
        connection: AsyncConnection,
        endpoint_id: str,
        secret_id: str,
        sealed: bytes,
        fingerprint: str,
        at: datetime,
    ) -> None:
        await connection.execute(
            text(
                f'INSERT INTO "{S}".webhook_secret (secret_id, endpoint_id, ciphertext, '
                "fingerprint, created_at) VALUES (:secret_id, :endpoint_id, :ciphertext, "
                ":fingerprint, :at)"
            ),
            {
                "secret_id": secret_id,
                "endpoint_id": endpoint_id,
                "ciphertext": sealed,
                "fingerprint": fingerprint,
                "at": at,
            },
        )

    async def expire_secrets(
        self, connection: AsyncConnection, endpoint_id: str, until: datetime
    ) -> None:
        await connection.execute(
            text(
                f'UPDATE "{S}".webhook_secret SET expires_at = :until WHERE endpoint_id = '
                ":endpoint_id AND (expires_at IS NULL OR expires_at > :until)"
            ),
            {"until": until, "endpoint_id": endpoint_id},
        )

    async def queue_test_message(
        self,
        connection: AsyncConnection,
        message: str,
        endpoint_id: str,
        buyer_id: str,
        payload: bytes,
        at: datetime,
    ) -> None:
        await _queue(
            connection,
            [(message, endpoint_id, buyer_id)],
            event_id=message,
            event_type="WebhookTest",
            factory_id=None,
            gated=False,
            event_time=at,
            payload=payload,
            now=at,
        )

    async def find_message(self, connection: AsyncConnection, message: str) -> MessageFound | None:
        row = (
            await connection.execute(
                text(
                    "SELECT m.message_id, m.endpoint_id, m.buyer_id, m.payload IS NULL AS purged, "
                    f'e.enabled FROM "{S}".message m JOIN "{S}".endpoint e USING (endpoint_id) '
                    "WHERE m.message_id = :id AND NOT e.deleted FOR UPDATE OF m"
                ),
                {"id": message},
            )
        ).one_or_none()
        if row is None:
            return None
        return MessageFound(row.message_id, row.endpoint_id, row.buyer_id, row.purged, row.enabled)

    async def redeliver(self, connection: AsyncConnection, message: str, now: datetime) -> None:
        await connection.execute(
            text(
                f"UPDATE \"{S}\".message SET status = 'pending', round_attempts = 0, "
                "next_attempt_at = :now, last_error = NULL, lease = lease + 1 "
                "WHERE message_id = :id"
            ),
            {"id": message, "now": now},
        )
        await connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": DUE_CHANNEL})

    async def recover(
        self, connection: AsyncConnection, endpoint_id: str, since: datetime, now: datetime
    ) -> int:
        result = await connection.execute(
            text(
                f"UPDATE \"{S}\".message SET status = 'pending', round_attempts = 0, "
                "next_attempt_at = :now, last_error = NULL, lease = lease + 1 "
                "WHERE endpoint_id = :endpoint_id AND status = 'failed' "
                "AND created_at >= :since AND payload IS NOT NULL"
            ),
            {"endpoint_id": endpoint_id, "since": since, "now": now},
        )
        await connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": DUE_CHANNEL})
        return int(getattr(result, "rowcount", 0) or 0)


@dataclass
class Dependencies:
    """What the handlers need; the composition root builds it once. Without `read_models` (the
    in-memory store of the handler unit tests) nothing is projected."""

    store: Store[Any]  # the EventStore; an InMemoryEventStore in handler unit tests
    box: SecretBox
    policy: AddressPolicy
    resolver: Resolver = system_resolver
    clock: Callable[[], datetime] = field(default=_utcnow)
    tables: DeliveryTables = field(default_factory=SqlDeliveryTables)
    read_models: bool = True

    def __post_init__(self) -> None:
        self.endpoints = Repository(
            self.store,
            ep.ENDPOINT,
            subject_of=lambda _id, state: state.buyer_id,
            project=project_endpoint if self.read_models else None,
        )


def known_event_types(types: tuple[str, ...]) -> tuple[str, ...]:
    unknown = sorted(set(types) - set(DELIVERABLE))
    if unknown:
        raise UnknownEventTypes(
            f"unknown event types: {', '.join(unknown)}",
            {"unknown": unknown, "known": sorted(DELIVERABLE)},
        )
    return tuple(dict.fromkeys(types))


async def _checked_url(deps: Dependencies, url: str) -> str:
    try:
        await check_url(url, deps.policy, deps.resolver)
    except Refused as error:
        raise UnsafeUrl(error.detail) from None
    return url


def _owned_by(
    caller_buyer_id: str | None, endpoint_id: str
) -> Callable[[Loaded[ep.Endpoint]], None]:
    def authorize(loaded: Loaded[ep.Endpoint]) -> None:
        state = loaded.state
        if not state.registered or state.deleted:
            raise NotFound(f"webhook endpoint {endpoint_id} not found")
        if caller_buyer_id is not None and state.buyer_id != caller_buyer_id:
            raise NotFound(f"webhook endpoint {endpoint_id} not found")

    return authorize


async def _store_secret(
    connection: Any, deps: Dependencies, endpoint_id: str, secret_id: str, secret: str
) -> None:
    await deps.tables.keep_secret(
        connection,
        endpoint_id,
        secret_id,
        deps.box.seal(secret),
        signing.fingerprint(secret),
        deps.clock(),
    )


# --- endpoints ----------------------------------------------------------------------------------


async def register_endpoint(
    command: RegisterEndpoint, deps: Dependencies
) -> tuple[Change[ep.Endpoint], str | None]:
    """Register; the secret is returned once (None when the id was already registered)."""
    types = known_event_types(command.event_types)
    await _checked_url(deps, command.url)
    secret, secret_id, at = signing.new_secret(), new_secret_id(), deps.clock()
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        change = await deps.endpoints.execute(
            command.endpoint_id,
            lambda state: ep.register(
                state,
                endpoint_id=command.endpoint_id,
                buyer_id=command.buyer_id,
                url=command.url,
                event_types=types,
                factory_ids=command.factory_ids,
                description=command.description,
                secret_id=secret_id,
                secret_fingerprint=signing.fingerprint(secret),
                by=command.by,
                at=at,
            ),
            unit=unit,
        )
        if not change.events:
            return change, None
        await _store_secret(unit.connection, deps, command.endpoint_id, secret_id, secret)
    return change, secret


async def update_endpoint(command: UpdateEndpoint, deps: Dependencies) -> Change[ep.Endpoint]:
    types = known_event_types(command.event_types) if command.event_types is not None else None
    at = deps.clock()

    async def decide(state: ep.Endpoint) -> list[DomainEvent]:
        if command.url is not None and command.url != state.url:
            await _checked_url(deps, command.url)
        return ep.update(
            state,
            endpoint_id=command.endpoint_id,
            url=command.url,
            event_types=types,
            factory_ids=command.factory_ids,
            factory_ids_given=command.factory_ids_given,
            description=command.description,
            enabled=command.enabled,
            by=command.by,
            at=at,
        )

    return await deps.endpoints.execute(
        command.endpoint_id,
        decide,
        expected_version=command.expected_version,
        authorize=_owned_by(command.caller_buyer_id, command.endpoint_id),
    )


async def rotate_secret(
    command: RotateSecret, deps: Dependencies
) -> tuple[Change[ep.Endpoint], str, datetime]:
    """A new secret (returned once); the previous one keeps signing until the overlap ends."""
    if not 0 <= command.overlap_seconds <= ep.MAX_OVERLAP_SECONDS:
        raise OverlapOutOfRange(
            f"overlap_seconds must be between 0 and {ep.MAX_OVERLAP_SECONDS} (7 days)",
            {"maximum": ep.MAX_OVERLAP_SECONDS},
        )
    secret, secret_id, at = signing.new_secret(), new_secret_id(), deps.clock()
    valid_until = at + timedelta(seconds=command.overlap_seconds)
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        change = await deps.endpoints.execute(
            command.endpoint_id,
            lambda state: ep.rotate_secret(
                state,
                endpoint_id=command.endpoint_id,
                secret_id=secret_id,
                secret_fingerprint=signing.fingerprint(secret),
                previous_valid_until=valid_until,
                by=command.by,
                at=at,
            ),
            authorize=_owned_by(command.caller_buyer_id, command.endpoint_id),
            unit=unit,
        )
        await deps.tables.expire_secrets(unit.connection, command.endpoint_id, valid_until)
        await _store_secret(unit.connection, deps, command.endpoint_id, secret_id, secret)
    return change, secret, valid_until


async def delete_endpoint(command: DeleteEndpoint, deps: Dependencies) -> Change[ep.Endpoint]:
    at = deps.clock()
    return await deps.endpoints.execute(
        command.endpoint_id,
        lambda state: ep.delete(state, endpoint_id=command.endpoint_id, by=command.by, at=at),
        expected_version=command.expected_version,
        authorize=_owned_by(command.caller_buyer_id, command.endpoint_id),
    )


async def disable_endpoint(command: DisableEndpoint, deps: Dependencies) -> Change[ep.Endpoint]:
    """The dispatcher's decision (410, or a whole schedule failed)."""
    at = deps.clock()
    return await deps.endpoints.execute(
        command.endpoint_id,
        lambda state: ep.disable(
            state,
            endpoint_id=command.endpoint_id,
            reason=command.reason,
            detail=command.detail,
            by="notifications",
            at=at,
        ),
        conflict_retries=CONFLICT_RETRIES,
    )


async def send_test_message(command: SendTestMessage, deps: Dependencies) -> str:
    """Queue a test message (a CloudEvents document of type WebhookTest) for the endpoint."""
    at = deps.clock()
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        loaded = await deps.endpoints.load(unit, command.endpoint_id)
        _owned_by(command.caller_buyer_id, command.endpoint_id)(loaded)
        unit.before_write()
        if not loaded.state.enabled:
            raise EndpointDisabled(f"webhook endpoint {command.endpoint_id} is disabled")
        new_id = test_message_id()
        document = {
            "specversion": "1.0",
            "id": new_id,
            "source": "/betterwork/notifications",
            "type": "org.betterwork.notifications.WebhookTest.v1",
            "subject": command.endpoint_id,
            "time": at.isoformat(),
            "datacontenttype": "application/json",
            "data": {"endpoint_id": command.endpoint_id, "message": "a test message"},
        }
        await deps.tables.queue_test_message(
            unit.connection,
            new_id,
            command.endpoint_id,
            loaded.state.buyer_id,
            json.dumps(document, separators=(",", ":")).encode(),
            at,
        )
    return new_id


# --- deliveries ---------------------------------------------------------------------------------


async def redeliver(command: Redeliver, deps: Dependencies) -> None:
    """Send one message again, on a fresh retry schedule."""
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        found = await deps.tables.find_message(unit.connection, command.message_id)
        if found is None or (
            command.caller_buyer_id is not None and found.buyer_id != command.caller_buyer_id
        ):
            raise NotFound(f"message {command.message_id} not found")
        unit.before_write()
        if not found.enabled:
            raise EndpointDisabled(
                f"webhook endpoint {found.endpoint_id} is disabled: enable it first"
            )
        if found.purged:
            raise PayloadExpired(f"message {command.message_id} is past its payload retention")
        await deps.tables.redeliver(unit.connection, command.message_id, deps.clock())


async def recover(command: Recover, deps: Dependencies) -> int:
    """Send again every failed message of the endpoint created since `since`; how many."""
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        loaded = await deps.endpoints.load(unit, command.endpoint_id)
        _owned_by(command.caller_buyer_id, command.endpoint_id)(loaded)
        unit.before_write()
        if not loaded.state.enabled:
            raise EndpointDisabled(
                f"webhook endpoint {command.endpoint_id} is disabled: enable it first"
            )
        return await deps.tables.recover(
            unit.connection, command.endpoint_id, command.since, deps.clock()
        )


# --- reactions to upstream events ---------------------------------------------------------------


async def _queue(
    connection: AsyncConnection,
    targets: list[tuple[str, str, str]],
    *,
    event_id: str,
    event_type: str,
    factory_id: str | None,
    gated: bool,
    event_time: datetime,
    payload: bytes,
    now: datetime,
) -> None:
    """One pending message per (message id, endpoint, buyer); a repeat inserts nothing. One
    statement whatever the number of endpoints (arrays, the payload sent once), which wakes the
    dispatcher as it commits."""
    await connection.execute(
        _QUEUE,
        {
            "messages": [message for message, _endpoint, _buyer in targets],
            "endpoints": [endpoint for _message, endpoint, _buyer in targets],
            "buyers": [buyer for _message, _endpoint, buyer in targets],
            "event_id": event_id,
            "event_type": event_type,
            "factory_id": factory_id,
            "gated": gated,
            "event_time": event_time,
            "payload": payload,
            "now": now,
            "channel": DUE_CHANNEL,
        },
    )


# a data-modifying CTE runs whether or not the outer query reads it
_QUEUE = text(
    f"""
    WITH queued AS (
        INSERT INTO "{S}".message (message_id, endpoint_id, buyer_id, event_id, event_type,
            factory_id, gated, event_time, payload, created_at, status, attempts, round_attempts,
            next_attempt_at)
        SELECT t.message_id, t.endpoint_id, t.buyer_id, CAST(:event_id AS text),
               CAST(:event_type AS text), CAST(:factory_id AS text), CAST(:gated AS boolean),
               CAST(:event_time AS timestamptz), CAST(:payload AS bytea),
               CAST(:now AS timestamptz), 'pending', 0, 0, CAST(:now AS timestamptz)
        FROM unnest(CAST(:messages AS text[]), CAST(:endpoints AS text[]),
                    CAST(:buyers AS text[])) AS t(message_id, endpoint_id, buyer_id)
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT pg_notify(CAST(:channel AS text), '')
    """
)


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

# Fan-out of a factory's event and the recording of a grant of that factory serialize on this
# lock (events share it, grants take it alone): otherwise an event could be held by a
# transaction that does not yet see a concurrent grant while the grant's release does not yet
# see the held event, and both commit: held until it expires, never sent.
_FACTORY_LOCK_SHARED = text("SELECT pg_advisory_xact_lock_shared(hashtextextended(:key, 0))")
_FACTORY_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


def _factory_lock_key(factory_id: str) -> str:
    return f"{S}.factory-grants:{factory_id}"


def webhook_body(envelope: Envelope) -> bytes:
    """The CloudEvents document as published; past 20 kB, a small document that refers to the
    factory's REST resource instead of carrying the data."""
    body = envelope.to_json()
    if len(body) < MAX_BODY_BYTES:
        return body
    data = envelope.data
    factory = data.get("factory_id")
    if data.get("assessment_id"):
        href = f"/v1/assessments/{data['assessment_id']}"
    elif factory:
        href = f"/v1/factories/{factory}"
    else:
        href = None
    small = envelope.model_copy(
        update={"data": {"factory_id": factory, "truncated": True, "href": href}}
    )
    return small.to_json()


async def fan_out(
    connection: AsyncConnection,
    envelope: Envelope,
    event: DomainEvent,
    *,
    hold_seconds: float = DEFAULT_HOLD_SECONDS,
) -> None:
    """Queue the event for every enabled endpoint that wants it and is entitled to it: the
    buyer's own events for buyer-addressed ones; otherwise an active grant for the factory when
    the event happened (the grant is checked again before each attempt). When an interested
    endpoint's buyer has no grant covering it (yet: the grant may still be on its way on buyer
    sharing's stream), the event is held for `hold_seconds` for a SharingGranted to release."""
    name = envelope.event_name
    addressed = name in BUYER_ADDRESSED
    factory = getattr(event, "factory_id", None)
    if not addressed and factory is None:
        return
    if not addressed and factory is not None:
        await connection.execute(_FACTORY_LOCK_SHARED, {"key": _factory_lock_key(factory)})
    rows = (
        await connection.execute(
            _INTERESTED,
            {
                "name": name,
                "factory": factory,
                "buyer": getattr(event, "buyer_id", None) if addressed else None,
                "gated": not addressed,
                "at": envelope.time,
            },
        )
    ).all()
    if not rows:
        return
    payload = webhook_body(envelope)
    now = _utcnow()
    entitled = [row for row in rows if row.covered]
    if entitled:
        await _queue(
            connection,
            [
                (message_id(row.endpoint_id, envelope.id), row.endpoint_id, row.buyer_id)
                for row in entitled
            ],
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
    now = _utcnow()
    held = (
        await connection.execute(
            _HELD_FOR_GRANT, {"factory": factory_id, "now": now, "granted_at": granted_at}
        )
    ).all()
    for event in held:
        rows = (
            await connection.execute(
                _INTERESTED,
                {
                    "name": event.event_type,
                    "factory": factory_id,
                    "buyer": buyer_id,
                    "gated": True,
                    "at": event.event_time,
                },
            )
        ).all()
        entitled = [row for row in rows if row.covered]
        if entitled:
            await _queue(
                connection,
                [
                    (message_id(row.endpoint_id, event.event_id), row.endpoint_id, row.buyer_id)
                    for row in entitled
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


async def _record_grant(
    connection: AsyncConnection, envelope: Envelope, kind: str, at: datetime, ends_on: Any
) -> None:
    event = envelope.data
    await connection.execute(
        text(
            f'INSERT INTO "{S}".grant_event (factory_id, buyer_id, version, kind, at, ends_on) '
            "VALUES (:factory_id, :buyer_id, :version, :kind, :at, :ends_on) ON CONFLICT DO NOTHING"
        ),
        {
            "factory_id": event["factory_id"],
            "buyer_id": event["buyer_id"],
            "version": envelope.streamversion,
            "kind": kind,
            "at": at,
            "ends_on": ends_on,
        },
    )


def event_handlers(hold_seconds: float = DEFAULT_HOLD_SECONDS) -> dict[str, Mapping[str, Handler]]:
    """Reactions per upstream service, by event name; consumers.py subscribes them."""

    async def deliverable(
        connection: AsyncConnection, envelope: Envelope, event: DomainEvent
    ) -> None:
        await fan_out(connection, envelope, event, hold_seconds=hold_seconds)

    async def on_sharing_granted(
        connection: AsyncConnection, envelope: Envelope, event: DomainEvent
    ) -> None:
        assert isinstance(event, SharingGranted)
        await connection.execute(_FACTORY_LOCK, {"key": _factory_lock_key(event.factory_id)})
        await _record_grant(connection, envelope, "granted", event.granted_at, event.ends_on)
        await fan_out(connection, envelope, event)
        await release_held(connection, event.factory_id, event.buyer_id, event.granted_at)

    async def on_sharing_revoked(
        connection: AsyncConnection, envelope: Envelope, event: DomainEvent
    ) -> None:
        assert isinstance(event, SharingRevoked)
        await _record_grant(connection, envelope, "revoked", event.revoked_at, None)
        await fan_out(connection, envelope, event)

    handlers: dict[str, dict[str, Handler]] = {
        service: {cls.event_name: deliverable for cls in classes}
        for service, classes in UPSTREAM.items()
    }
    handlers["buyer_sharing"]["SharingGranted"] = on_sharing_granted
    handlers["buyer_sharing"]["SharingRevoked"] = on_sharing_revoked
    return dict(handlers)
