"""The four workloads run against libs/events: command throughput, outbox relay, consumer with inbox,
and append → handler latency."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from libs.domain.envelope import DomainEvent, Envelope, EventRegistry
from libs.events.consumer import ConsumerRunner, Subscription
from libs.events.nats import NatsConnection, stream_name
from libs.events.relay import OutboxRelay
from libs.events.runtime import EventRuntime
from libs.events.store import EventStore
from libs.events.tables import create_event_store_tables

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = "bench"
SERVICE = "bench"
STREAM_TYPE = "counter"
SUBJECT = "factory-bench"


class CounterIncremented(DomainEvent):
    """The one event of the benchmark: a counter moved by `amount`."""

    amount: int = 1


def make_registry() -> EventRegistry:
    registry = EventRegistry(SERVICE)
    registry.register(CounterIncremented)
    return registry


async def make_engine(url: str, pool_size: int) -> AsyncEngine:
    return create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=60)


async def create_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await connection.run_sync(create_event_store_tables, SCHEMA)
        await connection.execute(
            text(f"CREATE TABLE {SCHEMA}.counter_view (stream_id text PRIMARY KEY, events int)")
        )


async def clear_outbox(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {SCHEMA}.outbox"))


async def preload(store: EventStore, stream_ids: Sequence[str], events_each: int) -> None:
    """Give each stream `events_each` events, one append per stream, 16 appenders at a time."""
    queue = list(stream_ids)

    async def appender() -> None:
        while queue:
            stream_id = queue.pop()
            async with store.unit_of_work() as uow:
                await uow.append(
                    stream_id,
                    stream_type=STREAM_TYPE,
                    expected_version=0,
                    events=[CounterIncremented() for _ in range(events_each)],
                    subject=SUBJECT,
                )

    await asyncio.gather(*(appender() for _ in range(16)))


async def command(store: EventStore, stream_id: str) -> None:
    """One command: load the stream, then append one event and its outbox entry in one transaction
    (a single statement that checks the expected version): two round trips."""
    events = await store.load(stream_id)
    await store.append(
        stream_id,
        stream_type=STREAM_TYPE,
        expected_version=len(events),
        events=[CounterIncremented(amount=1)],
        subject=SUBJECT,
    )


async def command_in_unit_of_work(store: EventStore, stream_id: str) -> None:
    """The same command inside an explicit unit of work (BEGIN … COMMIT), as services run it when
    they also update a read model in the same transaction: four round trips."""
    async with store.unit_of_work() as uow:
        events = await uow.load(stream_id)
        await uow.append(
            stream_id,
            stream_type=STREAM_TYPE,
            expected_version=len(events),
            events=[CounterIncremented(amount=1)],
            subject=SUBJECT,
        )


async def command_throughput(
    store: EventStore,
    streams_per_worker: Sequence[Sequence[str]],
    commands_per_worker: int,
    run_command: Callable[[EventStore, str], Awaitable[None]] = command,
) -> float:
    """Commands per second, each worker task running its commands one after another on its streams."""

    async def worker(streams: Sequence[str]) -> None:
        for index in range(commands_per_worker):
            await run_command(store, streams[index % len(streams)])

    started = time.perf_counter()
    await asyncio.gather(*(worker(streams) for streams in streams_per_worker))
    elapsed = time.perf_counter() - started
    return len(streams_per_worker) * commands_per_worker / elapsed


@dataclass(frozen=True)
class RelayFigures:
    relay_per_second: float
    raw_per_second: float
    relayed: int
    nats_subscriptions_before: int
    nats_subscriptions_after: int


async def _stream_messages(nats_connection: NatsConnection, name: str) -> int:
    info = await nats_connection.jetstream().stream_info(name)
    return int(info.state.messages)


async def relay_throughput(
    engine: AsyncEngine,
    store: EventStore,
    nats_connection: NatsConnection,
    raw_prefix: str,
    count: int,
    batch_size: int = 500,
) -> RelayFigures:
    """Drain `count` outbox entries with OutboxRelay.relay_batch(); then publish the same payloads
    with raw nats-py publish_async to an identically configured stream."""
    streams = [f"relay-{store.subject_prefix}{index}" for index in range(count // 100)]
    await preload(store, streams, 100)
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    f"SELECT event_id::text, nats_subject, payload FROM {SCHEMA}.outbox ORDER BY id"
                )
            )
        ).all()
    assert len(rows) == count, f"outbox holds {len(rows)}, expected {count}"
    relay_stream = await nats_connection.ensure_stream(store.subject_prefix, SERVICE)
    raw_stream = await nats_connection.ensure_stream(raw_prefix, SERVICE)

    client = nats_connection.client
    assert client is not None
    subscriptions_before = len(client._subs)
    relay = OutboxRelay(engine=engine, schema=SCHEMA, nats=nats_connection, batch_size=batch_size)
    started = time.perf_counter()
    relayed = 0
    while published := await relay.relay_batch():
        relayed += published
    relay_seconds = time.perf_counter() - started
    subscriptions_after = len(client._subs)
    stored = await _stream_messages(nats_connection, relay_stream)
    assert stored == count, f"relay stream holds {stored}, expected {count}"

    js = nats_connection.jetstream()
    started = time.perf_counter()
    acks = [
        await js.publish_async(
            raw_prefix + row.nats_subject[len(store.subject_prefix) :],
            bytes(row.payload),
            headers={"Nats-Msg-Id": row.event_id},
        )
        for row in rows
    ]
    await asyncio.wait_for(asyncio.gather(*acks), timeout=120)
    raw_seconds = time.perf_counter() - started
    stored = await _stream_messages(nats_connection, raw_stream)
    assert stored == count, f"raw stream holds {stored}, expected {count}"
    return RelayFigures(
        relay_per_second=relayed / relay_seconds,
        raw_per_second=count / raw_seconds,
        relayed=relayed,
        nats_subscriptions_before=subscriptions_before,
        nats_subscriptions_after=subscriptions_after,
    )


async def _count_view(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        total = await connection.scalar(
            text(f"SELECT coalesce(sum(events), 0) FROM {SCHEMA}.counter_view")
        )
        return int(total or 0)


async def consumer_throughput(
    engine: AsyncEngine,
    nats_connection: NatsConnection,
    subject_prefix: str,
    count: int,
    timeout: float = 180.0,
) -> float:
    """Events per second a ConsumerRunner applies to a read model (an inbox row per event and the
    read model upserted once per fetched batch), reading `count` events already in the stream."""
    upsert = text(
        f"""
        INSERT INTO {SCHEMA}.counter_view AS view (stream_id, events) VALUES (:stream_id, 1)
        ON CONFLICT (stream_id) DO UPDATE SET events = view.events + 1
        """
    )

    async def project(connection: AsyncConnection, envelope: Envelope, _: DomainEvent) -> None:
        await connection.execute(upsert, {"stream_id": envelope.streamid})

    upsert_batch = text(
        f"""
        INSERT INTO {SCHEMA}.counter_view AS view (stream_id, events)
        SELECT stream_id, count(*) FROM unnest(CAST(:stream_ids AS text[])) AS stream_id
        GROUP BY stream_id
        ON CONFLICT (stream_id) DO UPDATE SET events = view.events + EXCLUDED.events
        """
    )

    async def project_batch(
        connection: AsyncConnection, batch: Sequence[tuple[Envelope, DomainEvent]]
    ) -> None:
        await connection.execute(
            upsert_batch, {"stream_ids": [envelope.streamid for envelope, _ in batch]}
        )

    runner = ConsumerRunner(
        engine=engine,
        schema=SCHEMA,
        nats=nats_connection,
        subscription=Subscription(
            durable="bench_view",
            source_service=SERVICE,
            handlers={CounterIncremented.event_name: project},
            batch_handler=project_batch,
            registry=make_registry(),
        ),
        subject_prefix=subject_prefix,
    )
    started = time.perf_counter()
    await runner.start()
    try:
        deadline = started + timeout
        while (applied := await _count_view(engine)) < count:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"consumer applied {applied} of {count} in {timeout}s")
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
    finally:
        await runner.stop()
    return count / elapsed


@dataclass(frozen=True)
class LatencyFigures:
    p50_ms: float
    p99_ms: float
    max_ms: float
    events: int
    achieved_rate: float


async def latency(
    engine: AsyncEngine,
    database_dsn: str,
    nats_url: str,
    subject_prefix: str,
    rate: float,
    seconds: float,
    preloaded_events: int = 10,
) -> LatencyFigures:
    """Append → consumer handler latency at a steady, open-loop command rate. This process runs
    the commands with the store and its relay (LISTEN/NOTIFY and in-process wake), as the producing
    service does; the consumer runs in its own process, as the consuming service does."""
    runtime = EventRuntime(
        engine=engine,
        database_url=database_dsn,
        schema=SCHEMA,
        registry=make_registry(),
        nats_url=nats_url,
        subject_prefix=subject_prefix,
    )
    store = runtime.store
    total = int(rate * seconds)
    warm_up = 50
    # One stream per command, each already holding ~10 events: a queue of commands under load
    # must not turn into optimistic-concurrency conflicts on a shared stream.
    streams = [f"latency-{subject_prefix}{index}" for index in range(warm_up + total)]
    await preload(store, streams, preloaded_events)
    await clear_outbox(engine)
    await runtime.start()
    consumer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.latency_consumer",
        database_dsn,
        nats_url,
        subject_prefix,
        str(warm_up),
        str(total),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert consumer.stdout is not None
    try:
        ready = await asyncio.wait_for(consumer.stdout.readline(), timeout=60)
        assert ready.strip() == b"ready", ready
        # Warm up: the consumer binds, the relay listens, connections and statements are ready.
        await asyncio.gather(*(command(store, stream) for stream in streams[:warm_up]))
        await asyncio.sleep(1)

        loop = asyncio.get_running_loop()
        in_flight: list[asyncio.Task[None]] = []
        started = loop.time()
        for index in range(total):
            delay = started + index / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            in_flight.append(asyncio.create_task(command(store, streams[warm_up + index])))
        produced_in = loop.time() - started
        outcomes = await asyncio.wait_for(
            asyncio.gather(*in_flight, return_exceptions=True), timeout=120
        )
        failed = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if failed:
            raise RuntimeError(f"{len(failed)} of {total} commands failed: {failed[0]!r}")
        report = await asyncio.wait_for(consumer.stdout.readline(), timeout=120)
        latencies_ms: list[float] = json.loads(report)
    finally:
        if consumer.returncode is None:
            consumer.kill()
        await consumer.wait()
        await runtime.stop()
    ordered = sorted(latencies_ms)
    return LatencyFigures(
        p50_ms=statistics.median(ordered),
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        max_ms=ordered[-1],
        events=len(ordered),
        achieved_rate=total / produced_in,
    )


async def delete_streams(nats_connection: NatsConnection, prefixes: Sequence[str]) -> None:
    js = nats_connection.jetstream()
    for prefix in prefixes:
        with contextlib.suppress(Exception):  # a stream this run never created
            await js.delete_stream(stream_name(prefix, SERVICE))
