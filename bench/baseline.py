"""The baseline: the `eventsourcing` library (9.x) with its PostgreSQL persistence doing the same
command workload (load an aggregate, trigger one event, save), synchronous, in threads."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import asyncpg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

SCHEMA = "baseline"


class Counter(Aggregate):
    """The baseline's aggregate: a counter; each increment is one stored event."""

    def __init__(self) -> None:
        self.total = 0

    @event("Incremented")
    def increment(self, amount: int) -> None:
        self.total += amount


class CounterApplication(Application[UUID]):
    """An eventsourcing Application; its recorder writes events and the notification log."""

    def create_counter(self, events_each: int) -> UUID:
        counter = Counter()  # the Created event counts as the first
        for _ in range(events_each - 1):
            counter.increment(1)
        self.save(counter)
        return counter.id

    def increment(self, counter_id: UUID) -> None:
        counter: Counter = self.repository.get(counter_id)
        counter.increment(1)
        self.save(counter)


async def create_schema(dsn: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        await connection.execute(f"CREATE SCHEMA {SCHEMA}")
    finally:
        await connection.close(timeout=5)


def open_application(env: dict[str, str]) -> CounterApplication:
    return CounterApplication(env=env)


def preload(
    app: CounterApplication, workers: int, streams_each: int, events_each: int
) -> list[list[UUID]]:
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [
            [pool.submit(app.create_counter, events_each) for _ in range(streams_each)]
            for _ in range(workers)
        ]
        return [[future.result() for future in worker] for worker in futures]


def command_throughput(
    app: CounterApplication, ids_per_worker: Sequence[Sequence[UUID]], commands_per_worker: int
) -> float:
    """Commands per second, one thread per worker, each on its own aggregates."""

    def worker(ids: Sequence[UUID]) -> None:
        for index in range(commands_per_worker):
            app.increment(ids[index % len(ids)])

    with ThreadPoolExecutor(max_workers=len(ids_per_worker)) as pool:
        started = time.perf_counter()
        futures = [pool.submit(worker, ids) for ids in ids_per_worker]
        for future in futures:
            future.result()
        elapsed = time.perf_counter() - started
    return len(ids_per_worker) * commands_per_worker / elapsed
