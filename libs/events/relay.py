"""The outbox relay: publishes committed outbox entries to JetStream, then deletes them.

Entries are claimed by row lock, not by following a position, so a transaction that commits late is
still relayed. Only one relay instance publishes at a time (a transaction-scoped advisory lock), which
keeps each stream's events in order on NATS; `Nats-Msg-Id` = event id lets JetStream drop the
re-publication that follows a crash between publish and delete.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib

import asyncpg
from nats.js.api import PubAck
from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.nats import NatsConnection
from libs.events.store import checked_schema, driver_connection

log = logging.getLogger(__name__)

RELAYED = Counter("bw_outbox_relayed_total", "Outbox entries published to JetStream", ["schema"])
RELAY_ERRORS = Counter("bw_outbox_relay_errors_total", "Failed relay batches", ["schema"])
RELAY_BATCH_SECONDS = Histogram("bw_outbox_relay_batch_seconds", "Relay batch duration", ["schema"])


class OutboxRelay:
    """Drains a service's outbox to NATS; woken by LISTEN/NOTIFY and in-process signals."""

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
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None
        s = self.schema
        # One statement takes a batch: it holds the relay lock (a transaction-scoped advisory
        # lock, so one instance publishes at a time, in order), locks and deletes the rows, and
        # returns them. A round takes forward from the last id it took; the next round starts over
        # from the lowest id, so a transaction that committed late is picked up then. Losing the
        # round's deletes in a database crash only re-publishes entries that JetStream (by
        # Nats-Msg-Id) and the consumers' inboxes de-duplicate, so its commit does not wait for
        # the WAL flush.
        self._take_sql = f"""
            DELETE FROM "{s}".outbox WHERE id IN (
                SELECT id FROM "{s}".outbox
                WHERE id > $1 AND (
                    SELECT pg_try_advisory_xact_lock($3)
                           AND set_config('synchronous_commit', 'off', true) = 'off'
                )
                ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
            )
            RETURNING id, event_id::text, nats_subject, payload, traceparent
            """

    def wake(self) -> None:
        self._wake.set()

    @property
    def listening(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.schema}")

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=self.publish_timeout + 5)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        await self._close_listener()

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
            after = 0
            for _ in range(self.batches_per_round):
                taken = await driver.fetch(self._take_sql, after, self.batch_size, self._lock_key)
                rows = sorted(taken, key=lambda row: int(row[0]))  # RETURNING has no order
                for row in rows:
                    headers = {"Nats-Msg-Id": row[1]}
                    if row[4]:
                        headers["traceparent"] = row[4]
                    acks.append(await js.publish_async(row[2], row[3], headers=headers))
                if len(rows) < self.batch_size:
                    break
                after = rows[-1][0]
            if not acks:
                return 0
            await asyncio.wait_for(asyncio.gather(*acks), timeout=self.publish_timeout)
        RELAYED.labels(self.schema).inc(len(acks))
        RELAY_BATCH_SECONDS.labels(self.schema).observe(time.perf_counter() - started)
        return len(acks)

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            await self._ensure_listener()
            self._wake.clear()
            try:
                published = await self.relay_batch()
                failures = 0
            except Exception as error:  # any failure: the batch rolled back and will be retried
                failures += 1
                RELAY_ERRORS.labels(self.schema).inc()
                log.warning("outbox relay %s: batch failed (%s), retrying", self.schema, error)
                await self._sleep(min(0.1 * 2**failures, 5.0))
                continue
            if published >= self.batch_size:
                continue  # more may be waiting
            await self._sleep(self.poll_interval)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _ensure_listener(self) -> None:
        """LISTEN on the service's channel so appends from other processes wake this relay."""
        if self.listen_dsn is None:
            return
        if self.listening:
            return
        try:
            self._listener = await asyncpg.connect(self.listen_dsn, timeout=5)
            await self._listener.add_listener(self.channel, self._on_notify)
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            log.warning("outbox relay %s: LISTEN failed (%s); polling", self.schema, error)
            self._listener = None

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _close_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._listener.close(), timeout=5)
        self._listener = None
