"""`python -m bench.history_chain [--events N] [--streams S]`: what the hash chain costs at scale
(docs/history-chain.md): N events (default 1,000,000) in S streams (default 20,000) of realistic
size written in bulk with and without the chain's trigger, the migration's chain of an existing
history, a full and an incremental tree head, and `verify-history` over all of it. Runs in its own
database `bench_<hex>` (DATABASE_URL's server, or an embedded one), dropped afterwards."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.infra import bench_database, infrastructure
from bench.report import table
from libs.events.chain import install_hash_chain, remove_hash_chain
from libs.events.tables import create_event_store_tables
from libs.events.treehead import HistoryKey, TreeHeadSigner
from libs.events.verification import verify_history

SCHEMA = "chainbench"
T = TypeVar("T")

# about the size of a finding's event and its metadata in the assessment service
_INSERT = f"""
    INSERT INTO {SCHEMA}.event (stream_id, version, event_id, event_type, subject, data,
                                metadata, recorded_at)
    SELECT 'assessment-' || lpad(((n - 1) % $3)::text, 8, '0'), (n - 1) / $3 + 1,
           gen_random_uuid(), 'FindingRecorded', 'factory-' || ((n - 1) % $3 / 10),
           jsonb_build_object('question_id', 'Q-' || (n % 250), 'answer', 'no',
               'comment', md5(n::text) || md5((n + 1)::text), 'compliant', n % 9 <> 0,
               'recorded_by', 'assessor-' || (n % 40)),
           jsonb_build_object('source', '/betterwork/assessment', 'correlationid', md5(n::text),
               'causationid', null, 'traceparent', null, 'tracestate', null,
               'actor', 'assessor-' || (n % 40)),
           now()
    FROM generate_series($1::bigint, $2::bigint) AS n
    """
_STREAMS = f"""
    INSERT INTO {SCHEMA}.stream (stream_id, stream_type, version)
    SELECT stream_id, 'assessment', max(version) FROM {SCHEMA}.event GROUP BY stream_id
    """


async def timed(work: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await work()
    return result, time.perf_counter() - started


async def fill(driver: asyncpg.Connection, events: int, streams: int) -> float:
    """Write `events` in batches of whole versions (every stream's version v before v + 1)."""
    started = time.perf_counter()
    batch = streams * max(1, 100_000 // streams)
    for first in range(1, events + 1, batch):
        await driver.execute(_INSERT, first, min(events, first + batch - 1), streams)
    return time.perf_counter() - started


async def run(events: int, streams: int) -> None:
    async with infrastructure() as infra, bench_database(infra) as database:
        engine: AsyncEngine = create_async_engine(database.sqlalchemy_url, pool_size=4)
        try:
            await measure(engine, database.dsn, events, streams)
        finally:
            await engine.dispose()


async def measure(engine: AsyncEngine, dsn: str, events: int, streams: int) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await connection.run_sync(create_event_store_tables, SCHEMA)
        await connection.run_sync(remove_hash_chain, SCHEMA)
    driver = await asyncpg.connect(dsn)
    rows: list[list[str]] = []
    try:
        await driver.execute("SET jit = off")
        plain = await fill(driver, events, streams)
        rows.append(["bulk insert, no chain", f"{plain:.1f} s", f"{events / plain:,.0f} events/s"])
        await driver.execute(f"TRUNCATE {SCHEMA}.event")
        async with engine.begin() as connection:
            await connection.run_sync(install_hash_chain, SCHEMA)
        chained = await fill(driver, events, streams)
        rows.append(
            [
                "bulk insert, chained (trigger)",
                f"{chained:.1f} s",
                f"{events / chained:,.0f} events/s",
            ]
        )
        await driver.execute(_STREAMS)
        await driver.execute(f"VACUUM ANALYZE {SCHEMA}.event")

        async def migrate() -> None:
            async with engine.begin() as connection:
                await connection.run_sync(remove_hash_chain, SCHEMA)
                await connection.run_sync(install_hash_chain, SCHEMA)

        _, migration = await timed(migrate)
        rows.append(
            ["migration: chain an existing history", f"{migration:.1f} s", f"{events:,} events"]
        )
        await driver.execute(f"VACUUM ANALYZE {SCHEMA}.event")
        signer = TreeHeadSigner(engine, SCHEMA, [HistoryKey.generate()])
        head, full = await timed(signer.sign)
        assert head is not None
        rows.append(
            ["tree head, computed whole", f"{full:.2f} s", f"{head.stream_count:,} streams"]
        )
        await driver.execute(_INSERT, events + 1, events + 1_000, streams)
        head, incremental = await timed(signer.sign)
        assert head is not None
        rows.append(["tree head, 1,000 events later", f"{incremental:.2f} s", "incremental"])
        report, verification = await timed(lambda: verify_history(driver, SCHEMA))
        assert report.ok, [failure.describe(SCHEMA) for failure in report.failures]
        rows.append(
            [
                "verify-history",
                f"{verification:.1f} s",
                f"{report.events / verification:,.0f} events/s, {report.heads} heads",
            ]
        )
    finally:
        await driver.close()
    print(table([f"{events:,} events in {streams:,} streams", "time", ""], rows), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.history_chain", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--streams", type=int, default=20_000)
    arguments = parser.parse_args()
    asyncio.run(run(arguments.events, arguments.streams))


if __name__ == "__main__":
    main()
