"""The dispatcher, a background component of the service: sends due messages to their endpoints,
records every attempt, retries on the schedule, disables endpoints that are gone or keep failing,
and purges old payloads. Every loop runs under the runtime's Supervisor (restarted if it ever
crashes). `components.components(deps, wiring)` gives it to the service definition when
BW_WEBHOOK_DISPATCH is on.

Delivery state lives in PostgreSQL (adapters/delivery_state.py). A message is claimed with
`FOR UPDATE SKIP LOCKED` (several replicas share the work) and its `next_attempt_at` moved to the
end of a lease; if the process dies mid-delivery the lease runs out and the message is due again:
at least once, the same `webhook-id` every time.

No head-of-line blocking: each claimed message is sent by a task of its own; an endpoint takes
at most `endpoint_concurrency` attempts at a time and `endpoint_rate_per_second` on average, and
endpoints at their limit are left out of the claim, so a hanging endpoint only delays itself.
Outcomes are written in batches by one recorder task. Fan-out, manual redeliveries and consent
watermarks wake the dispatcher through PostgreSQL NOTIFY; otherwise it sleeps until the next
message is due. A factory's event is due only while consent is current (adapters/consent.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from opentelemetry import propagate, trace
from prometheus_client import Counter, Histogram

from libs.domain.aggregate import Change
from libs.events.runtime import plain_dsn
from libs.events.supervisor import Supervisor
from services.notifications.adapters import delivery_state
from services.notifications.adapters.secretbox import SecretBox
from services.notifications.adapters.transport import WebhookClient, attempt
from services.notifications.commands import DisableEndpoint
from services.notifications.domain import signing
from services.notifications.domain.delivery import (
    Attempted,
    Claimed,
    Schedule,
    TokenBucket,
    endpoints_to_disable,
    judge,
)
from services.notifications.domain.messages import trace_carrier
from services.notifications.tables import DUE_CHANNEL

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

ATTEMPTS = Counter("bw_webhook_attempts_total", "Webhook delivery attempts", ["result"])
LATENCY = Histogram("bw_webhook_attempt_seconds", "Duration of webhook delivery attempts")
LATE_OUTCOMES = Counter(
    "bw_webhook_late_outcomes_total",
    "Attempt outcomes not applied: the message was claimed again after their lease ran out",
)
DISABLED = Counter("bw_webhook_endpoints_disabled_total", "Endpoints disabled", ["reason"])

RECORD_BATCH = 500
RECORD_INTERVAL_SECONDS = 0.01

Runner = Callable[[object], Awaitable[Change[Any]]]
"""Runs one of the service's commands through its registry (handlers.command_runner)."""


