"""The dispatcher: sends due messages to their endpoints, records every attempt, retries on the
schedule, disables endpoints that are gone or keep failing, and purges old payloads. Every loop
runs under the runtime's Supervisor (restarted if it ever crashes).

Delivery state lives in PostgreSQL. A message is claimed with `FOR UPDATE SKIP LOCKED` (several
replicas share the work) and its `next_attempt_at` moved to the end of a lease; if the process
dies mid-delivery the lease runs out and the message is due again: at least once, the same
`webhook-id` every time.

No head-of-line blocking: each claimed message is sent by a task of its own; an endpoint takes
at most `endpoint_concurrency` attempts at a time and `endpoint_rate_per_second` on average, and
endpoints at their limit are left out of the claim, so a hanging endpoint only delays itself.
Outcomes are written in batches by one recorder task. Fan-out and manual redeliveries wake the
dispatcher through PostgreSQL NOTIFY; otherwise it sleeps until the next message is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
from opentelemetry import propagate, trace
from prometheus_client import Counter, Histogram

from libs.events.runtime import plain_dsn
from libs.events.supervisor import Supervisor
from services.notifications import signing
from services.notifications.commands import DisableEndpoint
from services.notifications.delivery import (
    Outcome,
    Schedule,
    outcome_of,
    retry_after_seconds,
)
from services.notifications.handlers import DUE_CHANNEL, Dependencies, disable_endpoint
from services.notifications.secretbox import SecretBox
from services.notifications.ssrf import Refused
from services.notifications.tables import SCHEMA
from services.notifications.transport import WebhookClient

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)
S = SCHEMA

ATTEMPTS = Counter("bw_webhook_attempts_total", "Webhook delivery attempts", ["result"])
LATENCY = Histogram("bw_webhook_attempt_seconds", "Duration of webhook delivery attempts")
LATE_OUTCOMES = Counter(
    "bw_webhook_late_outcomes_total",
    "Attempt outcomes not applied: the message was claimed again after their lease ran out",
)
DISABLED = Counter("bw_webhook_endpoints_disabled_total", "Endpoints disabled", ["reason"])

# a claimed message is due again this long after its attempt's timeout if nothing was recorded
# (the default of BW_WEBHOOK_LEASE_MARGIN_SECONDS)
LEASE_MARGIN_SECONDS = 30.0
RECORD_BATCH = 500
RECORD_INTERVAL_SECONDS = 0.01

CLAIM_SQL = f"""
WITH due AS (
    SELECT message_id FROM "{S}".message
    WHERE status = 'pending' AND next_attempt_at <= now()
      AND NOT (endpoint_id = ANY($1::text[]))
    ORDER BY next_attempt_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
SELECT m.message_id, m.endpoint_id, m.buyer_id, m.attempts, m.round_attempts, m.created_at,
       m.payload, e.url,
       coalesce(e.enabled AND NOT e.deleted, false) AS open,
       coalesce(e.deleted, true) AS deleted,
       (NOT m.gated OR coalesce((
            SELECT g.kind = 'granted'
                   AND (g.ends_on IS NULL OR g.ends_on >= (now() AT TIME ZONE 'UTC')::date)
            FROM "{S}".grant_event g
            WHERE g.factory_id = m.factory_id AND g.buyer_id = m.buyer_id
            ORDER BY g.version DESC LIMIT 1), false)) AS granted
FROM "{S}".message m JOIN due USING (message_id)
LEFT JOIN "{S}".endpoint e ON e.endpoint_id = m.endpoint_id
ORDER BY m.next_attempt_at
"""

SETTLE_SQL = f"""
UPDATE "{S}".message SET status = $2, last_error = $3, next_attempt_at = NULL
WHERE message_id = ANY($1::text[])
"""

LEASE_SQL = f"""
UPDATE "{S}".message SET next_attempt_at = now() + make_interval(secs => $2), lease = lease + 1
WHERE message_id = ANY($1::text[])
RETURNING message_id, lease
"""

SECRETS_SQL = f"""
SELECT endpoint_id, secret_id, ciphertext FROM "{S}".webhook_secret
WHERE endpoint_id = ANY($1::text[]) AND (expires_at IS NULL OR expires_at > now())
ORDER BY created_at DESC
"""

NEXT_DUE_SQL = f"""SELECT min(next_attempt_at) FROM "{S}".message WHERE status = 'pending'"""

INSERT_ATTEMPTS_SQL = f"""
INSERT INTO "{S}".attempt (message_id, endpoint_id, attempted_at, status_code, latency_ms,
                          response_body, error, succeeded, trigger)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int[], $5::int[],
                     $6::text[], $7::text[], $8::bool[], $9::text[])
