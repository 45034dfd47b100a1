"""Reading a service's whole event history in order, one stream at a time, for rebuilding read
models: a server-side cursor on the event table (no stream is loaded twice, nothing is held but
the stream at hand), decoded with the service's registry. And the two things a rebuild needs to be
fast: the history read ahead on a connection of its own while the rows are written (`read_ahead`),
and the rows written by binary COPY (`copy_rows`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import JSON, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.envelope import EventRegistry
from libs.events.store import RecordedEvent, checked_schema, driver_connection, recorded_from_row

T = TypeVar("T")
_dumps = json.dumps

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
    transaction on `connection` (a cursor needs one), so the history is one consistent snapshot;
    the transaction's planner settings are set for this reading (no sort, no JIT), so give it a
    connection of its own (`read_ahead`)."""
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
    # the primary key's order, streamed from the first row: for a big history the planner would
    # rather sort the whole table, which spills to disk (work_mem) and yields nothing until it has
    # finished, so the reading could not overlap with the writing; JIT only adds start-up time
    await driver.execute("SET LOCAL enable_sort = off; SET LOCAL jit = off")
    cursor = await driver.cursor(sql)
    while rows := await cursor.fetch(prefetch):  # a chunk per round trip, not a call per row
        for row in rows:
            if current is None or row[0] != current.stream_id:
                if current is not None:
                    yield current
                current = Stream(row[0], [])
            current.events.append(recorded_from_row(row[0], row, decode, first=1))
        read += len(rows)
        if progress is not None:
            progress(read, total)
    if current is not None:
        yield current
    if progress is not None:
        progress(read, total)


async def read_ahead(source: AsyncIterator[T], depth: int = 128) -> AsyncGenerator[T, None]:
    """The items of `source`, read by a task of its own up to `depth` items ahead of the caller:
    while the caller works on one item (writes rows on another connection), the database already
    produces the next ones. An error of `source` is raised to the caller where it would have been;
    leaving early stops the reading."""
    queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue(maxsize=depth)

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put((True, item))
        except Exception as error:  # handed to the caller, in order
            await queue.put((False, error))
        else:
            await queue.put((False, None))

    task = asyncio.create_task(pump())
    try:
        while True:
            more, value = await queue.get()
            if more:
                yield value
            elif value is not None:
                raise value
            else:
                return
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def copy_rows(
    connection: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """`rows` (dicts with the same keys, named as `table`'s columns) into `table` by binary COPY in
    the connection's transaction: no SQL is compiled or bound per row, which is most of the cost of
    a multi-row INSERT of many small rows. JSON columns are encoded as the engine would; a None in
    one is SQL NULL, as the live projections write it."""
    if not rows:
        return
    columns = list(rows[0])
    values_of = itemgetter(*columns) if len(columns) > 1 else _one_of(columns[0])
    encoded = {column.name for column in table.columns if isinstance(column.type, JSON)}
    positions = [index for index, name in enumerate(columns) if name in encoded]
    records: list[tuple[Any, ...]]
    if not positions:
        records = [values_of(row) for row in rows]
    else:
        records = []
        for row in rows:
            values = list(values_of(row))
            for index in positions:
                value = values[index]
                if value is not None:
                    values[index] = "[]" if value == [] else _dumps(value)
            records.append(tuple(values))
    driver = await driver_connection(connection)
    await driver.copy_records_to_table(
        table.name, schema_name=table.schema, columns=columns, records=records
    )


def _one_of(name: str) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    return lambda row: (row[name],)
