"""The consumer runner: durable JetStream pull consumers with explicit ack after the handler's
transaction commits, an inbox for exactly-once effect, bounded retries, and a dead-letter store.

A fetched batch is applied in one transaction (fast path). If anything in it fails, the batch is rolled
back and each message is retried on its own, so one poison event cannot hold back the others. With
`lanes` > 1 a fetched batch is split by the events' CloudEvents `subject` (the aggregate they are
about) into that many parts, applied concurrently, each in its own transaction: one subject's
events stay in one lane, in order.

An infrastructure fault (the database or NATS unreachable, a connection lost or a server restarting,
wherever it happens: begin, inbox, handler, commit, dead-letter write, ack) never ends the runner and
never counts as a handler failure: the runner keeps the fetched messages in progress, backs off
(capped, jittered) and applies them again once the servers answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry import propagate, trace
from prometheus_client import Counter, Gauge
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.domain.envelope import (
    DomainEvent,
    Envelope,
    EventRegistry,
    UnknownEventType,
    consumed_context,
    in_context,
)
from libs.events.faults import is_infrastructure_error
from libs.events.nats import NatsConnection, stream_name
from libs.events.store import checked_schema, driver_connection
from libs.events.supervisor import SupervisedTask, Supervisor, backoff_delay

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Handler = Callable[[AsyncConnection, Envelope, DomainEvent], Awaitable[None]]
BatchHandler = Callable[[AsyncConnection, Sequence[tuple[Envelope, DomainEvent]]], Awaitable[None]]

# How long a busy consumer's fetch waits for messages beyond those already there.
BUSY_FETCH_SECONDS = 0.01
# The same when the last message fetched said more are pending (a backlog). nats-py's fetch gives
# the whole batch this long from its start, so on a busy event loop 10 ms cut backlog batches to a
# few messages each (a transaction per handful of events). With messages pending, its no-wait
# probe is answered at once with what the server has, so the longer bound is not waited out.
BACKLOG_FETCH_SECONDS = 0.25

PROCESSED = Counter("bw_consumer_events_total", "Events applied", ["consumer"])
DUPLICATES = Counter("bw_consumer_duplicates_total", "Redelivered events skipped", ["consumer"])
FAILURES = Counter("bw_consumer_failures_total", "Handler failures", ["consumer"])
DEAD_LETTERED = Counter("bw_consumer_dead_letters_total", "Events parked", ["consumer"])
INFRASTRUCTURE_ERRORS = Counter(
    "bw_consumer_infrastructure_errors_total",
    "Batches set back by a database or NATS fault (retried, never parked)",
    ["consumer"],
)
PENDING = Gauge(
    "bw_consumer_pending_events",
    "Events not yet acknowledged by the durable consumer (JetStream pending + ack pending)",
    ["consumer"],
)
LAST_PROCESSED = Gauge(
    "bw_consumer_last_processed_timestamp_seconds",
    "Unix time at which the consumer last applied an event",
    ["consumer"],
)

# Backoff while the database or NATS is unreachable: short at first, never long, so that events
# flow again within seconds of recovery.
INFRASTRUCTURE_BACKOFF_INITIAL = 0.1
INFRASTRUCTURE_BACKOFF_CAP = 5.0
# Handler failures are remembered per event id (for the attempt count) up to this many events.
MAX_TRACKED_FAILURES = 10_000


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
    # handler failures of one event (counted by this process; infrastructure faults do not count)
    # before it is parked in the dead-letter store
    max_attempts: int = 5
    backoff: Sequence[float] = (1.0, 5.0, 30.0, 120.0)
    ack_wait: float = 30.0
    batch_size: int = 200
    batch_handler: BatchHandler | None = None
    # parts of a fetched batch applied at once (by subject, each in its own transaction), so one
    # part's CPU overlaps another's database round trips; the handlers must then not depend on
    # the order of events about different subjects
    lanes: int = 1
    # event names whose handlers are idempotent by themselves (a watermark: the newest wins), so
    # their ids are not kept in the inbox, which would otherwise grow by one row per watermark
    idempotent_events: frozenset[str] = frozenset()


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
        supervisor: Supervisor | None = None,
        stream_replicas: int = 1,
    ) -> None:
        self.engine = engine
        # a consumer that starts before the producer creates its stream, with the same replicas
        self.stream_replicas = stream_replicas
        self.schema = checked_schema(schema)
        self.nats = nats
        self.subscription = subscription
        self.subject_prefix = subject_prefix
        self.fetch_timeout = fetch_timeout
        self.after_commit = after_commit
        self.supervisor = supervisor or Supervisor()
        self.stream = stream_name(subject_prefix, subscription.source_service)
        self.durable = (subject_prefix.replace(".", "_") + subscription.durable).lower()
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._subscribed_at_reconnects = -1
        self._stopping = asyncio.Event()
        self._task: SupervisedTask | None = None
        # handler failures per event id: what bounds the attempts (JetStream's delivery count
        # also counts redeliveries caused by infrastructure faults, which must not park events)
        self._handler_failures: dict[str, int] = {}
        # progress, for readiness: when the runner last settled a message or found none waiting
        self.last_progress_at = time.monotonic()
        # events the durable consumer has not had acknowledged yet, as last polled (see poll_lag)
        self.pending: int | None = None
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

    @property
    def task_name(self) -> str:
        return f"consumer-{self.durable}"

    @property
    def running(self) -> bool:
        return self._task is not None and self._task.running

    async def start(self) -> None:
        self._stopping.clear()
        self.last_progress_at = time.monotonic()
        self._task = self.supervisor.start(self.task_name, self._run, self._stopping)

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop fetching, let the batch in flight finish and acknowledge, then unsubscribe."""
        self._stopping.set()
        if self._task is not None:
            await self.supervisor.wait_stopped(self._task, timeout)
            self._task = None
        await self._drop_subscription()

    async def provision(self) -> None:
        """Create the producer's stream and this durable consumer if missing (idempotent)."""
        await self.nats.ensure_stream(
            self.subject_prefix, self.subscription.source_service, replicas=self.stream_replicas
        )
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

    async def poll_lag(self) -> int:
        """Ask JetStream how many events this consumer still has to settle; kept in `pending`
        and in the `bw_consumer_pending_events` gauge."""
        info = await self.nats.jetstream().consumer_info(self.stream, self.durable)
        self.pending = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
        PENDING.labels(self.durable).set(self.pending)
        return self.pending

    def stalled_for(self) -> float:
        """Seconds since the runner last made progress, or 0 when it has nothing to do."""
        if not self.pending:
            return 0.0
        return time.monotonic() - self.last_progress_at

    # the loop ----------------------------------------------------------------------------------

    async def _run(self) -> None:
        idle_fetches = 0
        failures = 0
        busy = False
        backlog = False
        while not self._stopping.is_set():
            try:
                subscription = await self._current_subscription()
                # A nats-py fetch that long-polls keeps the first message until its batch fills
                # or it expires. So an idle consumer waits for one message (returned as soon as
                # it arrives), and a busy one takes whatever is there with a short expiry.
                if busy:
                    messages = await subscription.fetch(
                        self.subscription.batch_size,
                        timeout=BACKLOG_FETCH_SECONDS if backlog else BUSY_FETCH_SECONDS,
                    )
                else:
                    messages = await subscription.fetch(1, timeout=self.fetch_timeout)
                    if _more_pending(messages[-1]):
                        # a burst (an assessment's completion and its findings): the rest joins
                        # the first in one batch instead of waiting for its transaction
                        messages += await self._follow_up(subscription)
                failures = 0
            except (nats.errors.TimeoutError, TimeoutError):
                # an idle fetch (nats-py raises either kind); not a failure
                if busy:
                    busy = backlog = False
                    continue
                self.last_progress_at = time.monotonic()  # caught up: nothing was waiting
                idle_fetches += 1
                if idle_fetches % 5 == 0:
                    await self._verify_consumer()
                continue
            except Exception as error:  # connection lost, consumer gone, server restarting
                failures += 1
                log.warning("consumer %s: fetch failed (%r); resubscribing", self.durable, error)
                await self._drop_subscription()
                await self._pause(
                    backoff_delay(failures, initial=0.2, cap=INFRASTRUCTURE_BACKOFF_CAP)
                )
                continue
            idle_fetches = 0
            busy = True
            backlog = _more_pending(messages[-1])
            await self.handle_in_lanes(messages)

    async def _follow_up(self, subscription: JetStreamContext.PullSubscription) -> list[Msg]:
        """What else is pending right now (none if the fetch fails: the first is handled alone,
        and a lost connection shows in its handling)."""
        try:
            return list(
                await subscription.fetch(
                    self.subscription.batch_size - 1, timeout=BACKLOG_FETCH_SECONDS
                )
            )
        except Exception:
            return []

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds`, or less if the runner is asked to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

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

    async def handle_in_lanes(self, messages: Sequence[Msg]) -> None:
        """`handle_messages` on the batch, or on its parts by subject, concurrently."""
        lanes = self.subscription.lanes
        if lanes <= 1 or len(messages) < 2:
            await self.handle_messages(messages)
            return
        parts: list[list[Msg]] = [[] for _ in range(lanes)]
        for message in messages:
            parts[hash(_subject_of(message)) % lanes].append(message)
        await asyncio.gather(*(self.handle_messages(part) for part in parts if part))

    async def handle_messages(self, messages: Sequence[Msg]) -> None:
        """Settle every message (applied and acknowledged, retried later, or parked). Never
        raises: an infrastructure fault is waited out with the messages kept in progress."""
        unsettled = list(messages)
        keepalive = asyncio.create_task(self._keep_alive(unsettled))
        failures = 0
        try:
            while unsettled:
                try:
                    await self._settle(unsettled)
                except Exception as error:
                    failures += 1
                    INFRASTRUCTURE_ERRORS.labels(self.durable).inc()
                    log.warning(
                        "consumer %s: %d event(s) not settled (%r); retrying (%d)",
                        self.durable,
                        len(unsettled),
                        error,
                        failures,
                    )
                    if self._stopping.is_set():
                        break
                    await self._pause(
                        backoff_delay(
                            failures,
                            initial=INFRASTRUCTURE_BACKOFF_INITIAL,
                            cap=INFRASTRUCTURE_BACKOFF_CAP,
                        )
                    )
                    if self._stopping.is_set():
                        break
        finally:
            keepalive.cancel()
        for message in unsettled:  # stopping mid-fault: hand them back for a prompt redelivery
            with contextlib.suppress(Exception):
                await message.nak()

    async def _settle(self, unsettled: list[Msg]) -> None:
        """One attempt at the messages of `unsettled`, removing each one as it is settled.
        Raises on an infrastructure fault, leaving the rest in `unsettled`."""
        items: list[_Item] = []
        for message in list(unsettled):
            try:
                item = self._decode(message)
            except PoisonEvent as error:
                await self._dead_letter(message, message.data, str(error), attempts=1)
                unsettled.remove(message)
                continue
            if item is None:
                await self._ack_message(message)  # an event type this consumer does not handle
                unsettled.remove(message)
            else:
                items.append(item)
        # Apply the batch in one transaction; when an event fails, roll back, set it aside
        # (retry later or park it) and apply the rest again, so each delivery runs a handler once.
        pending = items
        as_batch = self.subscription.batch_handler is not None
        while pending:
            try:
                await self._apply(pending, as_batch=as_batch)
            except _BatchFailed as failure:
                if is_infrastructure_error(failure.__cause__):
                    raise
                as_batch = False
                continue
            except _HandlerFailed as failure:
                if is_infrastructure_error(failure.__cause__):
                    raise
                await self._failed(failure.item, failure.__cause__)
                pending = [item for item in pending if item is not failure.item]
                assert failure.item.message is not None
                unsettled.remove(failure.item.message)
                continue
            for item in pending:
                await self._ack(item)
            applied = {id(item.message) for item in pending}
            unsettled[:] = [message for message in unsettled if id(message) not in applied]
            if self._handler_failures:
                for item in pending:
                    self._handler_failures.pop(item.envelope.id, None)
            pending = []

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
            idempotent = self.subscription.idempotent_events
            fresh_ids = {
                row[0]
                for row in await driver.fetch(
                    self._inbox_sql,
                    name,
                    [
                        item.envelope.id
                        for item in items
                        if item.envelope.event_name not in idempotent
                    ],
                )
            }
            # the same event twice in one fetch (published again after JetStream's duplicate
            # window): the inbox returns its id once, and it takes effect once
            seen: set[str] = set()
            fresh = []
            for item in items:
                event_id = item.envelope.id
                if event_id in seen:
                    continue
                if event_id in fresh_ids or item.envelope.event_name in idempotent:
                    seen.add(event_id)
                    fresh.append(item)
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
        # counted once committed: a rolled-back attempt neither processed nor skipped anything
        DUPLICATES.labels(name).inc(len(items) - len(fresh))
        PROCESSED.labels(name).inc(len(fresh))
        self.last_progress_at = time.monotonic()
        LAST_PROCESSED.labels(name).set(time.time())
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
            in_context(consumed_context(envelope)),
        ):
            await self.subscription.handlers[envelope.event_name](connection, envelope, item.event)

    async def _ack(self, item: _Item) -> None:
        if item.message is not None:
            await self._ack_message(item.message)

    async def _ack_message(self, message: Msg) -> None:
        with contextlib.suppress(Exception):  # a lost ack means a harmless redelivery
            await message.ack()

    async def _failed(self, item: _Item, error: BaseException | None) -> None:
        """A handler failed on its own account: retry later with backoff, or park the event."""
        FAILURES.labels(self.durable).inc()
        message = item.message
        assert message is not None
        event_id = item.envelope.id
        attempts = self._handler_failures.pop(event_id, 0) + 1
        log.warning(
            "consumer %s: %s %s failed (attempt %s)",
            self.durable,
            item.envelope.type,
            event_id,
            attempts,
            exc_info=error,
        )
        if attempts >= self.subscription.max_attempts:
            try:
                await self._dead_letter(message, message.data, _describe(error), attempts)
            except Exception:
                self._handler_failures[event_id] = attempts - 1  # this attempt runs again
                raise
            return
        self._handler_failures[event_id] = attempts
        if len(self._handler_failures) > MAX_TRACKED_FAILURES:
            # forget the oldest (dicts keep insertion order): at worst it is retried longer
            del self._handler_failures[next(iter(self._handler_failures))]
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
        self.last_progress_at = time.monotonic()
        log.error("consumer %s: event %s parked in dead_letter", self.durable, event_id)
        await self._ack_message(message)

    async def _keep_alive(self, messages: Sequence[Msg]) -> None:
        """Tell JetStream a slow handler (or a batch waiting out a fault) is still being worked
        on, so it is not redelivered to another replica meanwhile."""
        interval = max(self.subscription.ack_wait / 3, 0.5)
        while True:
            await asyncio.sleep(interval)
            for message in list(messages):
                with contextlib.suppress(Exception):
                    await message.in_progress()

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
        """Run the handler again for a parked event (after a fix); marks it replayed on success.

        A replay that fails again keeps the event parked and records why in `replay_error`
        (committed, then the error is raised to the caller)."""
        s = self.schema
        failure: Exception | None = None
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
                # the handler's writes and the inbox row live in a savepoint, so a failure
                # undoes them and leaves the transaction usable for recording the error
                async with connection.begin_nested():
                    driver = await driver_connection(connection)
                    if envelope.event_name in self.subscription.idempotent_events or (
                        await driver.fetch(self._inbox_sql, self.durable, [envelope.id])
                    ):
                        await self._call_handler(connection, item)
            except Exception as error:
                if is_infrastructure_error(error):
                    raise  # nothing can be recorded; the dead letter stays as it was
                failure = error
                await connection.execute(
                    text(f'UPDATE "{s}".dead_letter SET replay_error = :error WHERE id = :id'),
                    {"id": dead_letter_id, "error": _describe(error)[:4000]},
                )
            else:
                await connection.execute(
                    text(
                        f'UPDATE "{s}".dead_letter SET replayed_at = now(), replay_error = NULL '
                        "WHERE id = :id"
                    ),
                    {"id": dead_letter_id},
                )
        if failure is not None:
            raise failure
        if self.after_commit is not None:
            self.after_commit()


def _subject_of(message: Msg) -> str:
    """The event's CloudEvents subject, read without decoding the event ("" if it has none or is
    not an envelope: such messages share a lane and are judged there)."""
    try:
        subject = json.loads(message.data).get("subject")
    except (ValueError, AttributeError):
        return ""
    return subject if isinstance(subject, str) else ""


def _more_pending(message: Msg) -> bool:
    """Whether JetStream said, delivering `message`, that more messages wait for this consumer."""
    try:
        return message.metadata.num_pending > 0
    except Exception:  # not a JetStream delivery (no metadata in its reply subject)
        return False


def _link(item: _Item) -> trace.Link:
    """A link from a batch's span to the trace of one of its events."""
    carrier = {"traceparent": item.envelope.traceparent} if item.envelope.traceparent else {}
    context = trace.get_current_span(propagate.extract(carrier)).get_span_context()
    return trace.Link(context)


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "unknown error"
    return "".join(traceback.format_exception(error, limit=8))


Reaction = Callable[[Any, Any, Envelope, Any], Awaitable[None]]
"""`async def on_x(deps, connection, envelope, event)`: a service's reaction to an upstream event,
run on the consumer's connection inside its transaction (so the inbox row and the reaction's
effects commit together)."""

Reactions = Mapping[str, tuple[type[DomainEvent], Reaction]]
"""A service's EVENT_HANDLERS: by the producer's event name, its copy of the event and the
reaction to it."""


def bind_reactions(deps: Any, reactions: Reactions) -> dict[str, Handler]:
    """The reactions as a `Subscription`'s handlers: bound to the service's dependencies, each
    checking it got the event it was written for."""

    def bind(event_type: type[DomainEvent], reaction: Reaction) -> Handler:
        async def handle(connection: Any, envelope: Envelope, event: DomainEvent) -> None:
            if not isinstance(event, event_type):
                raise TypeError(f"{envelope.type} decoded as {type(event).__name__}")
            await reaction(deps, connection, envelope, event)

        return handle

    return {name: bind(event_type, reaction) for name, (event_type, reaction) in reactions.items()}
