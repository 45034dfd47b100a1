"""The outbox relay: publishes committed outbox entries to JetStream, then deletes them.

Entries are claimed by row lock, not by following a position, so a transaction that commits late is
still relayed. Each stream's events reach NATS in version order (see `OutboxRelay` for why); only one
relay instance publishes at a time (a transaction-scoped advisory lock); `Nats-Msg-Id` = event id
lets JetStream drop the re-publication that follows a crash between publish and delete. A database or
NATS fault never ends the relay: it backs off (capped, jittered) and tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from nats.js.api import PubAck
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.nats import NatsConnection
from libs.events.store import checked_schema, driver_connection
from libs.events.supervisor import SupervisedTask, Supervisor, backoff_delay

log = logging.getLogger(__name__)

RELAYED = Counter("bw_outbox_relayed_total", "Outbox entries published to JetStream", ["schema"])
RELAY_ERRORS = Counter("bw_outbox_relay_errors_total", "Failed relay batches", ["schema"])
RELAY_BATCH_SECONDS = Histogram("bw_outbox_relay_batch_seconds", "Relay batch duration", ["schema"])
BACKLOG = Gauge("bw_outbox_backlog", "Outbox entries not yet published", ["schema"])
OLDEST_AGE = Gauge(
    "bw_outbox_oldest_entry_age_seconds", "Age of the oldest unpublished outbox entry", ["schema"]
)

WATERMARKS = Counter(
    "bw_outbox_watermarks_total", "Watermarks published after a drained outbox", ["schema"]
)


@dataclass(frozen=True)
class Watermark:
    """A message the relay publishes on `subject` (without the subject prefix) at most every
    `every` seconds, after it has drained the outbox: `message(as_of)` says "every event this
    service committed before `as_of` is on the stream before this message". A consumer that has
    applied a watermark knows the producer's state as of that time (notifications' consent check:
    docs/notifications.md). Each watermark replaces the last on its subject (`Nats-Rollup`), so the
    stream keeps one."""

    subject: str
    every: float
    message: Callable[[datetime], bytes]


# Backoff after a failed round: short at first and never long, so that events flow again within
# seconds of the database or NATS coming back.
FAILURE_BACKOFF_INITIAL = 0.1
FAILURE_BACKOFF_CAP = 5.0


class OutboxRelay:
    """Drains a service's outbox to NATS; woken by LISTEN/NOTIFY and in-process signals.

    Per-stream order: appends to one stream serialise on its stream row (the append's upsert locks
    it until commit, and the outbox rows are inserted after it), so version k+1 of a stream gets
    its outbox id only after version k committed: within a stream, id order is version order, and
    whenever k+1 is visible, k is visible too or already taken. Every batch therefore takes the
    lowest ids that are visible at that moment, never "after the last id taken" (that would let
    k+1 through while a late-committing k waits below); batches of a round are published in id
    order on one connection, rounds are serialised by the advisory lock, and a round's deletes
    commit only after JetStream acknowledged all of it.
    """

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        schema: str,
        nats: NatsConnection,
        listen_dsn: str | None = None,
        batch_size: int = 500,
        batches_per_round: int = 6,
        poll_interval: float = 1.0,
        publish_timeout: float = 10.0,
        supervisor: Supervisor | None = None,
        watermark: Watermark | None = None,
        subject_prefix: str = "",
    ) -> None:
        self.engine = engine
        self.schema = checked_schema(schema)
        self.nats = nats
        self.listen_dsn = listen_dsn
        self.batch_size = batch_size
        self.batches_per_round = batches_per_round
        self.poll_interval = poll_interval
        self.publish_timeout = publish_timeout
        self.channel = f"{self.schema}_outbox"
        self._lock_key = zlib.crc32(f"outbox-relay:{self.schema}".encode())
        self.supervisor = supervisor or Supervisor()
        self.watermark = watermark
        self.watermark_subject = f"{subject_prefix}{watermark.subject}" if watermark else ""
        self._last_watermark = float("-inf")
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: SupervisedTask | None = None
        self._listener: asyncpg.Connection | None = None
        # progress, for readiness: when a round last succeeded (even an empty one)
        self.last_progress_at = time.monotonic()
        # unpublished outbox entries, as last polled (see poll_backlog)
        self.backlog: int | None = None
        s = self.schema
        # One statement takes a batch: it holds the relay lock (a transaction-scoped advisory
        # lock, so one instance publishes at a time), locks and deletes the lowest visible ids
        # (our own earlier deletes are invisible to us, so each batch continues where the last
        # one stopped, yet picks up a lower id that committed meanwhile: see the class doc), and
        # returns them. Losing the round's deletes in a database crash only re-publishes entries
        # that JetStream (by Nats-Msg-Id) and the consumers' inboxes de-duplicate, so its commit
        # does not wait for the WAL flush.
        self._take_sql = f"""
            DELETE FROM "{s}".outbox WHERE id IN (
                SELECT id FROM "{s}".outbox
                WHERE (
                    SELECT pg_try_advisory_xact_lock($2)
                           AND set_config('synchronous_commit', 'off', true) = 'off'
                )
                ORDER BY id LIMIT $1 FOR UPDATE
            )
            RETURNING id, event_id::text, nats_subject, payload, traceparent
            """
        self._backlog_sql = f"""
            SELECT count(*), extract(epoch FROM now() - min(created_at)) FROM "{s}".outbox
            """

    def wake(self) -> None:
        self._wake.set()

    @property
    def listening(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    @property
    def task_name(self) -> str:
        return f"outbox-relay-{self.schema}"

    @property
    def running(self) -> bool:
        return self._task is not None and self._task.running

    async def start(self) -> None:
        self._stopping.clear()
        self.last_progress_at = time.monotonic()
        self._task = self.supervisor.start(self.task_name, self._run, self._stopping)

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self.supervisor.wait_stopped(self._task, self.publish_timeout + 5)
            self._task = None
        await self._close_listener()

    async def poll_backlog(self) -> int:
        """Count the unpublished entries; kept in `backlog` and in the `bw_outbox_backlog` and
        `bw_outbox_oldest_entry_age_seconds` gauges."""
        async with self.engine.connect() as connection:
            driver = await driver_connection(connection)
            row = await driver.fetchrow(self._backlog_sql)
        assert row is not None
        self.backlog = int(row[0])
        BACKLOG.labels(self.schema).set(self.backlog)
        OLDEST_AGE.labels(self.schema).set(float(row[1] or 0.0))
        return self.backlog

    def stalled_for(self) -> float:
        """Seconds since the relay last completed a round, or 0 when the outbox is empty."""
        if not self.backlog:
            return 0.0
        return time.monotonic() - self.last_progress_at

    async def relay_batch(self) -> int:
        """Publish one round of up to `batches_per_round` batches; returns how many entries were
        published (0: the outbox is empty, or another relay instance is publishing)."""
        js = self.nats.jetstream()
        started = time.perf_counter()
        acks: list[asyncio.Future[PubAck]] = []
        async with self.engine.begin() as connection:
            driver = await driver_connection(connection)
            # Pipelined: while JetStream acknowledges one batch, the next is taken; the deletes
            # commit only after every message of the round is acknowledged, else roll back.
            for _ in range(self.batches_per_round):
                taken = await driver.fetch(self._take_sql, self.batch_size, self._lock_key)
                rows = sorted(taken, key=lambda row: int(row[0]))  # RETURNING has no order
                for row in rows:
                    headers = {"Nats-Msg-Id": row[1]}
                    if row[4]:
                        headers["traceparent"] = row[4]
                    acks.append(await js.publish_async(row[2], row[3], headers=headers))
                if len(rows) < self.batch_size:
                    # drained what was visible: a watermark may follow
                    await self._publish_watermark(driver, acks)
                    break
            if not acks:
                return 0
            await asyncio.wait_for(asyncio.gather(*acks), timeout=self.publish_timeout)
            await self._before_commit(len(acks))
        RELAYED.labels(self.schema).inc(len(acks))
        RELAY_BATCH_SECONDS.labels(self.schema).observe(time.perf_counter() - started)
        return len(acks)

    async def _publish_watermark(
        self, driver: asyncpg.Connection, acks: list[asyncio.Future[PubAck]]
    ) -> None:
        """When one is due, and only while this instance holds the relay lock (another instance
        may have taken entries it has not published yet): read the time, take what committed
        before it, publish that, wait for JetStream to acknowledge everything of the round, and
        only then publish the watermark as of that time."""
        if self.watermark is None:
            return
        if time.monotonic() - self._last_watermark < self.watermark.every:
            return
        if not await driver.fetchval("SELECT pg_try_advisory_xact_lock($1)", self._lock_key):
            return
        js = self.nats.jetstream()
        while True:
            as_of: datetime = await driver.fetchval("SELECT statement_timestamp()")
            taken = await driver.fetch(self._take_sql, self.batch_size, self._lock_key)
            for row in sorted(taken, key=lambda row: int(row[0])):
                headers = {"Nats-Msg-Id": row[1]}
                if row[4]:
                    headers["traceparent"] = row[4]
                acks.append(await js.publish_async(row[2], row[3], headers=headers))
            if not taken:
                break  # everything committed before as_of is in this round or published before
        if acks:
            await asyncio.wait_for(asyncio.gather(*acks), timeout=self.publish_timeout)
        await js.publish(
            self.watermark_subject,
            self.watermark.message(as_of),
            timeout=self.publish_timeout,
            headers={"Nats-Msg-Id": f"watermark-{as_of.isoformat()}", "Nats-Rollup": "sub"},
        )
        self._last_watermark = time.monotonic()
        WATERMARKS.labels(self.schema).inc()

    async def _before_commit(self, published: int) -> None:
        """Called once a round is acknowledged by JetStream and before its deletes commit (a
        test's relay process stops here to be killed at exactly that point)."""

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                await self._ensure_listener()
                self._wake.clear()
                published = await self.relay_batch()
                failures = 0
                self.last_progress_at = time.monotonic()
            except Exception as error:  # any failure: the round rolled back and will be retried
                failures += 1
                RELAY_ERRORS.labels(self.schema).inc()
                log.warning("outbox relay %s: round failed (%r), retrying", self.schema, error)
                await self._sleep(
                    backoff_delay(
                        failures, initial=FAILURE_BACKOFF_INITIAL, cap=FAILURE_BACKOFF_CAP
                    )
                )
                continue
            if published >= self.batch_size:
                continue  # more may be waiting
            await self._sleep(
                min(self.poll_interval, self.watermark.every)
                if self.watermark
                else self.poll_interval
            )

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _ensure_listener(self) -> None:
        """LISTEN on the service's channel so appends from other processes wake this relay."""
        if self.listen_dsn is None:
            return
        if self.listening:
            return
        await self._close_listener()  # a listener whose connection was lost
        try:
            self._listener = await asyncpg.connect(self.listen_dsn, timeout=5)
            await self._listener.add_listener(self.channel, self._on_notify)
        except Exception as error:  # unreachable, refused, starting up: poll meanwhile
            log.warning("outbox relay %s: LISTEN failed (%r); polling", self.schema, error)
            await self._close_listener()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(listener.close(), timeout=5)