"""

# Only under the lease the attempt was sent with: if the message was claimed again meanwhile
# (this process stalled past its lease, another replica took over), the newer claim owns it.
UPDATE_MESSAGES_SQL = f"""
UPDATE "{S}".message m SET status = u.status, attempts = m.attempts + 1,
    round_attempts = m.round_attempts + 1, next_attempt_at = u.next_at,
    last_attempt_at = u.at, last_error = u.error
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::int[])
     AS u(message_id, status, next_at, at, error, lease)
WHERE m.message_id = u.message_id AND m.lease = u.lease
RETURNING m.message_id, m.lease
"""

COUNT_LATE_SQL = f"""
UPDATE "{S}".message SET attempts = attempts + 1 WHERE message_id = ANY($1::text[])
"""

LATE = "late: the message was claimed again after this attempt's lease ran out; not applied"

SUCCESS_SINCE_SQL = f"""
SELECT EXISTS (SELECT 1 FROM "{S}".attempt
               WHERE endpoint_id = $1 AND succeeded AND attempted_at >= $2)
"""

EXPIRE_HELD_SQL = f"""DELETE FROM "{S}".held_event WHERE held_until <= now()"""

PURGE_SQL = f"""
UPDATE "{S}".message SET payload = NULL
WHERE status <> 'pending' AND payload IS NOT NULL AND created_at < now() - make_interval(secs => $1)
"""


@dataclass
class Claimed:
    message_id: str
    endpoint_id: str
    url: str
    payload: bytes
    attempts: int
    round_attempts: int
    created_at: datetime
    keys: list[bytes]
    lease: int = 0  # the claim this attempt belongs to


@dataclass
class Attempted:
    claimed: Claimed
    at: datetime
    status_code: int | None
    latency_ms: int
    body: str | None
    error: str | None
    retry_after: float | None


class TokenBucket:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self.tokens = self.burst
        self.updated = time.monotonic()

    def available(self) -> float:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return self.tokens

    def take(self) -> bool:
        if self.available() >= 1:
            self.tokens -= 1
            return True
        return False


class Dispatcher:
    def __init__(
        self,
        *,
        database_url: str,
        deps: Dependencies,
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
        lease_margin_seconds: float = LEASE_MARGIN_SECONDS,
    ) -> None:
        self.dsn = plain_dsn(database_url)
        self.deps = deps
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
        self.lease_margin = lease_margin_seconds
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
        for name, run in (
            ("webhook-dispatcher", self._dispatch),
            ("webhook-recorder", self._record),
            ("webhook-wakeups", self._listen),
            ("webhook-purge", self._purge),
        ):
            self._supervised.append(self.supervisor.start(name, run, self.stopping))

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
        lease = self.timeout + self.lease_margin
        async with self.pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(CLAIM_SQL, self._busy(), capacity)
            chosen: list[Any] = []
            taken: dict[str, int] = defaultdict(int)
            cancelled: list[str] = []
            closed: list[str] = []
            deleted: list[str] = []
            for row in rows:
                endpoint_id = row["endpoint_id"]
                if row["deleted"]:
                    deleted.append(row["message_id"])
                elif not row["open"]:
                    closed.append(row["message_id"])
                elif not row["granted"]:
                    cancelled.append(row["message_id"])
                elif (
                    self.in_flight.get(endpoint_id, 0) + taken[endpoint_id] < self.concurrency
                    and self._bucket(endpoint_id).take()
                ):
                    taken[endpoint_id] += 1
                    chosen.append(row)
            if cancelled:
                await connection.execute(
                    SETTLE_SQL, cancelled, "cancelled", "no active sharing grant when sent"
                )
            if closed:
                await connection.execute(SETTLE_SQL, closed, "failed", "endpoint disabled")
            if deleted:
                await connection.execute(SETTLE_SQL, deleted, "cancelled", "endpoint deleted")
            if not chosen:
                return []
            leases = dict(
                await connection.fetch(LEASE_SQL, [row["message_id"] for row in chosen], lease)
            )
            secrets = await connection.fetch(SECRETS_SQL, list(taken))
        keys: dict[str, list[bytes]] = defaultdict(list)
        for secret in secrets:
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
                lease=leases[row["message_id"]],
            )
            for row in chosen
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
                next_due = await connection.fetchval(NEXT_DUE_SQL)
            if next_due is not None:
                wait = min(wait, max(0.0, (next_due - datetime.now(UTC)).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout=max(wait, 0.005))

    # sending -----------------------------------------------------------------------------------

    async def _send(self, message: Claimed) -> None:
        # the attempt continues the event's trace (the body is the CloudEvents document, with
        # its `traceparent`): HTTP command → outbox → NATS → fan-out → this delivery
        with tracer.start_as_current_span(
            "webhook deliver",
            context=propagate.extract(_trace_carrier(message.payload)),
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
        at = datetime.now(UTC)
        started = time.monotonic()
        status_code: int | None = None
        body: str | None = None
        error: str | None = None
        retry_after: float | None = None
        try:
            headers = signing.headers(
                message.keys, message.message_id, int(time.time()), message.payload
            )
            async with asyncio.timeout(self.timeout):
                answer = await self.client.post(
                    message.url, message.payload, headers, owner=message.endpoint_id
                )
            status_code = answer.status_code
            body = answer.body
            if 300 <= status_code < 400:
                error = f"redirect ({status_code}) not followed"
            retry_after = retry_after_seconds(status_code, answer.retry_after)
        except Refused as refused:
            error = f"refused: {refused.detail}"
        except TimeoutError:
            error = f"no answer within {self.timeout:g} s"
        except aiohttp.ClientError as failure:
            error = f"{type(failure).__name__}: {failure}"[:500]
        except Exception as failure:  # never lose the outcome of an attempt
            log.exception("webhook attempt %s failed unexpectedly", message.message_id)
            error = f"{type(failure).__name__}: {failure}"[:500]
        finally:
            self.in_flight[message.endpoint_id] -= 1
            if self.in_flight[message.endpoint_id] <= 0:
                del self.in_flight[message.endpoint_id]
            self.wake.set()
        latency = time.monotonic() - started
        LATENCY.observe(latency)
        self.outcomes.put_nowait(
            Attempted(message, at, status_code, int(latency * 1000), body, error, retry_after)
        )
        return status_code

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
        """Log the attempts and apply each outcome that still holds its message's lease."""
        statuses: list[str] = []
        next_ats: list[datetime | None] = []
        errors: list[str | None] = []
        # per attempt: the endpoint should be disabled (reason, detail, since) if it applies
        verdicts: list[tuple[str, str, datetime] | None] = []
        for attempted in batch:
            message = attempted.claimed
            outcome = (
                outcome_of(attempted.status_code)
                if attempted.status_code is not None
                else Outcome.RETRY
            )
            ATTEMPTS.labels(outcome.value).inc()
            error = attempted.error or (
                None if outcome is Outcome.SUCCEEDED else f"HTTP {attempted.status_code}"
            )
            verdict: tuple[str, str, datetime] | None = None
            if outcome is Outcome.SUCCEEDED:
                statuses.append("succeeded")
                next_ats.append(None)
            elif outcome is Outcome.GONE:
                statuses.append("failed")
                next_ats.append(None)
                verdict = ("gone", "the receiver answered 410 Gone", message.created_at)
            else:
                delay = self.schedule.delay_after(message.round_attempts + 1, attempted.retry_after)
                if delay is None:
                    statuses.append("failed")
                    next_ats.append(None)
                    verdict = (
                        "failing",
                        f"message {message.message_id} failed every attempt",
                        message.created_at,
                    )
                else:
                    statuses.append("pending")
                    next_ats.append(attempted.at + timedelta(seconds=delay))
            errors.append(error)
            verdicts.append(verdict)
        ids = [attempted.claimed.message_id for attempted in batch]
        async with self.pool.acquire() as connection, connection.transaction():
            applied = {
                (row["message_id"], row["lease"])
                for row in await connection.fetch(
                    UPDATE_MESSAGES_SQL,
                    ids,
                    statuses,
                    next_ats,
                    [attempted.at for attempted in batch],
                    errors,
                    [attempted.claimed.lease for attempted in batch],
                )
            }
            current = [
                (attempted.claimed.message_id, attempted.claimed.lease) in applied
                for attempted in batch
            ]
            late = [message_id for message_id, ok in zip(ids, current, strict=True) if not ok]
            if late:
                # every attempt is logged and counted, but a late one decides nothing
                await connection.execute(COUNT_LATE_SQL, late)
                LATE_OUTCOMES.inc(len(late))
                errors = [
                    error if ok else (f"{error}; {LATE}" if error else LATE)
                    for error, ok in zip(errors, current, strict=True)
                ]
            await connection.execute(
                INSERT_ATTEMPTS_SQL,
                ids,
                [attempted.claimed.endpoint_id for attempted in batch],
                [attempted.at for attempted in batch],
                [attempted.status_code for attempted in batch],
                [attempted.latency_ms for attempted in batch],
                [attempted.body for attempted in batch],
                errors,
                [status == "succeeded" for status in statuses],
                [
                    "manual"
                    if attempted.claimed.round_attempts == 0 and attempted.claimed.attempts
                    else "scheduled"
                    for attempted in batch
                ],
            )
        disable: dict[str, tuple[str, str, datetime]] = {}
        for attempted, verdict, ok in zip(batch, verdicts, current, strict=True):
            if verdict is not None and ok:
                endpoint_id = attempted.claimed.endpoint_id
                if verdict[0] == "gone" or endpoint_id not in disable:
                    disable[endpoint_id] = verdict
        for endpoint_id, (reason, detail, since) in disable.items():
            if reason == "failing":
                async with self.pool.acquire() as connection:
                    if await connection.fetchval(SUCCESS_SINCE_SQL, endpoint_id, since):
                        continue  # it succeeded with other messages meanwhile: not dead
            change = await disable_endpoint(
                DisableEndpoint(endpoint_id=endpoint_id, reason=reason, detail=detail), self.deps
            )
            if change.events:
                DISABLED.labels(reason).inc()
                log.warning("webhook endpoint %s disabled: %s", endpoint_id, detail)
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
            result = await connection.execute(PURGE_SQL, self.retention_seconds)
            await connection.execute(EXPIRE_HELD_SQL)
        return int(result.split()[-1])

    async def _purge(self) -> None:
        while not self.stopping.is_set():
            purged = await self.purge_once()
            if purged:
                log.info("purged the payloads of %d messages past retention", purged)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=self.purge_interval)


def _trace_carrier(payload: bytes) -> dict[str, str]:
    """`{"traceparent": …}` of a CloudEvents body, or nothing (no trace, or not our document)."""
    if b'"traceparent"' not in payload:
        return {}
    try:
        document = json.loads(payload)
    except ValueError:
        return {}
    traceparent = document.get("traceparent") if isinstance(document, dict) else None
    return {"traceparent": traceparent} if isinstance(traceparent, str) else {}
