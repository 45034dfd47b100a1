"""The command handlers' tables beside the event store: encrypted secrets and delivery state
(`DeliveryTables`, the port the handlers use; `SqlDeliveryTables` on PostgreSQL, in the unit of
work's connection), and the one statement that queues messages, shared with the fan-out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notifications import queries
from services.notifications.tables import DUE_CHANNEL, SCHEMA

S = SCHEMA


@dataclass(frozen=True)
class MessageFound:
    """What redelivery needs to know about a message (locked for the unit of work); `readable`:
    whether its buyer may read it now (`buyer_may_read`)."""

    message_id: str
    endpoint_id: str
    buyer_id: str
    purged: bool
    readable: bool = True


class DeliveryTables(Protocol):
    """The handlers' writes beside the event store, and the reads their answers need, in the
    unit of work's connection; handler unit tests give an in-memory fake."""

    async def keep_secret(
        self,
        connection: Any,
        endpoint_id: str,
        secret_id: str,
        sealed: bytes,
        fingerprint: str,
        at: datetime,
    ) -> None: ...

    async def expire_secrets(self, connection: Any, endpoint_id: str, until: datetime) -> None: ...

    async def queue_test_message(
        self,
        connection: Any,
        message: str,
        endpoint_id: str,
        buyer_id: str,
        payload: bytes,
        at: datetime,
    ) -> None: ...

    async def find_message(self, connection: Any, message: str) -> MessageFound | None: ...

    async def endpoints_of(self, connection: Any, buyer_id: str) -> int: ...

    async def redeliver(self, connection: Any, message: str, now: datetime) -> None: ...

    async def recover(
        self, connection: Any, endpoint_id: str, since: datetime, now: datetime
    ) -> int: ...

    async def endpoint(self, connection: Any, endpoint_id: str) -> Mapping[str, Any] | None: ...

    async def message(self, connection: Any, message: str) -> Mapping[str, Any] | None: ...


class SqlDeliveryTables:
    """DeliveryTables on PostgreSQL, in the caller's transaction. Redelivery and recovery start
    a new lease: the outcome of an attempt still in flight from before is late and cannot undo
    them (it would otherwise mark the message succeeded and the redelivery would never go).
    Recovery takes only the messages their buyer may read (`buyer_may_read`)."""

    async def keep_secret(
        self,
        connection: AsyncConnection,
        endpoint_id: str,
        secret_id: str,
        sealed: bytes,
        fingerprint: str,
        at: datetime,
    ) -> None:
        await connection.execute(
            text(
                f'INSERT INTO "{S}".webhook_secret (secret_id, endpoint_id, ciphertext, '
                "fingerprint, created_at) VALUES (:secret_id, :endpoint_id, :ciphertext, "
                ":fingerprint, :at)"
            ),
            {
                "secret_id": secret_id,
                "endpoint_id": endpoint_id,
                "ciphertext": sealed,
                "fingerprint": fingerprint,
                "at": at,
            },
        )

    async def expire_secrets(
        self, connection: AsyncConnection, endpoint_id: str, until: datetime
    ) -> None:
        await connection.execute(
            text(
                f'UPDATE "{S}".webhook_secret SET expires_at = :until WHERE endpoint_id = '
                ":endpoint_id AND (expires_at IS NULL OR expires_at > :until)"
            ),
            {"until": until, "endpoint_id": endpoint_id},
        )

    async def queue_test_message(
        self,
        connection: AsyncConnection,
        message: str,
        endpoint_id: str,
        buyer_id: str,
        payload: bytes,
        at: datetime,
    ) -> None:
        await queue_messages(
            connection,
            [(message, endpoint_id, buyer_id)],
            event_id=message,
            event_type="WebhookTest",
            factory_id=None,
            gated=False,
            event_time=at,
            payload=payload,
            now=at,
        )

    async def endpoints_of(self, connection: AsyncConnection, buyer_id: str) -> int:
        """How many endpoints (not deleted) the buyer has, counted under a lock of the buyer's
        registrations held until the transaction ends: two racing registrations count one
        after the other, so neither passes the limit."""
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"{S}.endpoints-of:{buyer_id}"},
        )
        count = await connection.scalar(
            text(f'SELECT count(*) FROM "{S}".endpoint WHERE buyer_id = :buyer AND NOT deleted'),
            {"buyer": buyer_id},
        )
        return int(count or 0)

    async def find_message(self, connection: AsyncConnection, message: str) -> MessageFound | None:
        row = (
            await connection.execute(
                text(
                    "SELECT message_id, endpoint_id, buyer_id, payload IS NULL AS purged, "
                    f'"{S}".buyer_may_read(gated, factory_id, buyer_id) AS readable '
                    f'FROM "{S}".message WHERE message_id = :id FOR UPDATE'
                ),
                {"id": message},
            )
        ).one_or_none()
        if row is None:
            return None
        return MessageFound(row.message_id, row.endpoint_id, row.buyer_id, row.purged, row.readable)

    async def redeliver(self, connection: AsyncConnection, message: str, now: datetime) -> None:
        await connection.execute(
            text(
                f"UPDATE \"{S}\".message SET status = 'pending', round_attempts = 0, "
                "next_attempt_at = :now, last_error = NULL, lease = lease + 1 "
                "WHERE message_id = :id"
            ),
            {"id": message, "now": now},
        )
        await connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": DUE_CHANNEL})

    async def recover(
        self, connection: AsyncConnection, endpoint_id: str, since: datetime, now: datetime
    ) -> int:
        result = await connection.execute(
            text(
                f"UPDATE \"{S}\".message SET status = 'pending', round_attempts = 0, "
                "next_attempt_at = :now, last_error = NULL, lease = lease + 1 "
                "WHERE endpoint_id = :endpoint_id AND status = 'failed' "
                "AND created_at >= :since AND payload IS NOT NULL "
                f'AND "{S}".buyer_may_read(gated, factory_id, buyer_id)'
            ),
            {"endpoint_id": endpoint_id, "since": since, "now": now},
        )
        await connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": DUE_CHANNEL})
        return int(getattr(result, "rowcount", 0) or 0)

    async def endpoint(
        self, connection: AsyncConnection, endpoint_id: str
    ) -> Mapping[str, Any] | None:
        row = await queries.endpoint_row(connection, endpoint_id, None)
        return dict(row) if row is not None else None

    async def message(self, connection: AsyncConnection, message: str) -> Mapping[str, Any] | None:
        row = await queries.message_row(connection, message, None)
        return dict(row) if row is not None else None


