"""`python -m bench [--quick]`: one benchmark run of libs/events against PostgreSQL and NATS, with
the `eventsourcing` library as the command-throughput baseline; prints figures, ratios and targets."""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from bench import baseline, ours
from bench.infra import (
    BenchDatabase,
    Infrastructure,
    bench_database,
    describe_machine,
    infrastructure,
)
from bench.report import Outcome, rate, summary, table
from libs.events.nats import NatsConnection
from libs.events.store import EventStore
from libs.servicekit.app import tune_garbage_collector


@dataclass(frozen=True)
class Sizes:
    commands_c1: int
    streams_c1: int
    commands_per_worker_c16: int
    streams_per_worker_c16: int
    outbox_events: int
    latency_rate: float
    latency_seconds: float
    # a lower rate as a diagnostic: latency of the pipeline when commands are not queueing
    unsaturated_rate: float
    unsaturated_seconds: float


# c=16 does 3,200 commands: the baseline's ~170/s on 2 cores keeps that phase near 20 s
FULL = Sizes(2_000, 500, 200, 50, 20_000, 500.0, 10.0, 100.0, 5.0)
QUICK = Sizes(300, 100, 100, 25, 2_000, 500.0, 3.0, 100.0, 2.0)
WORKERS = 16
EVENTS_PER_STREAM = 10


def say(message: str) -> None:
    print(message, flush=True)


async def run(sizes: Sizes) -> None:
    async with infrastructure() as infra:
        machine = await describe_machine(infra)
        say(
            table(
                ["machine", ""],
                [
                    ["date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")],
                    ["cores", str(machine.cores)],
                    ["cpu", machine.cpu],
                    ["python", machine.python],
                    ["postgresql", machine.postgres],
                    ["nats-server", machine.nats_server],
                    ["servers", machine.infrastructure],
                ],
            )
        )
        async with bench_database(infra) as database:
            await run_workloads(infra, database, sizes)


async def run_workloads(infra: Infrastructure, database: BenchDatabase, sizes: Sizes) -> None:
    run_id = secrets.token_hex(3)
    relay_prefix, raw_prefix, latency_prefix, unsaturated_prefix = (
        f"bench{run_id}{kind}." for kind in ("relay", "raw", "latency", "unsaturated")
    )
    engine = await ours.make_engine(database.sqlalchemy_url, pool_size=WORKERS + 4)
    nats_connection = NatsConnection(infra.nats_url, name="bench")
    await nats_connection.start()
    app: baseline.CounterApplication | None = None
    outcomes: list[Outcome] = []
    store = EventStore(
        engine=engine,
        schema=ours.SCHEMA,
        registry=ours.make_registry(),
        subject_prefix=relay_prefix,
        pool_size=WORKERS + 4,
    )
    try:
        await ours.create_schema(engine)
        await baseline.create_schema(database.dsn)
        app = await asyncio.to_thread(
            baseline.open_application, database.eventsourcing_env(baseline.SCHEMA, WORKERS)
        )
        outcomes += await commands(store, app, sizes)
        await ours.clear_outbox(engine)

        say(f"\n[2] relay: {sizes.outbox_events:,} outbox entries → JetStream …")
        relay = await ours.relay_throughput(
            engine, store, nats_connection, raw_prefix, sizes.outbox_events
        )
        relay_ratio = relay.relay_per_second / relay.raw_per_second
        say(
            table(
                ["relay", "msgs/s"],
                [
                    ["OutboxRelay.relay_batch() loop", rate(relay.relay_per_second)],
                    ["raw nats-py publish_async", rate(relay.raw_per_second)],
                    ["ratio relay/raw", f"{relay_ratio:.0%}"],
                    [
                        "NATS subscriptions before/after relay",
                        f"{relay.nats_subscriptions_before}/{relay.nats_subscriptions_after}",
                    ],
                ],
            )
        )
        outcomes.append(
            Outcome(
                "relay vs raw publish",
                f"{relay_ratio:.0%} ({rate(relay.relay_per_second)})",
                "≥ 70%",
                relay_ratio >= 0.7,
            )
        )

        say(f"\n[3] consumer: {sizes.outbox_events:,} events → read model with inbox …")
        consumed = await ours.consumer_throughput(
            engine, nats_connection, relay_prefix, sizes.outbox_events
        )
        say(
            table(
                ["consumer", "events/s"],
                [["ConsumerRunner, inbox + read model upsert per batch", rate(consumed)]],
            )
        )
        outcomes.append(
            Outcome("consumer throughput", rate(consumed), "≥ 5,000/s", consumed >= 5000)
        )

        for rate_per_second, seconds, prefix, is_target in (
            (sizes.latency_rate, sizes.latency_seconds, latency_prefix, True),
            (sizes.unsaturated_rate, sizes.unsaturated_seconds, unsaturated_prefix, False),
        ):
            say(
                f"\n[4] latency: {rate_per_second:.0f} commands/s for {seconds:.0f} s, "
                "append → consumer handler …"
            )
            await ours.clear_outbox(engine)
            latency = await ours.latency(
                engine, database.dsn, infra.nats_url, prefix, rate_per_second, seconds
            )
            say(
                table(
                    ["latency", "ms"],
                    [
                        ["p50", f"{latency.p50_ms:.1f}"],
                        ["p99", f"{latency.p99_ms:.1f}"],
                        ["max", f"{latency.max_ms:.1f}"],
                        ["events", f"{latency.events:,}"],
                        ["offered rate", f"{latency.achieved_rate:,.0f}/s"],
                    ],
                )
            )
            outcomes.append(
                Outcome(
                    f"latency p99 at {rate_per_second:.0f}/s"
                    + ("" if is_target else " (diagnostic)"),
                    f"{latency.p99_ms:.1f} ms (p50 {latency.p50_ms:.1f})",
                    "≤ 50 ms" if is_target else "-",
                    latency.p99_ms <= 50 if is_target else None,
                )
            )
    finally:
        if app is not None:
            await asyncio.to_thread(app.close)
        await ours.delete_streams(
            nats_connection, [relay_prefix, raw_prefix, latency_prefix, unsaturated_prefix]
        )
        await nats_connection.stop()
        await store.close()
        await engine.dispose()
    say("\nsummary")
    say(summary(outcomes))


