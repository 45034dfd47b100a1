"""Reading a service's whole event history in order, one stream at a time, for rebuilding read
models: a server-side cursor on the event table (no stream is loaded twice, nothing is held but
the stream at hand), decoded with the service's registry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.envelope import EventRegistry
from libs.events.store import RecordedEvent, checked_schema, driver_connection

Progress = Callable[[int, int], None]
"""Called with (events read, events in the history) as the reading goes."""


@dataclass(frozen=True)
class Stream:
    stream_id: str
    events: list[RecordedEvent]


async def event_count(connection: AsyncConnection, schema: str) -> int:
    driver = await driver_connection(connection)
    return int(await driver.fetchval(f'SELECT count(*) FROM "{checked_schema(schema)}".event'))


async def streams(
    connection: AsyncConnection,
    schema: str,
    registry: EventRegistry,
    *,
    prefetch: int = 5_000,
    progress: Progress | None = None,
) -> AsyncIterator[Stream]:
    """Every stream of `schema` with its events in version order. Runs in the caller's
    transaction on `connection` (a cursor needs one), so the history is one consistent snapshot."""
    total = await event_count(connection, schema) if progress is not None else 0
    driver = await driver_connection(connection)
    sql = f"""
        SELECT stream_id, version, event_id::text, event_type, subject, data::text,
               metadata::text, recorded_at
        FROM "{checked_schema(schema)}".event ORDER BY stream_id, version
        """
    decode = registry.decode_json
    current: Stream | None = None
    read = 0
    async for row in driver.cursor(sql, prefetch=prefetch):
        if current is None or row[0] != current.stream_id:
            if current is not None:
                yield current
            current = Stream(row[0], [])
        current.events.append(
            RecordedEvent(
                stream_id=row[0],
                version=row[1],
                event_id=row[2],
                event_type=row[3],
                subject=row[4],
                event=decode(row[3], row[5]),
                recorded_at=row[7],
                metadata_json=row[6],
            )
        )
        read += 1
        if progress is not None and read % prefetch == 0:
            progress(read, total)
    if current is not None:
        yield current
    if progress is not None:
        progress(read, total)
