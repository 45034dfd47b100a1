"""The hash chain on real PostgreSQL: every writer's events are chained by the table's trigger (the
store's append, concurrent writers, an imported batch, a statement writing many streams, a COPY),
exactly as `libs.events.chain.event_hash` computes it; the migration chains a history written
before the chain existed identically."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.domain.envelope import ImportOrigin, business_time, event_context
from libs.events.chain import GENESIS, event_hash, install_hash_chain, remove_hash_chain
from libs.events.store import ConcurrencyConflict, EventStore, driver_connection
from libs.events.tests.conftest import SCHEMA
from libs.events.tests.test_store import append
from libs.events.treehead import plain_driver
from libs.events.verification import verify_history

pytestmark = pytest.mark.integration


async def stored(engine: AsyncEngine) -> list[asyncpg.Record]:
    async with engine.connect() as connection:
        driver = await driver_connection(connection)
        return list(
            await driver.fetch(
                f"""
                SELECT stream_id, version, event_id::text, event_type, subject, data::text,
                       metadata::text, recorded_at, prev_hash, hash
                FROM {SCHEMA}.event ORDER BY stream_id, version
                """
            )
        )


async def event_indexes(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :schema "
                "AND tablename = 'event' ORDER BY indexname"
            ),
            {"schema": SCHEMA},
        )
        return [(row[0], row[1]) for row in rows]


def assert_chained(rows: list[asyncpg.Record]) -> None:
    """Each row's hash is event_hash of its content after its predecessor's hash."""
    assert rows
    previous: dict[str, str] = {}
    for row in rows:
        assert row["prev_hash"] == previous.get(row["stream_id"], GENESIS), row["stream_id"]
        assert row["hash"] == event_hash(row["prev_hash"], *list(row.values())[:8])
        previous[row["stream_id"]] = row["hash"]


async def clean(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        report = await verify_history(await plain_driver(connection), SCHEMA)
    assert report.ok, [failure.describe(SCHEMA) for failure in report.failures]


class TestLiveAppends:
    async def test_each_event_carries_its_predecessors_hash_and_its_own(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        with event_context(correlation_id="c-1", actor="assessor-ü"):
            await append(store, "c1", 0, 1, 2)
            await append(store, "c1", 2, 3)
            await append(store, "c2", 0, 4)
        rows = await stored(engine)
        assert [(r["stream_id"], r["version"]) for r in rows] == [
            ("c1", 1),
            ("c1", 2),
            ("c1", 3),
            ("c2", 1),
        ]
        assert rows[0]["prev_hash"] == GENESIS
        assert rows[1]["prev_hash"] == rows[0]["hash"]
        assert rows[3]["prev_hash"] == GENESIS
        assert len({r["hash"] for r in rows}) == 4
        assert_chained(rows)
        await clean(engine)

    async def test_the_append_outside_a_unit_of_work_is_chained_too(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        from libs.events.tests.conftest import ItemCounted

        for version in range(3):
            await store.append(
                "fast",
                stream_type="counter",
                expected_version=version,
                events=[ItemCounted(counter="fast", amount=version)],
                subject="factory-1",
            )
        assert_chained(await stored(engine))

    async def test_a_conflicting_append_leaves_the_chain_as_it_was(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        await append(store, "c1", 0, 1)
        before = await stored(engine)
        with pytest.raises(ConcurrencyConflict):
            await append(store, "c1", 0, 2)
        assert await stored(engine) == before

    async def test_concurrent_writers_chain_every_version_once(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        """Sixteen writers racing on one stream (retrying on conflict) and eight more streams at
        once: versions without gaps, and each event linked to the one that won before it."""
        await append(store, "shared", 0, 1)

        async def retrying_writer(stream: str, amount: int) -> None:
            while True:
                version = await store.stream_version(stream)
                try:
                    await append(store, stream, version, amount, amount + 1)
                    return
                except ConcurrencyConflict:
                    await asyncio.sleep(0)

        await asyncio.gather(
            *(retrying_writer("shared", n) for n in range(16)),
            *(retrying_writer(f"other-{n % 8}", n) for n in range(24)),
        )
        rows = await stored(engine)
        shared = [r["version"] for r in rows if r["stream_id"] == "shared"]
        assert shared == list(range(1, 34))
        assert_chained(rows)
        await clean(engine)


class TestOtherWriters:
    async def test_an_imported_batch_is_chained_with_its_business_time_and_origin(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        origin = ImportOrigin("bundle-1", "sha256:00", "assessments", "A-1", "admin-1")
        with business_time(datetime(2003, 5, 6, tzinfo=UTC), imported=origin):
            await append(store, "imported", 0, *range(1, 50))
        rows = await stored(engine)
        assert '"imported"' in rows[0]["metadata"]
        assert len(rows) == 49
        assert_chained(rows)

    async def test_one_statement_writing_many_streams_chains_each_in_the_order_given(
        self, engine: AsyncEngine
    ) -> None:
        """As the advisory appender writes: one INSERT … SELECT FROM unnest over several streams,
        their versions interleaved."""
        streams = ["a", "b", "a", "b", "a"]
        versions = [1, 1, 2, 2, 3]
        async with engine.begin() as connection:
            driver = await driver_connection(connection)
            await driver.execute(
                f"""
                INSERT INTO {SCHEMA}.event (stream_id, version, event_id, event_type, subject,
                                            data, metadata, recorded_at)
                SELECT e.stream_id, e.version, e.event_id, 'ItemCounted', 'factory-1',
                       CAST(e.data AS jsonb), '{{}}'::jsonb, now()
                FROM unnest($1::text[], $2::int[], $3::uuid[], $4::text[])
                    AS e(stream_id, version, event_id, data)
                """,
                streams,
                versions,
                [str(uuid.uuid4()) for _ in streams],
                [f'{{"n": {n}}}' for n in range(5)],
            )
        rows = await stored(engine)
        assert [(r["stream_id"], r["version"]) for r in rows] == [
            ("a", 1),
            ("a", 2),
            ("a", 3),
            ("b", 1),
            ("b", 2),
        ]
        assert_chained(rows)

    async def test_a_copy_into_the_event_table_is_chained(self, engine: AsyncEngine) -> None:
        at = datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
        records: list[tuple[Any, ...]] = [
            ("copied", version, uuid.uuid4(), "ItemCounted", "factory-1", "{}", "{}", at)
            for version in (1, 2, 3)
        ]
        async with engine.begin() as connection:
            driver = await driver_connection(connection)
            await driver.copy_records_to_table(
                "event",
                schema_name=SCHEMA,
                columns=[
                    "stream_id",
                    "version",
                    "event_id",
                    "event_type",
                    "subject",
                    "data",
                    "metadata",
                    "recorded_at",
                ],
                records=records,
            )
        rows = await stored(engine)
        assert len(rows) == 3
        assert_chained(rows)

    async def test_an_event_whose_predecessor_is_missing_is_refused(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        await append(store, "c1", 0, 1)
        async with engine.begin() as connection:
            driver = await driver_connection(connection)
            with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="no version 2"):
                await driver.execute(
                    f"""
                    INSERT INTO {SCHEMA}.event (stream_id, version, event_id, event_type,
                                                subject, data, metadata, recorded_at)
                    VALUES ('c1', 3, gen_random_uuid(), 'ItemCounted', 'f', '{{}}', '{{}}', now())
                    """
                )

    async def test_a_hash_given_by_the_writer_is_replaced_by_the_computed_one(
        self, engine: AsyncEngine
    ) -> None:
        async with engine.begin() as connection:
            driver = await driver_connection(connection)
            await driver.execute(
                f"""
                INSERT INTO {SCHEMA}.event (stream_id, version, event_id, event_type, subject,
                                            data, metadata, recorded_at, prev_hash, hash)
                VALUES ('forged', 1, gen_random_uuid(), 'ItemCounted', 'f', '{{}}', '{{}}',
                        now(), '{"1" * 64}', '{"2" * 64}')
                """
            )
        rows = await stored(engine)
        assert rows[0]["prev_hash"] == GENESIS
        assert_chained(rows)


class TestMigration:
    async def test_chains_an_existing_history_as_live_appends_chained_it(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        origin = ImportOrigin("bundle-1", None, "assessments", "A-1", "admin-1")
        with event_context(actor="assessor-1"):
            for stream in range(20):
                await append(store, f"s{stream:02d}", 0, *range(stream % 7 + 1))
        with business_time(datetime(2001, 1, 1, tzinfo=UTC), imported=origin):
            await append(store, "s00", 1, 5, 6)
        live = await stored(engine)
        indexes = await event_indexes(engine)
        async with engine.begin() as connection:
            # the history as it was before the chain: no columns, no trigger
            await connection.run_sync(remove_hash_chain, SCHEMA)
            columns = await connection.scalar(
                text(
                    "SELECT count(*) FROM information_schema.columns WHERE table_schema = "
                    f"'{SCHEMA}' AND table_name = 'event' AND column_name IN ('hash', 'prev_hash')"
                )
            )
            assert columns == 0
            await connection.run_sync(install_hash_chain, SCHEMA)
        assert await stored(engine) == live
        # the indexes it dropped while rewriting the rows are back as they were
        assert await event_indexes(engine) == indexes
        assert {name for name, _ in indexes} >= {
            "pk_event",
            "uq_event_position",
            "uq_event_event_id",
        }
        await clean(engine)
        # and the chain goes on from there
        await append(store, "s00", 3, 7)
        assert_chained(await stored(engine))

    async def test_running_it_again_changes_nothing(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        await append(store, "c1", 0, 1, 2)
        before = await stored(engine)
        async with engine.begin() as connection:
            await connection.run_sync(install_hash_chain, SCHEMA)
        assert await stored(engine) == before

    async def test_a_stream_with_a_gap_fails_the_migration_and_names_it(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        await append(store, "c1", 0, 1, 2, 3)
        async with engine.begin() as connection:
            await connection.run_sync(remove_hash_chain, SCHEMA)
            await connection.execute(text(f"DELETE FROM {SCHEMA}.event WHERE version = 2"))
        async with engine.begin() as connection:
            with pytest.raises(RuntimeError, match="'c1' has a gap"):
                await connection.run_sync(install_hash_chain, SCHEMA)