async def queue_messages(
    connection: AsyncConnection,
    targets: Sequence[tuple[str, str, str]],
    *,
    event_id: str,
    event_type: str,
    factory_id: str | None,
    gated: bool,
    event_time: datetime,
    payload: bytes,
    now: datetime,
) -> None:
    """One pending message per (message id, endpoint, buyer); a repeat inserts nothing. One
    statement whatever the number of endpoints (arrays, the payload sent once), which wakes the
    dispatcher as it commits."""
    await connection.execute(
        _QUEUE,
        {
            "messages": [message for message, _endpoint, _buyer in targets],
            "endpoints": [endpoint for _message, endpoint, _buyer in targets],
            "buyers": [buyer for _message, _endpoint, buyer in targets],
            "event_id": event_id,
            "event_type": event_type,
            "factory_id": factory_id,
            "gated": gated,
            "event_time": event_time,
            "payload": payload,
            "now": now,
            "channel": DUE_CHANNEL,
        },
    )


# a data-modifying CTE runs whether or not the outer query reads it
_QUEUE = text(
    f"""
    WITH queued AS (
        INSERT INTO "{S}".message (message_id, endpoint_id, buyer_id, event_id, event_type,
            factory_id, gated, event_time, payload, created_at, status, attempts, round_attempts,
            next_attempt_at)
        SELECT t.message_id, t.endpoint_id, t.buyer_id, CAST(:event_id AS text),
               CAST(:event_type AS text), CAST(:factory_id AS text), CAST(:gated AS boolean),
               CAST(:event_time AS timestamptz), CAST(:payload AS bytea),
               CAST(:now AS timestamptz), 'pending', 0, 0, CAST(:now AS timestamptz)
        FROM unnest(CAST(:messages AS text[]), CAST(:endpoints AS text[]),
                    CAST(:buyers AS text[])) AS t(message_id, endpoint_id, buyer_id)
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT pg_notify(CAST(:channel AS text), '')
    """
)
