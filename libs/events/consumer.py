"""The consumer runner: durable JetStream pull consumers with explicit ack after the handler's
transaction commits, an inbox for exactly-once effect, bounded retries, and a dead-letter store.

A fetched batch is applied in one transaction (fast path). If anything in it fails, the batch is rolled
back and each message is retried on its own, so one poison event cannot hold back the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry import propagate, trace
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.events.envelope import (
    DomainEvent,
    Envelope,
    EventRegistry,
    UnknownEventType,
    event_context,
)
from libs.events.nats import NatsConnection, stream_name
from libs.events.store import checked_schema, driver_connection

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Handler = Callable[[AsyncConnection, Envelope, DomainEvent], Awaitable[None]]
BatchHandler = Callable[[AsyncConnection, Sequence[tuple[Envelope, DomainEvent]]], Awaitable[None]]

# How long a busy consumer's fetch waits for messages beyond those already there.
BUSY_FETCH_SECONDS = 0.01

PROCESSED = Counter("bw_consumer_events_total", "Events applied", ["consumer"])
DUPLICATES = Counter("bw_consumer_duplicates_total", "Redelivered events skipped", ["consumer"])
FAILURES = Counter("bw_consumer_failures_total", "Handler failures", ["consumer"])
DEAD_LETTERED = Counter("bw_consumer_dead_letters_total", "Events parked", ["consumer"])


@dataclass(frozen=True)
class Subscription:
    """What a durable consumer reads and how it reacts.

    `handlers` maps the producer's event names to handlers; events of other types are acknowledged
    and skipped. `registry` holds the consumer's own copies of those events, registered under
    `source_service`. An optional `batch_handler` applies a whole fetched batch at once (e.g. one
    set-based upsert for a read model); it must have the same effect as the per-event handlers, which
    still serve to isolate a failing event and to replay dead letters.
    """

    durable: str
    source_service: str
    handlers: Mapping[str, Handler]
    registry: EventRegistry
    max_attempts: int = 5
    backoff: Sequence[float] = (1.0, 5.0, 30.0, 120.0)
    ack_wait: float = 30.0
    batch_size: int = 200
    batch_handler: BatchHandler | None = None


@dataclass(frozen=True)
class DeadLetter:
    id: int
    consumer: str
    event_id: str
    nats_subject: str
    payload: bytes
    error: str
    attempts: int
    failed_at: datetime
    replayed_at: datetime | None
    replay_error: str | None


@dataclass
class _Item:
    message: Msg | None
    envelope: Envelope
    event: DomainEvent


class _HandlerFailed(Exception):
    def __init__(self, item: _Item) -> None:
        self.item = item


class _BatchFailed(Exception):
    """The batch handler failed: which event made it fail is found by applying them one by one."""


class PoisonEvent(Exception):
    """The message cannot be decoded; retrying cannot help."""


class ConsumerRunner:
    """Runs one Subscription: fetch, apply with inbox, ack; retry, dead-letter, replay."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        schema: str,
        nats: NatsConnection,
        subscription: Subscription,
        subject_prefix: str = "",
        fetch_timeout: float = 2.0,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.schema = checked_schema(schema)
        self.nats = nats
        self.subscription = subscription
        self.subject_prefix = subject_prefix
        self.fetch_timeout = fetch_timeout
        self.after_commit = after_commit
        self.stream = stream_name(subject_prefix, subscription.source_service)
        self.durable = (subject_prefix.replace(".", "_") + subscription.durable).lower()
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._subscribed_at_reconnects = -1
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        s = self.schema
        self._inbox_sql = f"""
            INSERT INTO "{s}".inbox (consumer, event_id)
            SELECT $1, unnest($2::text[])
            ON CONFLICT DO NOTHING RETURNING event_id
            """
        self._dead_letter_sql = text(
            f"""
            INSERT INTO "{s}".dead_letter
                (consumer, event_id, nats_subject, payload, error, attempts)
            VALUES (:consumer, :event_id, :nats_subject, :payload, :error, :attempts)
            """
        )

    # lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.durable}")

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop fetching, let the batch in flight finish and acknowledge, then unsubscribe."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        await self._drop_subscription()

    async def provision(self) -> None:
        """Create the producer's stream and this durable consumer if missing (idempotent)."""
        await self.nats.ensure_stream(self.subject_prefix, self.subscription.source_service)
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.subscription.ack_wait,
            max_deliver=-1,  # this runner parks poison events itself; the server never drops them
            max_ack_pending=10_000,
            filter_subject=f"{self.subject_prefix}{self.subscription.source_service}.>",
        )
        await self.nats.jetstream().add_consumer(self.stream, config)

    # the loop ----------------------------------------------------------------------------------

    async def _run(self) -> None:
        idle_fetches = 0
        failures = 0
        busy = False
        while not self._stopping.is_set():
            try:
                subscription = await self._current_subscription()
                # A nats-py fetch that long-polls keeps the first message until its batch fills
                # or it expires. So an idle consumer waits for one message (returned as soon as
                # it arrives), and a busy one takes whatever is there with a short expiry.
                if busy:
                    messages = await subscription.fetch(
                        self.subscription.batch_size, timeout=BUSY_FETCH_SECONDS
                    )
                else:
                    messages = await subscription.fetch(1, timeout=self.fetch_timeout)
                failures = 0
            except (nats.errors.TimeoutError, TimeoutError):
                # an idle fetch (nats-py raises either kind); not a failure
                if busy:
                    busy = False
                    continue
                idle_fetches += 1
                if idle_fetches % 5 == 0:
                    await self._verify_consumer()
                continue
            except Exception as error:  # connection lost, consumer gone, server restarting
                failures += 1
                log.warning("consumer %s: fetch failed (%r); resubscribing", self.durable, error)
                await self._drop_subscription()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._stopping.wait(), timeout=min(0.2 * 2**failures, 5.0)
                    )
                continue
            idle_fetches = 0
            busy = True
            await self.handle_messages(messages)

    async def _current_subscription(self) -> JetStreamContext.PullSubscription:
        # nats-py pull subscriptions can stop receiving after a server restart: rebind after reconnects
        reconnects = self.nats.client.stats["reconnects"] if self.nats.client else 0
        if self._subscription is not None and reconnects != self._subscribed_at_reconnects:
            await self._drop_subscription()
        if self._subscription is None:
            await self.provision()
            self._subscription = await self.nats.jetstream().pull_subscribe_bind(
                durable=self.durable, stream=self.stream
            )
            self._subscribed_at_reconnects = reconnects
        return self._subscription

    async def _verify_consumer(self) -> None:
        """An idle consumer with pending messages, or one that vanished, is rebound."""
        try:
            info = await self.nats.jetstream().consumer_info(self.stream, self.durable)
            if info.num_pending and self._subscription is not None:
                log.warning(
                    "consumer %s: idle with %s pending; rebinding", self.durable, info.num_pending
                )
                await self._drop_subscription()
        except nats.js.errors.NotFoundError:
            await self._drop_subscription()
        except Exception as error:
            log.warning("consumer %s: consumer_info failed (%r)", self.durable, error)

    async def _drop_subscription(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._subscription.unsubscribe(), timeout=2)
            self._subscription = None

    # processing --------------------------------------------------------------------------------

    async def handle_messages(self, messages: Sequence[Msg]) -> None:
        items: list[_Item] = []
        for message in messages:
            try:
                item = self._decode(message)
            except PoisonEvent as error:
                await self._dead_letter(message, message.data, str(error), attempts=1)
                continue
            if item is None:
                await message.ack()  # an event type this consumer does not handle
            else:
                items.append(item)
        if not items:
            return
        keepalive = asyncio.create_task(self._keep_alive(items))
        try:
            # Apply the batch in one transaction; when an event fails, roll back, set it aside
            # (retry later or park it) and apply the rest again, so each delivery runs a handler once.
            pending = list(items)
            as_batch = self.subscription.batch_handler is not None
            while pending:
                try:
                    await self._apply(pending, as_batch=as_batch)
                except _BatchFailed:
                    as_batch = False
                    continue
                except _HandlerFailed as failure:
                    pending.remove(failure.item)
                    await self._failed(failure.item, failure.__cause__)
                    continue
                for item in pending:
                    await self._ack(item)
                pending = []
        finally:
            keepalive.cancel()

    def _decode(self, message: Msg) -> _Item | None:
        try:
            envelope = Envelope.from_json(message.data)
        except ValidationError as error:
            raise PoisonEvent(f"not a valid CloudEvent: {error}") from error
        try:
            if envelope.event_name not in self.subscription.handlers:
                return None
            event = self.subscription.registry.decode(envelope)
        except (UnknownEventType, ValidationError) as error:
            raise PoisonEvent(f"cannot decode {envelope.type}: {error}") from error
        return _Item(message, envelope, event)

    async def _apply(self, items: Sequence[_Item], *, as_batch: bool = False) -> None:
        name = self.durable
        async with self.engine.begin() as connection:
            driver = await driver_connection(connection)
            fresh_ids = {
                row[0]
                for row in await driver.fetch(
                    self._inbox_sql, name, [item.envelope.id for item in items]
                )
            }
            fresh = [item for item in items if item.envelope.id in fresh_ids]
            DUPLICATES.labels(name).inc(len(items) - len(fresh))
            batch_handler = self.subscription.batch_handler
            if as_batch and batch_handler is not None and fresh:
                try:
                    with tracer.start_as_current_span(
                        f"consume batch {self.durable}",
                        kind=trace.SpanKind.CONSUMER,
                        links=[_link(item) for item in fresh],
                        attributes={"messaging.batch.message_count": len(fresh)},
                    ):
                        await batch_handler(connection, [(i.envelope, i.event) for i in fresh])
                except Exception as error:
                    raise _BatchFailed() from error
            else:
                for item in fresh:
                    try:
                        await self._call_handler(connection, item)
                    except Exception as error:
                        raise _HandlerFailed(item) from error
        PROCESSED.labels(name).inc(len(fresh))
        if self.after_commit is not None:
            self.after_commit()

    async def _call_handler(self, connection: AsyncConnection, item: _Item) -> None:
        envelope = item.envelope
        carrier = {}
        headers = item.message.headers if item.message is not None else None
        traceparent = (headers or {}).get("traceparent") or envelope.traceparent
        if traceparent:
            carrier["traceparent"] = traceparent
        parent = propagate.extract(carrier)
        with (
            tracer.start_as_current_span(
                f"consume {envelope.event_name}",
                context=parent,
                kind=trace.SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "nats",
                    "messaging.consumer.group.name": self.durable,
                    "messaging.message.id": envelope.id,
                    "cloudevents.event_type": envelope.type,
                },
            ),
            event_context(correlation_id=envelope.correlationid, causation_id=envelope.id),
        ):
            await self.subscription.handlers[envelope.event_name](connection, envelope, item.event)

    async def _ack(self, item: _Item) -> None:
        if item.message is not None:
            with contextlib.suppress(Exception):  # a lost ack means a harmless redelivery
                await item.message.ack()

    async def _failed(self, item: _Item, error: BaseException | None) -> None:
        FAILURES.labels(self.durable).inc()
        message = item.message
        assert message is not None
        attempts = message.metadata.num_delivered or 1
        log.warning(
            "consumer %s: %s %s failed (attempt %s)",
            self.durable,
            item.envelope.type,
            item.envelope.id,
            attempts,
            exc_info=True,
        )
        if attempts >= self.subscription.max_attempts:
            await self._dead_letter(message, message.data, _describe(error), attempts)
            return
        backoff = self.subscription.backoff
        with contextlib.suppress(Exception):
            await message.nak(delay=backoff[min(attempts - 1, len(backoff) - 1)])

    async def _dead_letter(self, message: Msg, payload: bytes, error: str, attempts: int) -> None:
        try:
            event_id = Envelope.from_json(payload).id
        except ValidationError:
            event_id = (message.headers or {}).get("Nats-Msg-Id", "unknown")
        async with self.engine.begin() as connection:
            await connection.execute(
                self._dead_letter_sql,
                {
                    "consumer": self.durable,
                    "event_id": event_id,
                    "nats_subject": message.subject,
                    "payload": payload,
                    "error": error[:4000],
                    "attempts": attempts,
                },
            )
        DEAD_LETTERED.labels(self.durable).inc()
        log.error("consumer %s: event %s parked in dead_letter", self.durable, event_id)
        await message.ack()

    async def _keep_alive(self, items: Sequence[_Item]) -> None:
        """Tell JetStream a slow handler is still working, so the batch is not redelivered."""
        interval = max(self.subscription.ack_wait / 3, 0.5)
        while True:
            await asyncio.sleep(interval)
            for item in items:
                if item.message is not None:
                    with contextlib.suppress(Exception):
                        await item.message.in_progress()

    # dead letters: list and replay -------------------------------------------------------------

    async def dead_letters(self, *, include_replayed: bool = False) -> list[DeadLetter]:
        query = f'SELECT * FROM "{self.schema}".dead_letter WHERE consumer = :consumer'
        if not include_replayed:
            query += " AND replayed_at IS NULL"
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                text(query + " ORDER BY id"), {"consumer": self.durable}
            )
            return [DeadLetter(**{**row._mapping, "payload": bytes(row.payload)}) for row in rows]

    async def replay(self, dead_letter_id: int) -> None:
        """Run the handler again for a parked event (after a fix); marks it replayed on success."""
        s = self.schema
        async with self.engine.begin() as connection:
            row = (
                await connection.execute(
                    text(
                        f'SELECT payload FROM "{s}".dead_letter WHERE id = :id AND consumer = '
                        ":consumer AND replayed_at IS NULL FOR UPDATE"
                    ),
                    {"id": dead_letter_id, "consumer": self.durable},
                )
            ).first()
            if row is None:
                raise LookupError(f"no open dead letter {dead_letter_id} for {self.durable}")
            try:
                envelope = Envelope.from_json(bytes(row.payload))
                if envelope.event_name not in self.subscription.handlers:
                    raise PoisonEvent(f"{envelope.type} has no handler")
                item = _Item(None, envelope, self.subscription.registry.decode(envelope))
                async with connection.begin_nested():
                    driver = await driver_connection(connection)
                    if await driver.fetch(self._inbox_sql, self.durable, [envelope.id]):
                        await self._call_handler(connection, item)
            except Exception as error:
                await connection.execute(
                    text(f'UPDATE "{s}".dead_letter SET replay_error = :error WHERE id = :id'),
                    {"id": dead_letter_id, "error": repr(error)[:4000]},
                )
                raise
            await connection.execute(
                text(
                    f'UPDATE "{s}".dead_letter SET replayed_at = now(), replay_error = NULL '
                    "WHERE id = :id"
                ),
                {"id": dead_letter_id},
            )
        if self.after_commit is not None:
            self.after_commit()


def _link(item: _Item) -> trace.Link:
    """A link from a batch's span to the trace of one of its events."""
    carrier = {"traceparent": item.envelope.traceparent} if item.envelope.traceparent else {}
    context = trace.get_current_span(propagate.extract(carrier)).get_span_context()
    return trace.Link(context)


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "unknown error"
    return "".join(traceback.format_exception(error, limit=8))
