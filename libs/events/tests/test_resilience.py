"""Consumers and the relay survive database faults (real servers): PostgreSQL restarted mid-stream,
every connection terminated in the middle of a batch, PostgreSQL down for 20 s; the first two also
with a batch split into concurrent lanes (each its own transaction, as the remediation consumer
runs). Afterwards every event has taken effect exactly once, nothing was parked, and new events
flow again within seconds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import asyncpg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from libs.domain.envelope import DomainEvent, Envelope
from libs.events.consumer import Subscription
from libs.events.runtime import EventRuntime, NotRunning, ProgressSettings, Stalled
from libs.events.tables import create_event_store_tables
from libs.events.tests.conftest import SCHEMA, ItemCounted, asyncpg_url, make_registry
from libs.events.tests.test_delivery import count_item, eventually
from tools.embedded import EmbeddedPostgres
from tools.postgres_admin import create_database, with_database

pytestmark = pytest.mark.integration

COUNTERS = 20
EVENTS_PER_COUNTER = 60
TOTAL = COUNTERS * EVENTS_PER_COUNTER
# new events after recovery must be applied within this many seconds
RECOVERY_SECONDS = 10.0


async def migrated_engine(database_url: str) -> AsyncEngine:
    """The library schema and a counter read model; pre-ping as the services' engines do."""
    engine = create_async_engine(asyncpg_url(database_url), pool_size=10, pool_pre_ping=True)
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await connection.run_sync(create_event_store_tables, SCHEMA)
        await connection.execute(
            text(
                f"CREATE TABLE {SCHEMA}.counter (name text PRIMARY KEY, total int NOT NULL, "
                "applications int NOT NULL)"
            )
        )
    return engine


@dataclass
class Pipeline:
    """A service's event runtime that consumes its own events into the counter read model."""

    runtime: EventRuntime
    engine: AsyncEngine
    durable: str

    async def append(self, counter: str, count: int) -> None:
        store = self.runtime.store
        async with store.unit_of_work() as uow:
            await uow.append(
                counter,
                stream_type="counter",
                expected_version=await uow.stream_version(counter),
                events=[ItemCounted(counter=counter) for _ in range(count)],
                subject=f"factory-{counter}",  # one lane per subject when lanes > 1
            )

    async def applied(self) -> int:
        """Events applied so far (the database may be down: then None is not an answer)."""
        async with self.engine.connect() as connection:
            total = await connection.scalar(
                text(f"SELECT coalesce(sum(total), 0) FROM {SCHEMA}.counter")
            )
        return int(total or 0)

    async def at_least(self, expected: int) -> bool:
        try:
            return await self.applied() >= expected
        except Exception:  # the database is restarting
            return False

    async def assert_each_event_took_effect_once(self, expected_total: int) -> None:
        async with self.engine.connect() as connection:
            rows = (
                await connection.execute(
                    text(f"SELECT total, applications FROM {SCHEMA}.counter ORDER BY name")
                )
            ).all()
            inbox = await connection.scalar(text(f"SELECT count(*) FROM {SCHEMA}.inbox"))
            parked = await connection.scalar(text(f"SELECT count(*) FROM {SCHEMA}.dead_letter"))
            outbox = await connection.scalar(text(f"SELECT count(*) FROM {SCHEMA}.outbox"))
        assert sum(row.total for row in rows) == expected_total
        assert all(row.total == row.applications for row in rows)  # one application per event
        assert inbox == expected_total
        assert parked == 0
        assert outbox == 0
        assert metric("bw_consumer_failures_total", self.durable) == 0  # no handler failure

    async def assert_new_events_flow(self, expected_before: int) -> None:
        await self.append("after-recovery", 5)
        await eventually(lambda: self.at_least(expected_before + 5), timeout=RECOVERY_SECONDS)


def metric(name: str, consumer: str) -> float:
    return REGISTRY.get_sample_value(name, {"consumer": consumer}) or 0.0


@pytest.fixture
def slow_handler() -> Callable[..., object]:
    """A handler taking a little time per event, so a fault lands in the middle of the stream."""

    async def handle(connection: AsyncConnection, envelope: Envelope, event: DomainEvent) -> None:
        await asyncio.sleep(0.002)
        await count_item(connection, envelope, event)

    return handle


async def start_pipeline(
    database_url: str,
    nats_url: str,
    subject_prefix: str,
    handler: Callable[..., object],
    *,
    stall_seconds: float = 60.0,
    lanes: int = 1,
) -> Pipeline:
    engine = await migrated_engine(database_url)
    registry = make_registry()
    subscription = Subscription(
        durable=f"resilience-{uuid.uuid4().hex[:6]}",
        source_service="library",
        handlers={"ItemCounted": handler},  # type: ignore[dict-item]
        registry=registry,
        batch_size=50,
        lanes=lanes,
    )
    runtime = EventRuntime(
        engine=engine,
        database_url=database_url,
        schema=SCHEMA,
        registry=registry,
        nats_url=nats_url,
        subject_prefix=subject_prefix,
        subscriptions=[subscription],
        progress=ProgressSettings(stall_seconds=stall_seconds, poll_seconds=0.3),
    )
    pipeline = Pipeline(runtime, engine, runtime.consumers[0].durable)
    for n in range(COUNTERS):
        await pipeline.append(f"c{n}", EVENTS_PER_COUNTER)
    await runtime.start()
    return pipeline


async def stop_pipeline(pipeline: Pipeline) -> None:
    await pipeline.runtime.stop()
    await pipeline.engine.dispose()


@pytest.fixture
async def embedded_database(restartable_postgres: EmbeddedPostgres) -> AsyncIterator[str]:
    await create_database(restartable_postgres.url, "resilience")
    yield with_database(restartable_postgres.url, "resilience")