class Dispatcher:
    def __init__(
        self,
        *,
        database_url: str,
        run: Runner,
        box: SecretBox,
        client: WebhookClient,
        schedule: Schedule,
        supervisor: Supervisor,
        timeout_seconds: float = 15.0,
        endpoint_concurrency: int = 4,
        endpoint_rate_per_second: float = 50.0,
        max_in_flight: int = 512,
        poll_seconds: float = 1.0,
        retention_seconds: float = 30 * 86400.0,
        purge_interval_seconds: float = 3600.0,
        lease_margin_seconds: float = 30.0,
        consent_bound_seconds: float = 30.0,
    ) -> None:
        self.dsn = plain_dsn(database_url)
        self.run = run  # the service's commands (an endpoint's disable)
        self.box = box
        self.client = client
        self.schedule = schedule
        self.supervisor = supervisor
        self.timeout = timeout_seconds
        self.concurrency = endpoint_concurrency
        self.rate = endpoint_rate_per_second
        self.max_in_flight = max_in_flight
        self.poll_seconds = poll_seconds
        self.retention_seconds = retention_seconds
        self.purge_interval = purge_interval_seconds
        # a claimed message is due again this long after its attempt's timeout if nothing was
        # recorded: what a crash mid-delivery costs
        self.lease_margin = lease_margin_seconds
        # a factory's event is claimed only while the consent watermark is at most this old
        self.consent_bound = consent_bound_seconds
        self.wake = asyncio.Event()
        self.stopping = asyncio.Event()
        self.in_flight: dict[str, int] = defaultdict(int)
        self.buckets: dict[str, TokenBucket] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.outcomes: asyncio.Queue[Attempted] = asyncio.Queue()
        self._keys: dict[str, bytes] = {}
        self._pool: asyncpg.Pool | None = None
        self._supervised: list[Any] = []

    # lifecycle ---------------------------------------------------------------------------------

    async def connect(self) -> None:
        """The database pool, without the loops (start() runs those)."""
        self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4, command_timeout=30)

    async def start(self) -> None:
        self.stopping.clear()
        await self.connect()
        for name, loop in (
            ("webhook-dispatcher", self._dispatch),
            ("webhook-recorder", self._record),
            ("webhook-wakeups", self._listen),
            ("webhook-purge", self._purge),
        ):
            self._supervised.append(self.supervisor.start(name, loop, self.stopping))

    async def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        # attempts in flight get a moment to finish; the rest run out their lease and are retried
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=5)
            for task in self.tasks:
                task.cancel()
        for supervised in self._supervised:
            await self.supervisor.wait_stopped(supervised, timeout=10)
        self._supervised.clear()
        await self.client.aclose()
        if self._pool is not None:
            await asyncio.wait_for(self._pool.close(), timeout=10)
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "the dispatcher is not started"
        return self._pool

    # claiming ----------------------------------------------------------------------------------

    def _bucket(self, endpoint_id: str) -> TokenBucket:
        bucket = self.buckets.get(endpoint_id)
        if bucket is None:
            bucket = self.buckets[endpoint_id] = TokenBucket(self.rate)
        return bucket

    def _busy(self) -> list[str]:
        """Endpoints at their concurrency or rate limit: left out of the next claim."""
        busy = [e for e, count in self.in_flight.items() if count >= self.concurrency]
        for endpoint_id, bucket in list(self.buckets.items()):
            tokens = bucket.available()
            if tokens < 1:
                busy.append(endpoint_id)  # a repeat is harmless in `= ANY`
            elif tokens >= bucket.burst:
                # refilled: the same as a fresh bucket, so the dict holds only recent senders
                del self.buckets[endpoint_id]
        return busy

    async def claim(self) -> list[Claimed]:
        capacity = self.max_in_flight - len(self.tasks)
        if capacity <= 0:
            return []
        taken: dict[str, int] = defaultdict(int)

        def accept(endpoint_id: str) -> bool:
            """Within the endpoint's concurrency, counting what this claim took, and its rate."""
            if (
                self.in_flight.get(endpoint_id, 0) + taken[endpoint_id] < self.concurrency
                and self._bucket(endpoint_id).take()
            ):
                taken[endpoint_id] += 1
                return True
            return False

        async with self.pool.acquire() as connection, connection.transaction():
            claim = await delivery_state.claim(
                connection,
                busy=self._busy(),
                capacity=capacity,
                lease_seconds=self.timeout + self.lease_margin,
                accept=accept,
                consent_bound=self.consent_bound,
            )
        keys: dict[str, list[bytes]] = defaultdict(list)
        for secret in claim.secrets:
            keys[secret["endpoint_id"]].append(self._key(secret["secret_id"], secret["ciphertext"]))
        return [
            Claimed(
                message_id=row["message_id"],
                endpoint_id=row["endpoint_id"],
                url=row["url"],
                payload=bytes(row["payload"]),
                attempts=row["attempts"],
                round_attempts=row["round_attempts"],
                created_at=row["created_at"],
                keys=keys[row["endpoint_id"]],
                lease=claim.leases[row["message_id"]],
            )
            for row in claim.rows
        ]

    def _key(self, secret_id: str, ciphertext: bytes) -> bytes:
        key = self._keys.get(secret_id)
        if key is None:
            # a secret never changes under its id: decrypt it once
            key = self._keys[secret_id] = signing.secret_key(self.box.open(ciphertext))
        return key

    async def _dispatch(self) -> None:
        while not self.stopping.is_set():
            self.wake.clear()
            claimed = await self.claim()
            for message in claimed:
                self.in_flight[message.endpoint_id] += 1
                task = asyncio.create_task(self._send(message))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            if claimed:
                continue
            await self._sleep()

    async def _sleep(self) -> None:
        """Until woken (new messages, a freed slot) or the next message is due, at most a poll."""
        wait = self.poll_seconds
        if not self._busy():
            async with self.pool.acquire() as connection:
                due = await delivery_state.next_due(connection, self.consent_bound)
            if due is not None:
                wait = min(wait, max(0.0, (due - datetime.now(UTC)).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout=max(wait, 0.005))

    # sending -----------------------------------------------------------------------------------

    async def _send(self, message: Claimed) -> None:
        # the attempt continues the event's trace (the body is the CloudEvents document, with
        # its `traceparent`): HTTP command → outbox → NATS → fan-out → this delivery
        with tracer.start_as_current_span(
            "webhook deliver",
            context=propagate.extract(trace_carrier(message.payload)),
            kind=trace.SpanKind.CLIENT,
            attributes={
                "webhook.message_id": message.message_id,
                "webhook.endpoint_id": message.endpoint_id,
            },
        ) as span:
            status_code = await self._attempt(message)
            if status_code is not None:
                span.set_attribute("http.response.status_code", status_code)

    async def _attempt(self, message: Claimed) -> int | None:
        try:
            attempted = await attempt(self.client, message, self.timeout)
        finally:
            self.in_flight[message.endpoint_id] -= 1
            if self.in_flight[message.endpoint_id] <= 0:
                del self.in_flight[message.endpoint_id]
            self.wake.set()
        LATENCY.observe(attempted.latency_ms / 1000)
        self.outcomes.put_nowait(attempted)
        return attempted.status_code

    # recording ---------------------------------------------------------------------------------

    async def _record(self) -> None:
        batch: list[Attempted] = []
        while not (
            self.stopping.is_set() and self.outcomes.empty() and not self.tasks and not batch
        ):
            if not batch:
                try:
                    batch.append(await asyncio.wait_for(self.outcomes.get(), timeout=0.5))
                except TimeoutError:
                    continue
                await asyncio.sleep(RECORD_INTERVAL_SECONDS)  # let a batch gather
            while len(batch) < RECORD_BATCH and not self.outcomes.empty():
                batch.append(self.outcomes.get_nowait())
            # a failure restarts the task; those messages are sent again when their lease ends
            await self.write_outcomes(batch)
            batch = []

    async def write_outcomes(self, batch: list[Attempted]) -> None:
        """Log the attempts and apply each outcome that still holds its message's lease; then
        disable the endpoints those outcomes condemn."""
        verdicts = [judge(attempted, self.schedule) for attempted in batch]
        for verdict in verdicts:
            ATTEMPTS.labels(verdict.outcome.value).inc()
        async with self.pool.acquire() as connection, connection.transaction():
            applied = await delivery_state.record_outcomes(connection, batch, verdicts)
        if not all(applied):
            LATE_OUTCOMES.inc(applied.count(False))
        condemned = endpoints_to_disable(
            (attempted, verdict)
            for attempted, verdict, ok in zip(batch, verdicts, applied, strict=True)
            if ok
        )
        for endpoint_id, disabling in condemned.items():
            if disabling.reason == "failing":
                async with self.pool.acquire() as connection:
                    if await delivery_state.succeeded_since(
                        connection, endpoint_id, disabling.since
                    ):
                        continue  # it succeeded with other messages meanwhile: not dead
            change = await self.run(
                DisableEndpoint(
                    endpoint_id=endpoint_id, reason=disabling.reason, detail=disabling.detail
                )
            )
            if change.events:
                DISABLED.labels(disabling.reason).inc()
                log.warning("webhook endpoint %s disabled: %s", endpoint_id, disabling.detail)
        self.wake.set()

    # wake-ups and purge ------------------------------------------------------------------------

    async def _listen(self) -> None:
        connection = await asyncpg.connect(self.dsn, timeout=10)
        try:
            await connection.add_listener(DUE_CHANNEL, lambda *_args: self.wake.set())
            self.wake.set()  # anything queued while we were not listening
            while not self.stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), timeout=5)
                await asyncio.wait_for(connection.execute("SELECT 1"), timeout=5)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), timeout=5)

    async def purge_once(self) -> int:
        """Drop the payloads past retention (how many) and the held events past their window."""
        async with self.pool.acquire() as connection:
            return await delivery_state.purge(connection, self.retention_seconds)

    async def _purge(self) -> None:
        while not self.stopping.is_set():
            purged = await self.purge_once()
            if purged:
                log.info("purged the payloads of %d messages past retention", purged)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=self.purge_interval)
