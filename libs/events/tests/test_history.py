"""The rebuilds' reading and writing on a real PostgreSQL: `streams` gives every stream whole and in
order across fetch chunks, and `copy_rows` writes what the live projections would (JSON encoded,
None as SQL NULL, a single column) and nothing outside the caller's transaction."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.history import copy_rows, read_ahead, streams
from libs.events.store import EventStore
from libs.events.tests.conftest import SCHEMA, ItemCounted, make_registry

pytestmark = pytest.mark.integration

metadata = MetaData(schema=SCHEMA)
rows_table = Table(
    "copied",
    metadata,
    Column("key", String(20), primary_key=True),
    Column("amount", Integer, nullable=True),
    Column("document", JSONB, nullable=True),
    Column("plain", JSON, nullable=True),
)
single_table = Table("copied_single", metadata, Column("key", String(20), primary_key=True))


async def test_streams_are_whole_and_in_order_across_chunks(
    engine: AsyncEngine, store: EventStore
) -> None:
    for n in range(7):
        async with store.unit_of_work() as unit:
            await unit.append(
                f"s{n}",
                stream_type="counter",
                expected_version=0,
                events=[ItemCounted(counter=f"s{n}", amount=k) for k in range(n + 1)],
                subject="factory-1",
            )
    async with engine.connect() as connection:
        got = [
            (stream.stream_id, [(e.version, e.event.amount) for e in stream.events])  # type: ignore[attr-defined]
            async for stream in read_ahead(
                streams(connection, SCHEMA, make_registry(), prefetch=4), depth=2
            )
        ]
    assert got == [(f"s{n}", [(k + 1, k) for k in range(n + 1)]) for n in range(7)]


async def test_copied_rows_read_back_as_inserted_ones(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    rows: list[dict[str, Any]] = [
        {"key": "a", "amount": 1, "document": {"x": [1, "two"]}, "plain": ["r1"]},
        {"key": "b", "amount": None, "document": None, "plain": []},
        {"key": "c", "amount": 3, "document": [], "plain": {"at": "2025-01-01"}},
    ]
    async with engine.begin() as connection:
        await copy_rows(connection, rows_table, rows)
        await copy_rows(connection, single_table, [{"key": "only"}, {"key": "two"}])
        await copy_rows(connection, single_table, [])
    async with engine.connect() as connection:
        back = [dict(row._mapping) for row in await connection.execute(select(rows_table))]
        nulls = await connection.scalar(
            text(f"SELECT count(*) FROM {SCHEMA}.copied WHERE document IS NULL")
        )
        singles = (await connection.execute(select(single_table.c.key))).scalars().all()
    assert sorted(back, key=lambda row: row["key"]) == rows
    assert nulls == 1  # SQL NULL, not the JSON 'null' a multi-row INSERT would write
    assert sorted(singles) == ["only", "two"]


async def test_copied_rows_vanish_with_a_rolled_back_transaction(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    with pytest.raises(RuntimeError):
        async with engine.begin() as connection:
            await copy_rows(connection, single_table, [{"key": "gone"}])
            raise RuntimeError("the rebuild failed after writing")
    async with engine.connect() as connection:
        assert (await connection.scalar(select(single_table.c.key))) is None
