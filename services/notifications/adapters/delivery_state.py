"""The dispatcher's SQL on the delivery state (asyncpg, in the caller's connection): claim due
messages under a lease (a factory's event only while consent is current: adapters/consent.py),
settle those that may no longer be sent, log attempts and apply their verdicts only under the
lease they were sent with, and purge what is past retention."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.notifications.adapters.consent import consent_current
from services.notifications.domain.delivery import Attempted, Verdict, trigger
from services.notifications.tables import SCHEMA

S = SCHEMA

LATE = "late: the message was claimed again after this attempt's lease ran out; not applied"

# A factory's event (gated) is due only while consent is current: otherwise it waits, pending
# and untried, and is claimed (its grant checked anew) once a newer watermark has come.
CLAIM_SQL = f"""
WITH due AS (
    SELECT message_id FROM "{S}".message
    WHERE status = 'pending' AND next_attempt_at <= now()
      AND NOT (endpoint_id = ANY($1::text[]))
      AND (NOT gated OR {consent_current("$3::float8")})
    ORDER BY next_attempt_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
SELECT m.message_id, m.endpoint_id, m.buyer_id, m.attempts, m.round_attempts, m.created_at,
       m.payload, e.url,
       coalesce(e.enabled AND NOT e.deleted, false) AS open,
       coalesce(e.deleted, true) AS deleted,
       "{S}".buyer_may_read(m.gated, m.factory_id, m.buyer_id) AS granted
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

NEXT_DUE_SQL = f"""
SELECT min(next_attempt_at) FROM "{S}".message
WHERE status = 'pending' AND (NOT gated OR {consent_current("$1::float8")})
"""

INSERT_ATTEMPTS_SQL = f"""
INSERT INTO "{S}".attempt (message_id, endpoint_id, attempted_at, status_code, latency_ms,
                          response_body, error, succeeded, trigger, response_size)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int[], $5::int[],
                     $6::text[], $7::text[], $8::bool[], $9::text[], $10::int[])
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

SUCCESS_SINCE_SQL = f"""
SELECT EXISTS (SELECT 1 FROM "{S}".attempt
               WHERE endpoint_id = $1 AND succeeded AND attempted_at >= $2)
"""

EXPIRE_HELD_SQL = f"""DELETE FROM "{S}".held_event WHERE held_until <= now()"""

PURGE_SQL = f"""
UPDATE "{S}".message SET payload = NULL
WHERE status <> 'pending' AND payload IS NOT NULL AND created_at < now() - make_interval(secs => $1)
"""


@dataclass(frozen=True)
class Claim:
    """The messages claimed for an attempt, the lease each was claimed under, and the current
    secrets of their endpoints (newest first)."""

    rows: list[asyncpg.Record]
    leases: dict[str, int]
    secrets: list[asyncpg.Record]


async def claim(
    connection: asyncpg.Connection,
    *,
    busy: Sequence[str],
    capacity: int,
    lease_seconds: float,
    accept: Callable[[str], bool],
    consent_bound: float,
) -> Claim:
    """In the caller's transaction: the due messages of endpoints not `busy`, at most
    `capacity` (a factory's event only while the consent watermark is at most `consent_bound`
    seconds old). Those whose endpoint is deleted or disabled, or that their buyer may no longer
    read (`buyer_may_read`: the grant is not in force now), are settled here; of the others,
    those `accept` takes (by endpoint) are leased."""
    rows = await connection.fetch(CLAIM_SQL, list(busy), capacity, consent_bound)
    chosen: list[asyncpg.Record] = []
    cancelled: list[str] = []
    closed: list[str] = []
    deleted: list[str] = []
    for row in rows:
        if row["deleted"]:
            deleted.append(row["message_id"])
        elif not row["open"]:
            closed.append(row["message_id"])
        elif not row["granted"]:
            cancelled.append(row["message_id"])
        elif accept(row["endpoint_id"]):
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
        return Claim([], {}, [])
    leases = dict(
        await connection.fetch(LEASE_SQL, [row["message_id"] for row in chosen], lease_seconds)
    )
    endpoints = list(dict.fromkeys(row["endpoint_id"] for row in chosen))
    secrets = await connection.fetch(SECRETS_SQL, endpoints)
    return Claim(chosen, leases, secrets)


async def record_outcomes(
    connection: asyncpg.Connection, batch: Sequence[Attempted], verdicts: Sequence[Verdict]
) -> list[bool]:
    """In the caller's transaction: log every attempt and apply each verdict that still holds
    its message's lease; which ones were applied (a late one is logged and counted, and decides
    nothing)."""
    ids = [attempted.claimed.message_id for attempted in batch]
    applied = {
        (row["message_id"], row["lease"])
        for row in await connection.fetch(
            UPDATE_MESSAGES_SQL,
            ids,
            [verdict.status for verdict in verdicts],
            [verdict.next_attempt_at for verdict in verdicts],
            [attempted.at for attempted in batch],
            [verdict.error for verdict in verdicts],
            [attempted.claimed.lease for attempted in batch],
        )
    }
    current = [
        (attempted.claimed.message_id, attempted.claimed.lease) in applied for attempted in batch
    ]
    errors = [verdict.error for verdict in verdicts]
    late = [message_id for message_id, ok in zip(ids, current, strict=True) if not ok]
    if late:
        await connection.execute(COUNT_LATE_SQL, late)
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
        [verdict.status == "succeeded" for verdict in verdicts],
        [trigger(attempted.claimed) for attempted in batch],
        [attempted.size for attempted in batch],
    )
    return current


async def succeeded_since(
    connection: asyncpg.Connection, endpoint_id: str, since: datetime
) -> bool:
    """Whether any attempt to the endpoint succeeded since then (then it is not dead)."""
    return bool(await connection.fetchval(SUCCESS_SINCE_SQL, endpoint_id, since))


async def next_due(connection: asyncpg.Connection, consent_bound: float) -> datetime | None:
    """When the next message is due (of a factory's events, only while consent is current)."""
    due: datetime | None = await connection.fetchval(NEXT_DUE_SQL, consent_bound)
    return due


async def purge(connection: asyncpg.Connection, retention_seconds: float) -> int:
    """Drop the payloads past retention (how many) and the held events past their window."""
    result = await connection.execute(PURGE_SQL, retention_seconds)
    await connection.execute(EXPIRE_HELD_SQL)
    return int(result.split()[-1])
