"""Outbox relay and consumer runner against real PostgreSQL and NATS JetStream: nothing acknowledged
is lost, nothing takes effect twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.domain.envelope import DomainEvent, Envelope, EventRegistry
from libs.events.consumer import ConsumerRunner, Subscription
from libs.events.nats import NatsConnection, stream_name
from libs.events.relay import OutboxRelay
from libs.events.store import EventStore
from libs.events.tests.conftest import SCHEMA, ItemCounted
from libs.events.tests.test_store import append, count

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def count_item(connection: AsyncConnection, envelope: Envelope, event: DomainEvent) -> None:
    assert isinstance(event, ItemCounted)
    await connection.execute(
        text(
            f"INSERT INTO {SCHEMA}.counter AS c (name, total, applications) VALUES (:name, :amount, 1) "
            "ON CONFLICT (name) DO UPDATE SET total = c.total + :amount, applications = c.applications + 1"
        ),
        {"name": event.counter, "amount": event.amount},
    )


async def counter(engine: AsyncEngine, name: str) -> tuple[int, int]:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text(f"SELECT total, applications FROM {SCHEMA}.counter WHERE name = :n"),
                {"n": name},
            )
        ).first()
    return (row.total, row.applications) if row else (0, 0)


async def stream_messages(nats: NatsConnection, prefix: str) -> int:
    info = await nats.jetstream().stream_info(stream_name(prefix, "library"))
    return int(info.state.messages)


def relay_for(engine: AsyncEngine, nats: NatsConnection, **options: object) -> OutboxRelay:
    return OutboxRelay(engine=engine, schema=SCHEMA, nats=nats, **options)  # type: ignore[arg-type]


async def drain(relay: OutboxRelay) -> None:
    while await relay.relay_batch():
        pass


@pytest.fixture
async def provisioned(nats: NatsConnection, subject_prefix: str) -> NatsConnection:
    await nats.ensure_stream(subject_prefix, "library")
    return nats


def runner_for(
    engine: AsyncEngine,
    nats: NatsConnection,
    registry: EventRegistry,
    prefix: str,
    handler: Callable[[AsyncConnection, Envelope, DomainEvent], Awaitable[None]] = count_item,
    **options: object,
) -> ConsumerRunner:
    subscription = Subscription(
        durable="library-counter",
        source_service="library",
        handlers={"ItemCounted": handler},
        registry=registry,
        **options,  # type: ignore[arg-type]
    )
    return ConsumerRunner(
        engine=engine,
        schema=SCHEMA,
        nats=nats,
        subscription=subscription,
        subject_prefix=prefix,
        fetch_timeout=0.5,
    )


@pytest.fixture
async def running_consumer(
    engine: AsyncEngine, provisioned: NatsConnection, registry: EventRegistry, subject_prefix: str
) -> AsyncIterator[ConsumerRunner]:
    runner = runner_for(engine, provisioned, registry, subject_prefix)
    await runner.start()
    yield runner
    await runner.stop()


class TestOutboxRelay:
    async def test_publishes_every_event_with_its_id_as_the_message_id(
        self,
        store: EventStore,
        engine: AsyncEngine,
        provisioned: NatsConnection,
        subject_prefix: str,
    ) -> None:
        for n in range(10):
            await append(store, f"c{n}", 0, 1, 2)
        await drain(relay_for(engine, provisioned))
        assert await count(engine, "outbox") == 0
        stream = stream_name(subject_prefix, "library")
        event_ids = {r.event_id for n in range(10) for r in await store.load(f"c{n}")}
        published = set()
        for sequence in range(1, 21):
            message = await provisioned.jetstream().get_msg(stream, sequence)
            assert message.headers is not None
            envelope = Envelope.from_json(message.data or b"")
            assert message.headers["Nats-Msg-Id"] == envelope.id
            published.add(envelope.id)
        assert published == event_ids

    async def test_relays_transactions_that_commit_out_of_order(
        self,
        store: EventStore,
        engine: AsyncEngine,
        provisioned: NatsConnection,
        subject_prefix: str,
    ) -> None:
        relay = relay_for(engine, provisioned)
        first_appended, release_first = asyncio.Event(), asyncio.Event()

        async def slow_first() -> None:
            async with store.unit_of_work() as uow:  # takes the lower outbox id, commits last
                await uow.append(
                    "early",
                    stream_type="counter",
                    expected_version=0,
                    events=[ItemCounted(counter="early")],
                    subject="factory-1",
                )
                first_appended.set()
                await release_first.wait()

        slow = asyncio.create_task(slow_first())
        await first_appended.wait()
        await append(store, "late", 0, 1)
        await drain(relay)
        assert await stream_messages(provisioned, subject_prefix) == 1
        release_first.set()
        await slow
        await drain(relay)
        assert await stream_messages(provisioned, subject_prefix) == 2
        assert await count(engine, "outbox") == 0

    async def test_a_relay_killed_mid_batch_and_restarted_delivers_every_event_once(
        self,
        store: EventStore,
        engine: AsyncEngine,
        provisioned: NatsConnection,
        database_url: str,
        nats_url: str,
        subject_prefix: str,
    ) -> None:
        total = 6000
        async with store.unit_of_work() as uow:
            for n in range(total // 10):
                await uow.append(
                    f"c{n}",
                    stream_type="counter",
                    expected_version=0,
                    events=[ItemCounted(counter=f"c{n}") for _ in range(10)],
                    subject="factory-1",
                )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "libs.events.tests.relay_process",
            database_url,
            nats_url,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            # the process stops once JetStream acknowledged its whole round, before the deletes
            # commit: the kill lands exactly between publish and delete
            assert process.stdout is not None
            async with asyncio.timeout(60):
                while not (line := await process.stdout.readline()).startswith(
                    b"relay-process: published"
                ):
                    assert line, "the relay process ended before publishing"
            assert line.split()[-1] == str(total).encode()
            assert await stream_messages(provisioned, subject_prefix) == total
        finally:
            process.send_signal(signal.SIGKILL)
            await asyncio.wait_for(process.wait(), timeout=10)
        # the killed round's deletes never committed: every entry is still there
        assert await count(engine, "outbox") == total
        relay = relay_for(engine, provisioned)

        async def drained() -> bool:
            # until PostgreSQL notices the dead client, its round still holds the relay lock
            await drain(relay)
            return await count(engine, "outbox") == 0

        await eventually(drained, timeout=30)
        # JetStream dropped the re-published duplicates by Nats-Msg-Id
        assert await stream_messages(provisioned, subject_prefix) == total

    async def test_several_relays_at_once_publish_each_event_once(
        self,
        store: EventStore,
        engine: AsyncEngine,
        provisioned: NatsConnection,
        subject_prefix: str,
    ) -> None:
        relays = [relay_for(engine, provisioned, batch_size=50) for _ in range(3)]
        for relay in relays:
            await relay.start()
        try:
            await asyncio.gather(*(append(store, f"c{n}", 0, 1) for n in range(300)))
            for relay in relays:
                relay.wake()
            await eventually(lambda: _outbox_empty(engine))
        finally:
            for relay in relays:
                await relay.stop()
        assert await stream_messages(provisioned, subject_prefix) == 300


async def _has_messages(nats: NatsConnection, prefix: str) -> bool:
    return await stream_messages(nats, prefix) > 0


async def _outbox_empty(engine: AsyncEngine) -> bool:
    return await count(engine, "outbox") == 0


class TestConsumerRunner:
    async def test_applies_each_event_once_even_when_redelivered(
        self,
        store: EventStore,
        engine: AsyncEngine,
        provisioned: NatsConnection,
        running_consumer: ConsumerRunner,
        subject_prefix: str,
    ) -> None:
        for amount in (1, 2, 3):
            await append(store, "c1", amount - 1, amount)
        await drain(relay_for(engine, provisioned))
        await eventually(lambda: _counter_is(engine, "c1", (6, 3)))
        # force redelivery: the same events again under new message ids (JetStream keeps them)
        js = provisioned.jetstream()
        for recorded in await store.load("c1"):
            message = await js.get_msg(stream_name(subject_prefix, "library"), recorded.version)
            await js.publish(
                message.subject or "",
                message.data or b"",
                headers={"Nats-Msg-Id": f"again-{recorded.version}"},
            )
        await eventually(lambda: _consumer_caught_up(provisioned, subject_prefix, running_consumer))
        assert await counter(engine, "c1") == (6, 3)
        assert await count(engine, "inbox") == 3

    async def test_parks_a_poison_event_after_bounded_attempts_and_replays_it_after_a_fix(
        self,
        store: EventStore,
        engine: AsyncEngine,
        provisioned: NatsConnection,
        registry: EventRegistry,
        subject_prefix: str,
    ) -> None:
        attempts: list[str] = []
        fixed = False

        async def fragile(
            connection: AsyncConnection, envelope: Envelope, event: DomainEvent
        ) -> None:
            if isinstance(event, ItemCounted) and event.amount == 13 and not fixed:
                attempts.append(envelope.id)
                raise ValueError("cannot handle 13 yet")
            await count_item(connection, envelope, event)

        runner = runner_for(
            engine, provisioned, registry, subject_prefix, fragile, max_attempts=3, backoff=(0.05,)
        )
        await runner.start()
        try:
            await append(store, "c1", 0, 1, 13, 2)
            await append(store, "c2", 0, 5)
            await drain(relay_for(engine, provisioned))
            await eventually(lambda: _has_dead_letters(runner))
            await eventually(lambda: _counter_is(engine, "c2", (5, 1)))
        finally:
            await runner.stop()
        assert len(attempts) == 3 and len(set(attempts)) == 1
        assert await counter(engine, "c1") == (3, 2)  # the healthy events were not held back
        [parked] = await runner.dead_letters()
        assert parked.attempts == 3 and "cannot handle 13" in parked.error

        with pytest.raises(ValueError, match="cannot handle 13"):
            await runner.replay(parked.id)  # not fixed yet: still parked, and why is recorded
        [still_parked] = await runner.dead_letters()
        assert still_parked.replayed_at is None
        assert (
            still_parked.replay_error is not None
            and "cannot handle 13" in still_parked.replay_error
        )
        assert await counter(engine, "c1") == (3, 2)
        assert (
            await count(engine, "inbox") == 3
        )  # c1's 1 and 2, c2's 5: the failed replay left none

        fixed = True
        await runner.replay(parked.id)
        assert await counter(engine, "c1") == (16, 3)
        assert await runner.dead_letters() == []
        [replayed] = await runner.dead_letters(include_replayed=True)
        assert replayed.replayed_at is not None and replayed.replay_error is None
        with pytest.raises(LookupError):
            await runner.replay(parked.id)  # replayed once only

    async def test_an_undecodable_message_is_parked_at_once(
        self,
        engine: AsyncEngine,
        provisioned: NatsConnection,
        running_consumer: ConsumerRunner,
        subject_prefix: str,
    ) -> None:
        await provisioned.jetstream().publish(
            f"{subject_prefix}library.ItemCounted.v1", b"{not json"
        )
        await eventually(lambda: _has_dead_letters(running_consumer))
        [parked] = await running_consumer.dead_letters()
        assert parked.payload == b"{not json" and parked.attempts == 1

    async def test_survives_a_nats_restart_mid_stream_without_losing_events(
        self,
        store: EventStore,
        engine: AsyncEngine,
        registry: EventRegistry,
        restartable_nats: object,
        subject_prefix: str,
    ) -> None:
        server = restartable_nats
        nats = NatsConnection(server.url, name="restart-test")  # type: ignore[attr-defined]
        await nats.start()
        await nats.ensure_stream(subject_prefix, "library")
        relay = relay_for(engine, nats, poll_interval=0.2)
        store.on_commit(relay.wake)
        runner = runner_for(engine, nats, registry, subject_prefix)
        await relay.start()
        await runner.start()
        total = 300
        try:

            async def produce() -> None:
                for n in range(total):
                    await append(store, f"c{n % 7}", await store.stream_version(f"c{n % 7}"), 1)
                    await asyncio.sleep(0.005)

            producer = asyncio.create_task(produce())
            await eventually(lambda: _total_applied(engine, 50))
            await asyncio.to_thread(server.restart)  # type: ignore[attr-defined]
            await producer
            await eventually(lambda: _total_applied(engine, total), timeout=60)
        finally:
            await runner.stop()
            await relay.stop()
            await nats.stop()
        assert await count(engine, "inbox") == total
        assert await count(engine, "outbox") == 0


async def _counter_is(engine: AsyncEngine, name: str, expected: tuple[int, int]) -> bool:
    return await counter(engine, name) == expected


async def _has_dead_letters(runner: ConsumerRunner) -> bool:
    return bool(await runner.dead_letters())


async def _total_applied(engine: AsyncEngine, expected: int) -> bool:
    async with engine.connect() as connection:
        total = await connection.scalar(
            text(f"SELECT coalesce(sum(total), 0) FROM {SCHEMA}.counter")
        )
    return int(total or 0) >= expected


async def _consumer_caught_up(nats: NatsConnection, prefix: str, runner: ConsumerRunner) -> bool:
    info = await nats.jetstream().consumer_info(stream_name(prefix, "library"), runner.durable)
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


class TestRelayWakeUp:
    async def test_an_append_from_another_process_wakes_the_relay_through_listen_notify(
        self,
        store: EventStore,
        engine: AsyncEngine,
        provisioned: NatsConnection,
        database_url: str,
        subject_prefix: str,
    ) -> None:
        # the store is not wired to this relay (as in another process) and polling is off in effect
        relay = relay_for(engine, provisioned, listen_dsn=database_url, poll_interval=3600)
        await relay.start()
        try:
            await eventually(lambda: _listening(relay))
            await append(store, "c1", 0, 1)
            await eventually(lambda: _has_messages(provisioned, subject_prefix), timeout=5)
        finally:
            await relay.stop()


async def _listening(relay: OutboxRelay) -> bool:
    return relay.listening


class TestBatchHandler:
    async def test_applies_a_batch_at_once_and_still_isolates_a_failing_event(
        self,
        store: EventStore,
        engine: AsyncEngine,
        provisioned: NatsConnection,
        registry: EventRegistry,
        subject_prefix: str,
    ) -> None:
        batch_sizes: list[int] = []

        async def one(connection: AsyncConnection, envelope: Envelope, event: DomainEvent) -> None:
            if isinstance(event, ItemCounted) and event.amount == 13:
                raise ValueError("13 is refused")
            await count_item(connection, envelope, event)

        async def many(
            connection: AsyncConnection, batch: Sequence[tuple[Envelope, DomainEvent]]
        ) -> None:
            batch_sizes.append(len(batch))
            for envelope, event in batch:
                await one(connection, envelope, event)

        for n in range(20):
            await append(store, f"c{n}", 0, 1, 2)
        await append(store, "bad", 0, 13)
        await drain(relay_for(engine, provisioned))
        runner = runner_for(
            engine,
            provisioned,
            registry,
            subject_prefix,
            one,
            batch_handler=many,
            max_attempts=2,
            backoff=(0.05,),
        )
        await runner.start()
        try:
            await eventually(lambda: _has_dead_letters(runner))
            await eventually(lambda: _counter_is(engine, "c19", (3, 2)))
        finally:
            await runner.stop()
        assert max(batch_sizes) > 1
        assert [await counter(engine, f"c{n}") for n in range(20)] == [(3, 2)] * 20
        assert await counter(engine, "bad") == (0, 0)
        assert [parked.attempts for parked in await runner.dead_letters()] == [2]

    async def test_what_waits_behind_an_idle_fetchs_first_event_joins_its_batch(
        self,
        store: EventStore,
        engine: AsyncEngine,
        provisioned: NatsConnection,
        registry: EventRegistry,
        subject_prefix: str,
    ) -> None:
        batch_sizes: list[int] = []

        async def many(
            connection: AsyncConnection, batch: Sequence[tuple[Envelope, DomainEvent]]
        ) -> None:
            batch_sizes.append(len(batch))
            for envelope, event in batch:
                await count_item(connection, envelope, event)

        # an assessment's completion and its findings: published together, before the idle
        # consumer's fetch of one
        await append(store, "c1", 0, *range(1, 11))
        await drain(relay_for(engine, provisioned))
        runner = runner_for(engine, provisioned, registry, subject_prefix, batch_handler=many)
        await runner.start()
        try:
            await eventually(lambda: _counter_is(engine, "c1", (55, 10)))
        finally:
            await runner.stop()
        assert batch_sizes == [10]

    async def test_lanes_apply_parts_of_a_batch_at_once_keeping_each_subjects_order(
        self,
        store: EventStore,
        engine: AsyncEngine,
        provisioned: NatsConnection,
        registry: EventRegistry,
        subject_prefix: str,
    ) -> None:
        seen: dict[str, list[int]] = {}
        running = 0
        most_at_once = 0

        async def many(
            connection: AsyncConnection, batch: Sequence[tuple[Envelope, DomainEvent]]
        ) -> None:
            nonlocal running, most_at_once
            running += 1
            most_at_once = max(most_at_once, running)
            try:
                await asyncio.sleep(0.05)  # a database round trip another lane can overlap
                for envelope, event in batch:
                    assert isinstance(event, ItemCounted)
                    seen.setdefault(envelope.subject or "", []).append(event.amount)
                    await count_item(connection, envelope, event)
            finally:
                running -= 1

        for n in range(12):  # each counter's events are about its own subject
            async with store.unit_of_work() as unit:
                await unit.append(
                    f"c{n}",
                    stream_type="counter",
                    expected_version=0,
                    events=[ItemCounted(counter=f"c{n}", amount=amount) for amount in (1, 2, 3)],
                    subject=f"factory-{n}",
                )
        await drain(relay_for(engine, provisioned))
        runner = runner_for(
            engine, provisioned, registry, subject_prefix, batch_handler=many, lanes=3
        )
        await runner.start()
        try:
            await eventually(lambda: _total_applied(engine, 12 * 6))
            await eventually(lambda: _consumer_caught_up(provisioned, subject_prefix, runner))
        finally:
            await runner.stop()
        assert most_at_once > 1  # lanes ran concurrently, each in its own transaction
        assert seen == {f"factory-{n}": [1, 2, 3] for n in range(12)}  # once each, in order
        assert [await counter(engine, f"c{n}") for n in range(12)] == [(6, 3)] * 12
        assert await count(engine, "inbox") == 36


class TestSlowHandlersAndShutdown:
    async def test_a_slow_handler_is_kept_alive_and_not_redelivered_to_another_replica(
        self,
        store: EventStore,
        engine: AsyncEngine,
        provisioned: NatsConnection,
        registry: EventRegistry,
        subject_prefix: str,
    ) -> None:
        calls: list[str] = []

        async def slow(connection: AsyncConnection, envelope: Envelope, event: DomainEvent) -> None:
            calls.append(envelope.id)
            await asyncio.sleep(2.5)  # more than twice the ack wait
            await count_item(connection, envelope, event)

        # two replicas of one durable consumer: without in-progress signals the server would
        # redeliver the message to the idle one after the ack wait
        replicas = [
            runner_for(engine, provisioned, registry, subject_prefix, slow, ack_wait=1.0)
            for _ in range(2)
        ]
        await append(store, "c1", 0, 1)
        await drain(relay_for(engine, provisioned))
        for replica in replicas:
            await replica.start()
        try:
            await eventually(lambda: _counter_is(engine, "c1", (1, 1)))
            await eventually(lambda: _consumer_caught_up(provisioned, subject_prefix, replicas[0]))
            await asyncio.sleep(1.5)  # time for a redelivery to show, were there one
        finally:
            for replica in replicas:
                await replica.stop()
        redelivered = REGISTRY.get_sample_value(
            "bw_consumer_duplicates_total", {"consumer": replicas[0].durable}
        )
        assert not redelivered
        assert len(calls) == 1

    async def test_stopping_lets_the_event_in_flight_finish_and_be_acknowledged(
        self,
        store: EventStore,
        engine: AsyncEngine,
        provisioned: NatsConnection,
        registry: EventRegistry,
        subject_prefix: str,
    ) -> None:
        started = asyncio.Event()

        async def slow(connection: AsyncConnection, envelope: Envelope, event: DomainEvent) -> None:
            started.set()
            await asyncio.sleep(1.0)
            await count_item(connection, envelope, event)

        runner = runner_for(engine, provisioned, registry, subject_prefix, slow)
        await append(store, "c1", 0, 1)
        await drain(relay_for(engine, provisioned))
        await runner.start()
        await asyncio.wait_for(started.wait(), timeout=20)
        await runner.stop()  # while the handler is still running
        assert await counter(engine, "c1") == (1, 1)
        # the server applies an acknowledgement asynchronously; one never sent would stay pending
        # for the 30 s ack wait
        await eventually(
            lambda: _consumer_caught_up(provisioned, subject_prefix, runner), timeout=5
        )