async def _stalled(runtime: EventRuntime) -> bool:
    try:
        await runtime.check_progress()
    except Stalled:
        return True
    return False


async def _progressing(runtime: EventRuntime) -> bool:
    try:
        await runtime.check_progress()
    except Exception:
        return False
    return True


class TestDatabaseFaults:
    @pytest.mark.parametrize("lanes", [1, 4])
    async def test_postgres_restarted_mid_stream(
        self,
        restartable_postgres: EmbeddedPostgres,
        embedded_database: str,
        nats_url: str,
        subject_prefix: str,
        slow_handler: Callable[..., object],
        lanes: int,
    ) -> None:
        pipeline = await start_pipeline(
            embedded_database, nats_url, subject_prefix, slow_handler, lanes=lanes
        )
        try:
            await eventually(lambda: pipeline.at_least(TOTAL // 4))
            assert await pipeline.applied() < TOTAL, "the restart came after the stream ended"
            await asyncio.to_thread(restartable_postgres.restart)

            await eventually(lambda: pipeline.at_least(TOTAL), timeout=60)
            await pipeline.assert_new_events_flow(TOTAL)
            consumer = pipeline.runtime.consumers[0]
            assert consumer.running and pipeline.runtime.relay.running
            assert metric("bw_consumer_infrastructure_errors_total", pipeline.durable) > 0
        finally:
            await stop_pipeline(pipeline)
        await pipeline.assert_each_event_took_effect_once(TOTAL + 5)

    @pytest.mark.parametrize("lanes", [1, 4])
    async def test_every_connection_terminated_in_the_middle_of_a_batch(
        self, database_url: str, nats_url: str, subject_prefix: str, lanes: int
    ) -> None:
        reached, release = asyncio.Event(), asyncio.Event()
        handled = 0

        async def pausing(
            connection: AsyncConnection, envelope: Envelope, event: DomainEvent
        ) -> None:
            nonlocal handled
            handled += 1
            if handled == 2 * 50 + 10:  # inside the third batch, the batch's writes uncommitted
                reached.set()
                await asyncio.wait_for(release.wait(), timeout=20)
            await count_item(connection, envelope, event)

        pipeline = await start_pipeline(
            database_url, nats_url, subject_prefix, pausing, lanes=lanes
        )
        try:
            await asyncio.wait_for(reached.wait(), timeout=20)
            connection = await asyncpg.connect(database_url, timeout=10)
            try:
                terminated = await connection.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            finally:
                await connection.close()
            assert terminated >= 2  # at least the consumer's transaction and the relay's listener
            release.set()

            await eventually(lambda: pipeline.at_least(TOTAL), timeout=30)
            await pipeline.assert_new_events_flow(TOTAL)
            assert metric("bw_consumer_infrastructure_errors_total", pipeline.durable) > 0
            assert pipeline.runtime.consumers[0].running and pipeline.runtime.relay.running
        finally:
            release.set()
            await stop_pipeline(pipeline)
        await pipeline.assert_each_event_took_effect_once(TOTAL + 5)

    async def test_postgres_down_for_20_seconds_then_back(
        self,
        restartable_postgres: EmbeddedPostgres,
        embedded_database: str,
        nats_url: str,
        subject_prefix: str,
        slow_handler: Callable[..., object],
    ) -> None:
        pipeline = await start_pipeline(
            embedded_database, nats_url, subject_prefix, slow_handler, stall_seconds=2.0
        )
        runtime = pipeline.runtime
        try:
            await eventually(lambda: pipeline.at_least(TOTAL // 4))
            await runtime.check_progress()
            await asyncio.to_thread(restartable_postgres.stop)
            down_since = asyncio.get_running_loop().time()

            # not ready while work waits and nothing moves; yet nothing gave up or was restarted
            await eventually(lambda: _stalled(runtime), timeout=15)
            await asyncio.sleep(max(0.0, 20 - (asyncio.get_running_loop().time() - down_since)))
            assert runtime.consumers[0].running and runtime.relay.running
            assert all(task.restarts == 0 for task in runtime.supervisor.tasks.values())

            await asyncio.to_thread(restartable_postgres.start)
            await eventually(lambda: pipeline.at_least(TOTAL), timeout=30)
            await pipeline.assert_new_events_flow(TOTAL)
            await eventually(lambda: _progressing(runtime), timeout=RECOVERY_SECONDS)
        finally:
            await stop_pipeline(pipeline)
        await pipeline.assert_each_event_took_effect_once(TOTAL + 5)


class TestReadiness:
    async def test_not_ready_while_a_consumer_or_the_relay_is_not_running(
        self,
        database_url: str,
        nats_url: str,
        subject_prefix: str,
        slow_handler: Callable[..., object],
    ) -> None:
        pipeline = await start_pipeline(database_url, nats_url, subject_prefix, slow_handler)
        runtime = pipeline.runtime
        try:
            await eventually(lambda: _progressing(runtime), timeout=10)
            await runtime.consumers[0].stop()
            with pytest.raises(NotRunning, match=pipeline.durable):
                await runtime.check_progress()
            await runtime.consumers[0].start()
            await runtime.check_progress()
            await runtime.relay.stop()
            with pytest.raises(NotRunning, match="outbox relay"):
                await runtime.check_progress()
            # the monitor publishes lag and backlog for /metrics
            await eventually(lambda: _gauges_published(pipeline), timeout=10)
        finally:
            await stop_pipeline(pipeline)


async def _gauges_published(pipeline: Pipeline) -> bool:
    lag = REGISTRY.get_sample_value("bw_consumer_pending_events", {"consumer": pipeline.durable})
    backlog = REGISTRY.get_sample_value("bw_outbox_backlog", {"schema": SCHEMA})
    return lag is not None and backlog is not None
