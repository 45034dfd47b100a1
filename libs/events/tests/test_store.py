"""Event store against a real PostgreSQL: append, load, optimistic concurrency, snapshots."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.domain.envelope import event_context
from libs.events.store import ConcurrencyConflict, EventStore
from libs.events.tests.conftest import SCHEMA, CounterReset, ItemCounted

pytestmark = pytest.mark.integration


async def append(store: EventStore, stream: str, expected: int, *amounts: int) -> None:
    async with store.unit_of_work() as uow:
        await uow.append(
            stream,
            stream_type="counter",
            expected_version=expected,
            events=[ItemCounted(counter=stream, amount=amount) for amount in amounts],
            subject="factory-1",
        )


async def count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text(f"SELECT count(*) FROM {SCHEMA}.{table}")) or 0)


class TestAppendAndLoad:
    async def test_loads_what_was_appended_in_order_with_its_metadata(
        self, store: EventStore
    ) -> None:
        with event_context(correlation_id="corr-7", actor="assessor-1"):
            await append(store, "c1", 0, 1, 2)
            await append(store, "c1", 2, 3)
        recorded = await store.load("c1")
        assert [r.version for r in recorded] == [1, 2, 3]
        assert [r.event for r in recorded] == [
            ItemCounted(counter="c1", amount=a) for a in (1, 2, 3)
        ]
        assert recorded[0].actor == "assessor-1"
        assert recorded[0].metadata["correlationid"] == "corr-7"
        assert await store.stream_version("c1") == 3
        assert [r.version for r in await store.load("c1", after_version=2)] == [3]

    async def test_writes_one_outbox_entry_per_event_in_the_same_transaction(
        self, store: EventStore, engine: AsyncEngine, subject_prefix: str
    ) -> None:
        await append(store, "c1", 0, 1, 2)
        async with engine.connect() as connection:
            subjects = (
                await connection.scalars(
                    text(f"SELECT nats_subject FROM {SCHEMA}.outbox ORDER BY id")
                )
            ).all()
        assert subjects == [f"{subject_prefix}library.ItemCounted.v1"] * 2

    async def test_a_rolled_back_unit_of_work_leaves_no_event_and_no_outbox_entry(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        with pytest.raises(RuntimeError):
            async with store.unit_of_work() as uow:
                await uow.append(
                    "c1",
                    stream_type="counter",
                    expected_version=0,
                    events=[CounterReset(counter="c1")],
                    subject="factory-1",
                )
                raise RuntimeError("the command failed after appending")
        assert await count(engine, "event") == 0
        assert await count(engine, "outbox") == 0
        assert await store.stream_version("c1") == 0


class TestOptimisticConcurrency:
    async def test_a_stale_expected_version_is_a_conflict_and_writes_nothing(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        await append(store, "c1", 0, 1)
        await append(store, "c1", 1, 1)
        for stale in (0, 1, 5):
            with pytest.raises(ConcurrencyConflict):
                await append(store, "c1", stale, 99)
        assert await store.stream_version("c1") == 2
        assert await count(engine, "event") == 2
        assert await count(engine, "outbox") == 2

    async def test_of_many_concurrent_writers_to_one_stream_exactly_one_wins_each_version(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        await append(store, "shared", 0, 1)
        writers = 16

        async def writer(amount: int) -> bool:
            try:
                await append(store, "shared", 1, amount)
            except ConcurrencyConflict:
                return False
            return True

        outcomes = await asyncio.gather(*(writer(n) for n in range(writers)))
        assert outcomes.count(True) == 1
        assert await store.stream_version("shared") == 2

        # and when every writer retries on conflict, none is lost and versions have no gaps
        async def retrying_writer(amount: int) -> None:
            while True:
                version = await store.stream_version("shared")
                try:
                    await append(store, "shared", version, amount)
                    return
                except ConcurrencyConflict:
                    await asyncio.sleep(0)

        await asyncio.gather(*(retrying_writer(n) for n in range(writers)))
        recorded = await store.load("shared")
        assert [r.version for r in recorded] == list(range(1, writers + 3))
        assert await count(engine, "outbox") == writers + 2


class TestSnapshots:
    async def test_loads_from_a_snapshot_and_the_events_after_it(self, store: EventStore) -> None:
        await append(store, "c1", 0, 1, 2, 3)
        async with store.unit_of_work() as uow:
            await uow.save_snapshot("c1", 3, {"total": 6})
        await append(store, "c1", 3, 4)
        async with store.unit_of_work() as uow:
            snapshot = await uow.load_snapshot("c1")
            assert snapshot is not None and snapshot.version == 3 and snapshot.state == {"total": 6}
            rest = await uow.load("c1", after_version=snapshot.version)
            # an older snapshot never replaces a newer one
            await uow.save_snapshot("c1", 2, {"total": 3})
            again = await uow.load_snapshot("c1")
        assert [r.event.amount for r in rest if isinstance(r.event, ItemCounted)] == [4]
        assert again is not None and again.version == 3


class TestAppendOutsideAUnitOfWork:
    async def test_is_one_atomic_statement_with_the_same_concurrency_check(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        woken: list[bool] = []
        store.on_commit(lambda: woken.append(True))
        await store.append(
            "c1",
            stream_type="counter",
            expected_version=0,
            events=[ItemCounted(counter="c1"), ItemCounted(counter="c1", amount=2)],
            subject="f",
        )
        with pytest.raises(ConcurrencyConflict):
            await store.append(
                "c1",
                stream_type="counter",
                expected_version=1,
                events=[ItemCounted(counter="c1")],
                subject="f",
            )
        assert [r.version for r in await store.load("c1")] == [1, 2]
        assert await count(engine, "outbox") == 2
        assert woken == [True]  # the relay is woken after the successful append only


async def test_appended_events_are_counted_once_committed(store: EventStore) -> None:
    from libs.events.store import APPENDED

    def counted() -> float:
        return float(APPENDED.labels(SCHEMA)._value.get())

    before = counted()
    await append(store, "counted", 0, 1, 2)
    assert counted() == before + 2
    with pytest.raises(RuntimeError):
        async with store.unit_of_work() as uow:
            await uow.append(
                "counted",
                stream_type="counter",
                expected_version=2,
                events=[ItemCounted(counter="counted", amount=3)],
                subject="factory-1",
            )
            raise RuntimeError("rolled back")
    assert counted() == before + 2