async def commands(
    store: EventStore, app: baseline.CounterApplication, sizes: Sizes
) -> list[Outcome]:
    say(
        "\n[1] commands: load a stream of ~10 events, append one event + outbox entry, one transaction"
        "\n    (libs/events: load, then one atomic append statement; 'in a unit of work': the same"
        "\n    inside BEGIN … COMMIT, as when a read model is updated in the same transaction)"
    )
    c1_streams = [[f"c1-{index}" for index in range(sizes.streams_c1)]]
    c16_streams = [
        [f"c16-{worker}-{index}" for index in range(sizes.streams_per_worker_c16)]
        for worker in range(WORKERS)
    ]
    warm_streams = [[f"warm-{worker}"] for worker in range(WORKERS)]
    started = time.perf_counter()
    for group in (c1_streams, c16_streams, warm_streams):
        await ours.preload(
            store, [stream for streams in group for stream in streams], EVENTS_PER_STREAM
        )
    baseline_c1 = await asyncio.to_thread(
        baseline.preload, app, 1, sizes.streams_c1, EVENTS_PER_STREAM
    )
    baseline_c16 = await asyncio.to_thread(
        baseline.preload, app, WORKERS, sizes.streams_per_worker_c16, EVENTS_PER_STREAM
    )
    baseline_warm = await asyncio.to_thread(baseline.preload, app, WORKERS, 1, EVENTS_PER_STREAM)
    say(f"    preloaded both stores in {time.perf_counter() - started:.1f} s")

    # Warm pools, prepared statements and code paths on both sides before timing.
    await ours.command_throughput(store, warm_streams, 20)
    await asyncio.to_thread(baseline.command_throughput, app, baseline_warm, 20)

    rows = []
    outcomes = []
    for concurrency, our_streams, their_ids, count, target in (
        (1, c1_streams, baseline_c1, sizes.commands_c1, 3.0),
        (WORKERS, c16_streams, baseline_c16, sizes.commands_per_worker_c16, 10.0),
    ):
        ours_rate = await ours.command_throughput(store, our_streams, count)
        in_unit_of_work = await ours.command_throughput(
            store, our_streams, count, ours.command_in_unit_of_work
        )
        theirs_rate = await asyncio.to_thread(baseline.command_throughput, app, their_ids, count)
        ratio = ours_rate / theirs_rate
        rows.append(
            [
                f"c={concurrency}",
                f"{count * len(our_streams):,}",
                rate(ours_rate),
                f"{rate(in_unit_of_work)} ({in_unit_of_work / theirs_rate:.2f}x)",
                rate(theirs_rate),
                f"{ratio:.2f}x",
            ]
        )
        outcomes.append(
            Outcome(
                f"commands c={concurrency} vs eventsourcing",
                f"{ratio:.2f}x ({rate(ours_rate)} vs {rate(theirs_rate)})",
                f"≥ {target:.0f}x",
                ratio >= target,
            )
        )
    say(
        table(
            [
                "concurrency",
                "commands",
                "libs/events",
                "in a unit of work",
                "eventsourcing",
                "ratio",
            ],
            rows,
        )
    )
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    tune_garbage_collector()  # as the services do at start-up
    workload = run(QUICK if arguments.quick else FULL)
    try:  # the services run on uvloop (uvicorn's default where installed), so the benchmark does too
        import uvloop
    except ImportError:
        asyncio.run(workload)
    else:
        uvloop.run(workload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
