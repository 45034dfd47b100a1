"""How current notifications' view of consent is (the SQL, in the caller's connection): buyer
sharing's consent watermark recorded by the consumer of its stream, and the condition every
delivery attempt of a factory's event is claimed under.

Buyer sharing's relay publishes a `ConsentWatermark` after it drained its outbox: every grant and
revocation committed before its `as_of` stands before it on the BUYER_SHARING stream. Our consumer
of that stream applies messages in stream order, so once it has applied a watermark, our
`grant_event` holds every grant and revocation committed before `as_of`. A message about a
factory's data is claimed for an attempt only while `now() - as_of` is within the bound
(`BW_CONSENT_MAX_STALENESS_SECONDS`); otherwise it waits, pending and untried.

A revocation this consumer parked in its dead letters (it could not be applied) would make every
later watermark a lie: while one is parked and not replayed, watermarks are not recorded, so
deliveries wait (fail closed) until an operator replays it.
"""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg
from prometheus_client import Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notifications.tables import DUE_CHANNEL, SCHEMA

log = logging.getLogger(__name__)

S = SCHEMA
SOURCE = "buyer_sharing"

# kept by the consent watch (consent_watch.py); defined here, beside the SQL it reports on
WATERMARK_AGE = Gauge(
    "bw_consent_watermark_age_seconds",
    "Age of the latest consent watermark from buyer sharing applied here (+Inf: none yet); "
    "factory events wait while it is above BW_CONSENT_MAX_STALENESS_SECONDS",
)


def consent_current(bound_parameter: str) -> str:
    """An SQL condition: the recorded watermark is at most `bound_parameter` seconds old by the
    database's clock (false while none was ever recorded)."""
    return (
        f"coalesce((SELECT w.as_of >= now() - make_interval(secs => {bound_parameter}) "
        f"FROM \"{S}\".consent_watermark w WHERE w.source = '{SOURCE}'), false)"
    )


_PARKED_REVOCATION = text(
    f'SELECT EXISTS (SELECT 1 FROM "{S}".dead_letter WHERE replayed_at IS NULL '
    "AND nats_subject LIKE :subjects)"
)

_RECORD = text(
    f"""
    WITH recorded AS (
        INSERT INTO "{S}".consent_watermark AS w (source, as_of, received_at)
        VALUES (CAST(:source AS text), CAST(:as_of AS timestamptz), now())
        ON CONFLICT (source) DO UPDATE
        SET as_of = greatest(w.as_of, excluded.as_of), received_at = excluded.received_at
        RETURNING 1
    )
    SELECT pg_notify(CAST(:channel AS text), '')
    """
)

AGE_SQL = (
    "SELECT extract(epoch FROM now() - as_of)::float8 "
    f"FROM \"{S}\".consent_watermark WHERE source = '{SOURCE}'"
)


async def record_watermark(connection: AsyncConnection, as_of: datetime, prefix: str) -> bool:
    """Record buyer sharing's watermark (the newest one wins) and wake the dispatcher, unless a
    revocation from that stream is parked; whether it was recorded."""
    revocations = f"{prefix}buyer_sharing.SharingRevoked.%"
    if await connection.scalar(_PARKED_REVOCATION, {"subjects": revocations}):
        log.warning(
            "consent watermark as of %s not applied: a SharingRevoked is parked in the dead "
            "letters; deliveries of factory events wait until it is replayed",
            as_of.isoformat(),
        )
        return False
    await connection.execute(_RECORD, {"source": SOURCE, "as_of": as_of, "channel": DUE_CHANNEL})
    return True


async def watermark_age(connection: asyncpg.Connection) -> float | None:
    """Seconds since the recorded watermark's `as_of` by the database's clock (the dispatcher's
    asyncpg connection); None if none was ever recorded."""
    age = await connection.fetchval(AGE_SQL)
    return None if age is None else float(age)
