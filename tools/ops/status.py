"""What an operator looks at first: each durable consumer's lag on JetStream and each service's
outbox backlog and open dead letters in PostgreSQL (read-only queries, every call time-bounded);
and the wait until every event written so far has reached every service (`wait_until_delivered`,
which the history import runs between its phases)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import nats
from nats.js.errors import NotFoundError

from libs.events.nats import stream_name
from tools.ops.targets import SERVICE_PORTS, Targets

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ConsumerLag:
    stream: str
    consumer: str
    pending: int  # in the stream, not yet delivered to the consumer
    ack_pending: int  # delivered, not yet acknowledged
    redelivered: int
    last_ack: datetime | None

    @property
    def lag(self) -> int:
        return self.pending + self.ack_pending


@dataclass(frozen=True)
class OutboxBacklog:
    service: str
    entries: int
    oldest_age_seconds: float | None
    open_dead_letters: int


async def consumer_lag(nats_url: str, subject_prefix: str) -> list[ConsumerLag]:
    """Every durable consumer on the services' streams (those of this subject prefix)."""
    consumers, _ = await _jetstream_state(nats_url, subject_prefix)
    return consumers


async def _jetstream_state(
    nats_url: str, subject_prefix: str
) -> tuple[list[ConsumerLag], dict[str, int]]:
    """The durable consumers of the services' streams and each stream's last sequence."""
    client = await nats.connect(
        nats_url, connect_timeout=TIMEOUT_SECONDS, allow_reconnect=False, max_reconnect_attempts=0
    )
    try:
        manager = client.jetstream(timeout=TIMEOUT_SECONDS)
        found: list[ConsumerLag] = []
        positions: dict[str, int] = {}
        for service in SERVICE_PORTS:
            stream = stream_name(subject_prefix, service)
            try:
                positions[stream] = (await manager.stream_info(stream)).state.last_seq
                consumers = await manager.consumers_info(stream)
            except NotFoundError:
                continue  # a service that has not published yet has no stream
            for info in consumers:
                found.append(
                    ConsumerLag(
                        stream=stream,
                        consumer=info.name,
                        pending=info.num_pending or 0,
                        ack_pending=info.num_ack_pending or 0,
                        redelivered=info.num_redelivered or 0,
                        last_ack=info.ack_floor.last_active if info.ack_floor else None,
                    )
                )
        return sorted(found, key=lambda row: (row.stream, row.consumer)), positions
    finally:
        await client.close()


def _asyncpg_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def outbox_backlog(database_url: str) -> list[OutboxBacklog]:
    """Each service schema present in the database: unpublished outbox entries, the oldest one's
    age, and dead letters not replayed yet."""
    connection = await asyncpg.connect(_asyncpg_dsn(database_url), timeout=TIMEOUT_SECONDS)
    try:
        present = {
            row["schema_name"]
            for row in await connection.fetch(
                "SELECT table_schema AS schema_name FROM information_schema.tables "
                "WHERE table_name = 'outbox' AND table_schema = ANY($1::text[])",
                list(SERVICE_PORTS),
                timeout=TIMEOUT_SECONDS,
            )
        }
        rows = []
        for service in SERVICE_PORTS:
            if service not in present:
                continue
            # the schema name comes from our own fixed list, never from input
            outbox = await connection.fetchrow(
                f'SELECT count(*) AS entries, min(created_at) AS oldest FROM "{service}".outbox',
                timeout=TIMEOUT_SECONDS,
            )
            parked = await connection.fetchval(
                f'SELECT count(*) FROM "{service}".dead_letter WHERE replayed_at IS NULL',
                timeout=TIMEOUT_SECONDS,
            )
            oldest: datetime | None = outbox["oldest"]
            age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else None
            rows.append(OutboxBacklog(service, outbox["entries"], age, parked))
        return rows
    finally:
        await asyncio.wait_for(connection.close(), TIMEOUT_SECONDS)


class NotDelivered(Exception):
    """Events did not reach every service in time; the message says where they wait."""


async def _undelivered(targets: Targets) -> tuple[list[str], dict[str, int]]:
    """What still waits (outbox entries, consumers' pending events), and the streams' positions."""
    backlogs = await outbox_backlog(targets.database_url)
    consumers, positions = await _jetstream_state(targets.nats_url, targets.subject_prefix)
    waiting = [f"{row.service} outbox: {row.entries}" for row in backlogs if row.entries]
    waiting += [f"{row.consumer} on {row.stream}: {row.lag}" for row in consumers if row.lag]
    return waiting, positions


async def wait_until_delivered(
    targets: Targets, timeout_seconds: float, poll_seconds: float = 0.5
) -> float:
    """Wait until every service's outbox is empty and every durable consumer has acknowledged
    everything on its stream, twice in a row with no stream grown in between (a consumer's
    reaction writes its own outbox, whose events then reach the consumers downstream); the
    seconds waited. A poll that cannot reach PostgreSQL or NATS (a restart, no connection slot
    free) is tried again. Raises NotDelivered after `timeout_seconds`."""
    started = time.monotonic()
    quiet_at: dict[str, int] | None = None
    while True:
        try:
            waiting, positions = await _undelivered(targets)
        except (OSError, TimeoutError, asyncpg.PostgresError, nats.errors.Error) as error:
            waiting, positions = [f"progress not readable: {type(error).__name__}: {error}"], {}
        if not waiting:
            if quiet_at == positions:
                return time.monotonic() - started
            quiet_at = positions
        else:
            quiet_at = None
        if time.monotonic() - started > timeout_seconds:
            raise NotDelivered(
                f"events did not reach every service within {timeout_seconds:.0f} s; still "
                "waiting: " + ("; ".join(waiting) or "streams still growing")
            )
        await asyncio.sleep(poll_seconds)
