"""The consuming side of the latency workload, in its own process as another service would be:
`python -m bench.latency_consumer DATABASE_DSN NATS_URL SUBJECT_PREFIX WARM_UP COUNT` applies events
with a ConsumerRunner and prints the append → handler latencies (ms) of the last COUNT as JSON."""

from __future__ import annotations

import asyncio
import json
import sys

from sqlalchemy.ext.asyncio import AsyncConnection

from bench import ours
from libs.domain.envelope import DomainEvent, Envelope, utcnow
from libs.events.consumer import ConsumerRunner, Subscription
from libs.events.nats import NatsConnection
from libs.servicekit.app import tune_garbage_collector


async def consume(dsn: str, nats_url: str, prefix: str, warm_up: int, count: int) -> list[float]:
    latencies_ms: list[float] = []
    done = asyncio.Event()

    async def record(_: AsyncConnection, envelope: Envelope, __: DomainEvent) -> None:
        latencies_ms.append((utcnow() - envelope.time).total_seconds() * 1000)
        if len(latencies_ms) >= warm_up + count:
            done.set()

    engine = await ours.make_engine("postgresql+asyncpg://" + dsn.split("://", 1)[1], 4)
    nats = NatsConnection(nats_url, name="bench-latency-consumer")
    await nats.start()
    runner = ConsumerRunner(
        engine=engine,
        schema=ours.SCHEMA,
        nats=nats,
        subscription=Subscription(
            durable="bench_latency",
            source_service=ours.SERVICE,
            handlers={ours.CounterIncremented.event_name: record},
            registry=ours.make_registry(),
        ),
        subject_prefix=prefix,
    )
    await runner.provision()
    await runner.start()
    print("ready", flush=True)
    try:
        await asyncio.wait_for(done.wait(), timeout=300)
    finally:
        await runner.stop()
        await nats.stop()
        await engine.dispose()
    return latencies_ms[warm_up:]


def main() -> None:
    dsn, nats_url, prefix, warm_up, count = sys.argv[1:6]
    tune_garbage_collector()
    latencies = asyncio.run(consume(dsn, nats_url, prefix, int(warm_up), int(count)))
    print(json.dumps(latencies), flush=True)


if __name__ == "__main__":
    main()
