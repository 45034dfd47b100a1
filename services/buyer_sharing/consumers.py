"""The durable consumers of upstream public events, and the operator's rebuild of every read model
from the event history (own event store, then the upstream JetStream streams from their start).

Rebuild: in one transaction, the read models are emptied and refilled; readers keep seeing the
old rows until it commits (DELETE, not TRUNCATE, so they are never blocked). Upstream updates are
idempotent and order-safe, so live consumers may keep running: an event both replayed here and
applied live leaves the same row. JetStream must still hold every upstream message
(docs/buyer_sharing.md, "Rebuild").
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.events import Subscription
from libs.events.envelope import Envelope, EventRegistry
from libs.events.nats import NatsConnection, stream_name
from libs.events.tables import define_event_store_tables
from services.buyer_sharing.handlers import EVENT_HANDLERS
from services.buyer_sharing.projections import project_event
from services.buyer_sharing.tables import READ_MODELS, SCHEMA, metadata

DURABLES = {"assessment": "buyer_sharing_assessment", "remediation": "buyer_sharing_remediation"}
FETCH_BATCH = 500
FETCH_TIMEOUT_SECONDS = 2.0


def subscriptions(registry: EventRegistry) -> list[Subscription]:
    return [
        Subscription(
            durable=DURABLES[service],
            source_service=service,
            handlers=handlers,
            registry=registry,
        )
        for service, handlers in EVENT_HANDLERS.items()
    ]


Progress = Callable[[str, int, int], None]
"""progress(phase, done, total)"""


@dataclass(frozen=True)
class RebuildReport:
    own_events: int
    upstream_events: dict[str, int]


async def rebuild(
    *,
    engine: AsyncEngine,
    bus: NatsConnection,
    registry: EventRegistry,
    subject_prefix: str = "",
    progress: Progress | None = None,
) -> RebuildReport:
    """Empty and refill every read model in one transaction; see the module docstring."""
    report = progress or (lambda _phase, _done, _total: None)
    async with engine.begin() as connection:
        for table in reversed(READ_MODELS):
            await connection.execute(delete(table))
        own = await _replay_own(connection, registry, report)
        upstream = {
            service: await _replay_stream(
                connection, bus, registry, subject_prefix, service, report
            )
            for service in EVENT_HANDLERS
        }
    return RebuildReport(own_events=own, upstream_events=upstream)


async def _replay_own(
    connection: AsyncConnection, registry: EventRegistry, progress: Progress
) -> int:
    event = define_event_store_tables(metadata.__class__(schema=SCHEMA))["event"]
    total = (
        await connection.scalar(select(event.c.position).order_by(event.c.position.desc()).limit(1))
        or 0
    )
    done = 0
    result = await connection.stream(
        select(event.c.event_type, event.c.data, event.c.version, event.c.position).order_by(
            event.c.position
        )
    )
    async for row in result:
        await project_event(connection, registry.decode_data(row.event_type, row.data), row.version)
        done += 1
        progress("own events", row.position, total)
    return done


async def _replay_stream(
    connection: AsyncConnection,
    bus: NatsConnection,
    registry: EventRegistry,
    subject_prefix: str,
    service: str,
    progress: Progress,
) -> int:
    js = bus.jetstream()
    name = stream_name(subject_prefix, service)
    try:
        info = await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        return 0  # the producer never published: nothing to replay
    last = info.state.last_seq
    if info.state.messages == 0 or last == 0:
        return 0
    subscription = await js.pull_subscribe(
        f"{subject_prefix}{service}.>",
        durable=None,
        stream=name,
        config=ConsumerConfig(
            name=f"rebuild_{uuid.uuid4().hex[:12]}",
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=60.0,
        ),
    )
    applied = 0
    try:
        sequence = 0
        while sequence < last:
            try:
                messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT_SECONDS)
            except nats.errors.TimeoutError:
                break  # nothing more to read (the rest was removed by retention)
            for message in messages:
                sequence = message.metadata.sequence.stream
                envelope = Envelope.from_json(message.data)
                handler = EVENT_HANDLERS[service].get(envelope.event_name)
                if handler is not None:
                    await handler(connection, envelope, registry.decode(envelope))
                    applied += 1
                progress(service, sequence, last)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(subscription.unsubscribe(), timeout=5)
    return applied
