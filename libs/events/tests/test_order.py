"""Per-stream order on NATS: many writers on few streams, transactions that commit late while
holding a low outbox id, relays taking small batches meanwhile; each stream's events must reach
JetStream in version order, each exactly once."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import libs.events.relay
from libs.domain.envelope import Envelope
from libs.events.nats import NatsConnection, stream_name
from libs.events.relay import OutboxRelay
from libs.events.store import ConcurrencyConflict, EventStore, driver_connection
from libs.events.tests.conftest import SCHEMA, ItemCounted
from libs.events.tests.test_store import append, count

pytestmark = pytest.mark.integration

STREAMS = 4
WRITERS_PER_STREAM = 4
APPENDS_PER_WRITER = 25


async def write(store: EventStore, stream: str, appends: int, rng: random.Random) -> int:
    """Append `appends` events to `stream`, each in a transaction that sometimes commits late;
    a writer that lost the race to another reloads the version and tries again."""
    conflicts = 0
    for _ in range(appends):
        while True:
            try:
                version = await store.stream_version(stream)
                async with store.unit_of_work() as uow:
                    await uow.append(
                        stream,
                        stream_type="counter",
                        expected_version=version,
                        events=[ItemCounted(counter=stream)],
                        subject="factory-1",
                    )
                    # still holding its outbox id while later ids of other streams commit
                    await asyncio.sleep(rng.choice((0, 0, 0.001, 0.004)))
                break
            except ConcurrencyConflict:
                conflicts += 1
    return conflicts


async def published_versions(nats: NatsConnection, prefix: str) -> dict[str, list[int]]:
    """Each stream's `streamversion`s in the order JetStream stored them."""
    js = nats.jetstream()
    name = stream_name(prefix, "library")
    stored = (await js.stream_info(name)).state.messages
    versions: dict[str, list[int]] = defaultdict(list)
    for sequence in range(1, stored + 1):
        envelope = Envelope.from_json((await js.get_msg(name, sequence)).data or b"")
        assert envelope.streamid is not None and envelope.streamversion is not None
        versions[envelope.streamid].append(envelope.streamversion)
    return versions


class TestPerStreamOrder:
    async def test_concurrent_writers_streams_reach_nats_in_version_order(
        self,
        store: EventStore,
        engine: AsyncEngine,
        nats: NatsConnection,
        subject_prefix: str,
    ) -> None:
        await nats.ensure_stream(subject_prefix, "library")
        # small batches and several relays: many rounds and batches while writers commit late
        relays = [
            OutboxRelay(
                engine=engine,
                schema=SCHEMA,
                nats=nats,
                batch_size=3,
                batches_per_round=6,
                poll_interval=0.005,
            )
            for _ in range(2)
        ]
        for relay in relays:
            store.on_commit(relay.wake)
            await relay.start()
        rng = random.Random(7)
        try:
            await asyncio.gather(
                *(
                    write(store, f"s{n}", APPENDS_PER_WRITER, rng)
                    for n in range(STREAMS)
                    for _ in range(WRITERS_PER_STREAM)
                )
            )
            async with asyncio.timeout(30):
                while await count(engine, "outbox"):
                    await asyncio.sleep(0.05)
        finally:
            for relay in relays:
                await relay.stop()

        versions = await published_versions(nats, subject_prefix)
        expected = list(range(1, WRITERS_PER_STREAM * APPENDS_PER_WRITER + 1))
        assert {stream: versions[stream] for stream in versions} == {
            f"s{n}": expected for n in range(STREAMS)
        }

    async def test_a_lower_id_committed_between_two_batches_of_a_round_is_published_first(
        self,
        store: EventStore,
        engine: AsyncEngine,
        nats: NatsConnection,
        subject_prefix: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        await nats.ensure_stream(subject_prefix, "library")
        first_appended, commit_first = asyncio.Event(), asyncio.Event()

        async def late_first_version() -> None:
            async with store.unit_of_work() as uow:  # takes the lowest outbox id, commits late
                await uow.append(
                    "s",
                    stream_type="counter",
                    expected_version=0,
                    events=[ItemCounted(counter="s")],
                    subject="factory-1",
                )
                first_appended.set()
                await commit_first.wait()

        late = asyncio.create_task(late_first_version())
        await asyncio.wait_for(first_appended.wait(), timeout=10)
        for n in range(3):  # a full first batch of other streams, so the round goes on
            await append(store, f"other{n}", 0, 1)

        async def between_the_batches() -> None:
            commit_first.set()
            await asyncio.wait_for(late, timeout=10)
            await append(store, "s", 1, 1)  # version 2, a higher id, committed at once

        pause_between_batches(monkeypatch, between_the_batches)
        relay = OutboxRelay(engine=engine, schema=SCHEMA, nats=nats, batch_size=3)
        while await relay.relay_batch():
            pass

        assert (await published_versions(nats, subject_prefix))["s"] == [1, 2]


class _PausingDriver:
    """An asyncpg connection whose second `fetch` (the relay's second batch) first runs `step`."""

    def __init__(self, driver: asyncpg.Connection, step: Callable[[], Awaitable[None]]) -> None:
        self.driver = driver
        self.step = step
        self.calls = 0

    async def fetch(self, *args: Any) -> list[asyncpg.Record]:
        self.calls += 1
        if self.calls == 2:
            await self.step()
        rows: list[asyncpg.Record] = await self.driver.fetch(*args)
        return rows


def pause_between_batches(
    monkeypatch: pytest.MonkeyPatch, step: Callable[[], Awaitable[None]]
) -> None:
    """Run `step` once, between the first and second batch of the relay's first round."""
    done = False

    async def pausing(connection: AsyncConnection) -> Any:
        nonlocal done
        driver = await driver_connection(connection)
        if done:
            return driver
        done = True
        return _PausingDriver(driver, step)

    monkeypatch.setattr(libs.events.relay, "driver_connection", pausing)
