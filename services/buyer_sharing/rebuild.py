"""`python -m services.buyer_sharing rebuild`: every read model again from the event history (the
service definition's `rebuild`): the own event store (set-based, OWN_BATCH events at a time),
then the upstream JetStream streams (assessment, remediation, advisory: `upstream.UPSTREAM_EVENTS`)
from their start, on a NATS connection of its own.

In one transaction, the read models are emptied and refilled; readers keep seeing the old rows
until it commits (DELETE, not TRUNCATE, so they are never blocked). The upstream streams are read
by ephemeral consumers (no acks) in large fetches, exactly as many messages as each held when the
rebuild started (its consumer's pending count then: no idle timeout to wait out), every stream at
once, each message parsed once straight into the event it carries; the events are applied
set-based per fetched batch while the next is read, and the derived rows (factory summaries,
tallies, training and advisory summaries) are computed once at the end. Upstream updates are
idempotent and order-safe, so live consumers may keep running: an event both replayed here and
applied live leaves the same row. JetStream must still hold every upstream message
(docs/buyer_sharing.md, "Rebuild").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.domain.envelope import DomainEvent, Envelope, EventRegistry
from libs.events.nats import NatsConnection, stream_name
from libs.events.store import driver_connection
from libs.events.tables import define_event_store_tables
from libs.servicekit.service import Progress, RebuildContext
from services.buyer_sharing.projections.own import project_events
from services.buyer_sharing.projections.upstream import Meta, UpstreamRows, refresh_derived
from services.buyer_sharing.settings import BuyerSharingSettings
from services.buyer_sharing.tables import READ_MODELS, SCHEMA, metadata
from services.buyer_sharing.upstream import UPSTREAM_EVENTS

log = logging.getLogger(__name__)

# messages a rebuild fetches at once, and how long one fetch may wait for them
FETCH_BATCH = 2_000
FETCH_TIMEOUT_SECONDS = 10.0
OWN_BATCH = 2_000  # own events projected at once (set-based)
READ_AHEAD = 3  # fetched batches waiting to be applied, per stream
READ_ATTEMPTS = 10  # failed fetches in a row before a rebuild gives up (and changes nothing)


@dataclass(frozen=True)
class RebuildReport:
    own_events: int
    upstream_events: dict[str, int]  # applied, per producer
    upstream_skipped: dict[str, int] = field(default_factory=dict)  # of types not read here

    @property
    def events(self) -> int:
        """Every event applied: the own ones and the upstream ones."""
        return self.own_events + sum(self.upstream_events.values())

    def summary(self) -> str:
        upstream = ", ".join(f"{name} {count}" for name, count in self.upstream_events.items())
        skipped = sum(self.upstream_skipped.values())
        return (
            f"{self.own_events} own, upstream {upstream} ({skipped} upstream events of types not "
            "read here passed over)"
        )


class RebuildIncomplete(RuntimeError):
    """An upstream stream could not be read to the end: the rebuild rolls back, changing nothing."""


async def rebuild(context: RebuildContext[BuyerSharingSettings]) -> RebuildReport:
    """The service definition's rebuild: every read model again, reading the upstream streams on
    a NATS connection of its own (settings.nats_url)."""
    settings = context.settings
    bus = NatsConnection(settings.nats_url, name="buyer_sharing-rebuild")
    await bus.start()
    try:
        return await rebuild_read_models(
            engine=context.engine,
            bus=bus,
            registry=context.registry,
            subject_prefix=settings.subject_prefix,
            progress=context.progress,
        )
    finally:
        try:
            await bus.stop()
        except Exception as error:  # the server is gone (NatsConnection.stop re-raises a failed
            # close): what the rebuild did, or the error it raised, is what the caller must see
            log.warning("rebuild: closing its NATS connection failed (%r)", error)


async def rebuild_read_models(
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
        applied, skipped = await _replay_upstream(
            connection, bus.jetstream(), registry, subject_prefix, report
        )
        await refresh_derived(await driver_connection(connection), None)
    return RebuildReport(own_events=own, upstream_events=applied, upstream_skipped=skipped)


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
    batch: list[tuple[DomainEvent, int]] = []
    async for row in result:
        batch.append((registry.decode_data(row.event_type, row.data), row.version))
        if len(batch) == OWN_BATCH:
            await project_events(connection, batch)
            done += len(batch)
            batch = []
            progress("own events", row.position, total)
    await project_events(connection, batch)
    progress("own events", total, total)
    return done + len(batch)


E = TypeVar("E", bound=DomainEvent)


class _Wire(BaseModel, Generic[E]):
    """What the rebuild reads of an envelope, with its data validated as the event in one parse
    (the envelope's other members are not needed to project it)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    time: datetime
    streamversion: int
    data: E


class _Decoder:
    """Messages of one producer's stream to (envelope, event), by the event type their subject
    names; other versions are decoded (and upcast) the ordinary way."""

    def __init__(self, registry: EventRegistry, service: str) -> None:
        self.registry = registry
        self.handled = {event.event_name for event in UPSTREAM_EVENTS[service]}
        self.wires: dict[tuple[str, int], type[_Wire[Any]]] = {}
        for source, cls in registry.classes():
            if source == service and cls.event_name in self.handled:
                self.wires[(cls.event_name, cls.schema_version)] = _Wire[cls]  # type: ignore[valid-type]

    def decode(self, subject: str, payload: bytes) -> tuple[Meta, DomainEvent] | None:
        """None for an event type this service does not read."""
        _, name, version = subject.rsplit(".", 2)
        if name not in self.handled:
            return None
        wire = self.wires.get((name, int(version[1:])))
        if wire is not None:
            parsed = wire.model_validate_json(payload)
            return parsed, parsed.data
        envelope = Envelope.from_json(payload)
        return envelope, self.registry.decode(envelope)


async def _replay_upstream(
    connection: AsyncConnection,
    js: JetStreamContext,
    registry: EventRegistry,
    subject_prefix: str,
    progress: Progress,
) -> tuple[dict[str, int], dict[str, int]]:
    """Every upstream stream read at once, each fetched batch applied set-based on `connection`
    while the next ones are read."""
    driver = await driver_connection(connection)
    queue: asyncio.Queue[Sequence[tuple[Meta, DomainEvent]] | None] = asyncio.Queue(
        READ_AHEAD * len(UPSTREAM_EVENTS)
    )
    skipped = dict.fromkeys(UPSTREAM_EVENTS, 0)
    applied = dict.fromkeys(UPSTREAM_EVENTS, 0)

    async def read(service: str) -> None:
        try:
            async for batch, passed in _read_stream(
                js, subject_prefix, service, registry, progress
            ):
                skipped[service] += passed
                applied[service] += len(batch)
                await queue.put(batch)
        finally:
            await queue.put(None)

    readers = [asyncio.create_task(read(service)) for service in UPSTREAM_EVENTS]
    try:
        running = len(readers)
        while running:
            batch = await queue.get()
            if batch is None:
                running -= 1
                continue
            rows = UpstreamRows()
            for meta, event in batch:
                rows.add(meta, event)
            await rows.write(driver)
        for reader in readers:
            await reader  # a reader's failure fails the rebuild (its transaction rolls back)
    finally:
        for reader in readers:
            reader.cancel()
    return applied, skipped


async def _reader(
    js: JetStreamContext, subject: str, stream: str, start: int
) -> JetStreamContext.PullSubscription:
    """An ephemeral consumer (no acks) from stream sequence `start`."""
    policy: dict[str, Any] = {"deliver_policy": DeliverPolicy.ALL}
    if start > 1:
        policy = {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": start}
    return await js.pull_subscribe(
        subject,
        durable=None,
        stream=stream,
        config=ConsumerConfig(
            name=f"rebuild_{uuid.uuid4().hex[:12]}",
            ack_policy=AckPolicy.NONE,
            inactive_threshold=60.0,
            **policy,
        ),
    )


async def _read_stream(
    js: JetStreamContext,
    subject_prefix: str,
    service: str,
    registry: EventRegistry,
    progress: Progress,
) -> AsyncIterator[tuple[list[tuple[Meta, DomainEvent]], int]]:
    """Fetched batches of one producer's stream, from its first message to the last it held
    when the reading began: (events this service reads, messages of other types passed over).

    A fetch that fails (a timeout, the connection lost, the consumer gone with a NATS restart) is
    retried from the last sequence read, on a new consumer; when the stream no longer holds what
    is left of the rebuild's part (retention), the reading ends there. A stream that cannot be read
    to the end after READ_ATTEMPTS raises RebuildIncomplete: a rebuild never commits a short read."""
    name = stream_name(subject_prefix, service)
    subject = f"{subject_prefix}{service}.>"
    try:
        info = await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        return  # the producer never published: nothing to replay
    if not info.state.messages:
        return
    last, total = info.state.last_seq, info.state.messages
    decoder = _Decoder(registry, service)
    position = 0  # the stream sequence read last
    done = 0
    failures = 0
    subscription: JetStreamContext.PullSubscription | None = None
    try:
        while position < last:
            try:
                if subscription is None:
                    subscription = await _reader(js, subject, name, position + 1)
                messages = await subscription.fetch(
                    max(1, min(FETCH_BATCH, last - position)), timeout=FETCH_TIMEOUT_SECONDS
                )
            except Exception as error:
                failures += 1
                log.warning(
                    "rebuild: reading %s failed after sequence %d of %d (%r); retrying",
                    name,
                    position,
                    last,
                    error,
                )
                if subscription is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(subscription.unsubscribe(), timeout=5)
                    subscription = None
                with contextlib.suppress(Exception):
                    state = await asyncio.wait_for(js.stream_info(name), FETCH_TIMEOUT_SECONDS)
                    if state.state.first_seq > last:
                        break  # what is left of this part was removed by retention
                if failures >= READ_ATTEMPTS:
                    raise RebuildIncomplete(
                        f"the {service} stream could not be read past sequence {position} of "
                        f"{last} ({error!r}); nothing was changed"
                    ) from error
                await asyncio.sleep(min(0.5 * failures, 5.0))
                continue
            failures = 0
            batch = []
            passed = 0
            for message in messages:
                sequence = message.metadata.sequence.stream
                if sequence > last:
                    position = last
                    break
                position = sequence
                decoded = decoder.decode(message.subject, message.data)
                if decoded is None:
                    passed += 1
                else:
                    batch.append(decoded)
            done += len(batch) + passed
            progress(service, min(done, total), total)
            yield batch, passed
    finally:
        if subscription is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(subscription.unsubscribe(), timeout=5)
