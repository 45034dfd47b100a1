"""`python3 bw.py bench notifications [--quick] [--profile FILE]`: webhook deliveries measured
end to end.

The notifications service is started as `bw.py up` starts it (tools/devstack: migrations, then
`python -m services.notifications serve` as its own process, loopback webhooks allowed in
development); the receiver is a raw asyncio HTTP server in its own process on 127.0.0.1; upstream
events are published as the producers' relays publish them (public CloudEvents envelopes on their
JetStream streams, with `Nats-Msg-Id`), buyer sharing's consent watermark among them: notifications
sends a factory's events only while the last one it applied is fresh (docs/notifications.md), so
while the bench runs it publishes one every `BW_CONSENT_WATERMARK_SECONDS` (5 s) after the grants
published so far, as the relay does after draining its outbox. Two phases, each bounded in time:

1. throughput: 100 endpoints of 100 buyers all sharing one factory; a burst of events fans out
   into one message per endpoint; deliveries per second from the first publish to the last
   arrival at the receiver.
2. latency: 100 endpoints, 10 of which hang (never answer: the service's timeout ends each
   attempt), on 10 factories (each shared with 10 buyers, one of them hanging); events at 50/s;
   the delay from each event's time (its append upstream) to its arrival at the healthy
   endpoints, p50/p99.

Figures are printed against the issue's targets, never asserted. `--profile FILE` runs the
service under cProfile (bench/profiled_service.py) and writes its profile there."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import secrets
import signal
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.infra import BenchDatabase, bench_database, describe_machine, infrastructure
from bench.loadgen import percentile
from bench.report import Outcome, rate, summary, table
from bench.webhook_receiver import receiver_process
from libs.domain.envelope import Envelope, event_type
from libs.events.nats import NatsConnection, subject_for
from libs.servicekit.auth import Role, mint_token
from libs.servicekit.settings import DEV_JWT_SECRET
from services.buyer_sharing.contract import watermark_document, watermark_subject
from tools.devstack.config import Config, ServiceSpec
from tools.devstack.output import OutputMux
from tools.devstack.stack import Devstack
from tools.embedded import free_port

TARGET_RATE = 1_000.0
TARGET_P99_MS = 100.0
ENDPOINTS = 100
HANGING = 10
LATENCY_FACTORIES = 10
EVENTS_PER_SECOND = 50.0
TIMEOUT_SECONDS = 5.0  # the service's attempt timeout in this run: hanging attempts end in it
# how often buyer sharing's relay would publish its consent watermark (its default, 5 s)
WATERMARK_SECONDS = float(os.environ.get("BW_CONSENT_WATERMARK_SECONDS", "5"))


@dataclass(frozen=True)
class Sizes:
    burst_events: int  # phase 1: each reaches every one of the 100 endpoints
    burst_seconds: float  # phase 1's time bound
    latency_seconds: float  # phase 2: how long events are published at 50/s


FULL = Sizes(200, 120.0, 30.0)
QUICK = Sizes(30, 60.0, 8.0)


def say(message: str = "") -> None:
    print(message, flush=True)


def ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.1f} ms"


class Upstream:
    """Public envelopes as the assessment and buyer sharing relays publish them, and buyer
    sharing's consent watermarks."""

    def __init__(self, nats: NatsConnection, prefix: str) -> None:
        self.nats = nats
        self.prefix = prefix
        self.versions: dict[str, int] = {}
        self.watermarks = 0
        # a watermark is taken only once every event published before it was acknowledged
        self.publishing = asyncio.Lock()

    def _envelope(
        self, service: str, name: str, stream_id: str, subject: str, data: dict[str, Any], v: int
    ) -> Envelope:
        version = self.versions[stream_id] = self.versions.get(stream_id, 0) + 1
        return Envelope(
            id=str(uuid.uuid4()),
            source=f"/betterwork/{service}",
            type=event_type(service, name, v),
            subject=subject,
            time=datetime.now(UTC),
            data=data,
            correlationid=str(uuid.uuid4()),
            streamid=stream_id,
            streamversion=version,
        )

    def granted(self, factory_id: str, buyer_id: str) -> Envelope:
        return self._envelope(
            "buyer_sharing",
            "SharingGranted",
            f"sharing-{factory_id}:{buyer_id}",
            factory_id,
            {
                "factory_id": factory_id,
                "buyer_id": buyer_id,
                "granted_at": datetime(2024, 1, 1, tzinfo=UTC).isoformat(),
                "ends_on": None,
                "access_request_id": None,
            },
            1,
        )

    def completed(self, factory_id: str) -> Envelope:
        assessment_id = f"a-{uuid.uuid4().hex[:12]}"
        return self._envelope(
            "assessment",
            "AssessmentCompleted",
            f"assessment-{assessment_id}",
            factory_id,
            {
                "assessment_id": assessment_id,
                "factory_id": factory_id,
                "cycle": 1,
                "country": "KH",
                "catalogue_version": "2024.1",
                "report_date": date(2025, 6, 1).isoformat(),
                "non_compliance_count": 0,
                "summary": [],
                "results": [],
            },
            2,
        )

    async def publish(self, envelope: Envelope) -> None:
        async with self.publishing:
            await self.nats.jetstream().publish(
                subject_for(
                    self.prefix, envelope.service, envelope.event_name, envelope.schema_version
                ),
                envelope.to_json(),
                headers={"Nats-Msg-Id": envelope.id},
                timeout=10,
            )

    async def watermark(self) -> None:
        """Buyer sharing's consent watermark as its relay publishes it (the document, subject
        and headers of libs/events/relay.py and services/buyer_sharing/contract.py): as of a
        time after every grant published so far was acknowledged, so they stand before it."""
        async with self.publishing:
            as_of = datetime.now(UTC)
            await self.nats.jetstream().publish(
                f"{self.prefix}{watermark_subject()}",
                watermark_document(as_of),
                headers={"Nats-Msg-Id": f"watermark-{as_of.isoformat()}", "Nats-Rollup": "sub"},
                timeout=10,
            )
        self.watermarks += 1


@contextlib.asynccontextmanager
async def consent_watermarks(upstream: Upstream, every: float) -> AsyncIterator[None]:
    """A watermark now (before any grant or event: no delivery waits for the first one), then
    every `every` seconds while the bench runs; each publication finishes (one cut off by a
    cancellation would leave the NATS client waiting for its answer)."""
    stopping = asyncio.Event()

    async def keep_publishing() -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=every)
            if not stopping.is_set():
                await upstream.watermark()

    await upstream.watermark()
    task = asyncio.create_task(keep_publishing())
    try:
        yield
    finally:
        stopping.set()
        await asyncio.wait_for(task, timeout=30)


@contextlib.asynccontextmanager
async def notifications_process(
    database: BenchDatabase, nats_url: str, workdir: Path, profile: Path | None
) -> AsyncIterator[str]:
    """Migrations, then the service as `bw.py up` starts it; yields its base URL."""
    port = free_port()
    spec = ServiceSpec("notifications", port, "services.notifications")

    def devstack(service: ServiceSpec) -> Devstack:
        config = Config(
            data_dir=workdir,
            database_url=database.dsn,
            nats_url=nats_url,
            pg_port=0,
            nats_port=0,
            services=[service],
        )
        return Devstack(config, OutputMux([service.name], stream=LOG))

    migrations = devstack(spec)
    await migrations.start_servers(with_nats=False)
    await migrations.migrate()
    if profile is not None:
        os.environ["BW_PROFILE_SERVICE"] = "notifications"
        os.environ["BW_PROFILE_OUT"] = str(profile)
        spec = ServiceSpec("notifications", port, "bench.profiled_service")
    stack = devstack(spec)
    try:
        await stack.start_servers(with_nats=True)
        await stack.start_services()
        yield spec.base_url
    finally:
        if profile is not None and stack.services:
            # the profile is written as the process ends: give it longer than devstack's grace
            process = stack.services[0][1]
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                stopping = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), timeout=90)
                say(f"the service stopped {time.monotonic() - stopping:.1f} s after SIGTERM")
        await asyncio.wait_for(stack.shutdown(), timeout=60)


LOG = open(os.devnull, "w")  # noqa: SIM115  # the service's log; --log names a file instead


class Bench:
    def __init__(
        self, sizes: Sizes, database: BenchDatabase, upstream: Upstream, service: str, receiver: str
    ) -> None:
        self.sizes = sizes
        self.database = database
        self.upstream = upstream
        self.service = service
        self.receiver = receiver
        self.client = httpx.AsyncClient(timeout=30.0)
        self.secret = os.environ.get("BW_JWT_SECRET") or DEV_JWT_SECRET
        self.outcomes: list[Outcome] = []
        self.rows: list[list[str]] = []

    async def scalar(self, sql: str, *args: Any) -> Any:
        connection = await asyncpg.connect(self.database.dsn, timeout=10)
        try:
            return await connection.fetchval(sql.replace("{S}", "notifications"), *args)
        finally:
            await connection.close(timeout=5)

    async def wait_for(self, sql: str, expected: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (value := await self.scalar(sql)) != expected:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{sql}: {value}, expected {expected} within {seconds:.0f} s")
            await asyncio.sleep(0.2)

    async def register(self, buyer_id: str, url: str, factory_id: str) -> None:
        token = mint_token(self.secret, f"{buyer_id}-user", Role.BUYER, buyer_id=buyer_id)
        response = await self.client.post(
            f"{self.service}/v1/webhook-endpoints",
            json={"url": url, "event_types": ["AssessmentCompleted"], "factory_ids": [factory_id]},
            headers={"Authorization": f"Bearer {token}"},
        )
        if response.status_code != 201:
            raise RuntimeError(f"registration failed: {response.status_code} {response.text}")

    async def stats(self) -> dict[str, Any]:
        response = await self.client.get(f"{self.receiver}/_stats")
        result: dict[str, Any] = response.json()
        return result

    async def reset(self) -> None:
        await self.client.post(f"{self.receiver}/_reset")

    async def setup(self, run: str, hanging: int, factories: int) -> None:
        """ENDPOINTS buyers, endpoint i on factory i % factories, the first `hanging` hang."""
        grants = 0
        for index in range(ENDPOINTS):
            buyer, factory = f"{run}-buyer-{index}", f"{run}-factory-{index % factories}"
            kind = "hang" if index < hanging else "fast"
            await self.register(buyer, f"{self.receiver}/{kind}/{run}/{index}", factory)
            await self.upstream.publish(self.upstream.granted(factory, buyer))
            grants += 1
        await self.wait_for(
            f"SELECT count(*) FROM {{S}}.grant_event WHERE buyer_id LIKE '{run}-%'", grants, 60
        )

    async def throughput(self) -> None:
        sizes = self.sizes
        await self.setup("tp", hanging=0, factories=1)
        await self.reset()
        expected = sizes.burst_events * ENDPOINTS
        say(f"throughput: {sizes.burst_events} events x {ENDPOINTS} endpoints = {expected:,}")
        started = time.time()
        for _ in range(sizes.burst_events):
            await self.upstream.publish(self.upstream.completed("tp-factory-0"))
        published = time.time() - started
        deadline = time.monotonic() + sizes.burst_seconds
        while (stats := await self.stats())["unique"] < expected:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
        delivered = stats["unique"]
        elapsed = (stats["last_at"] or time.time()) - started
        per_second = delivered / elapsed if elapsed > 0 else 0.0
        self.rows += [
            ["throughput: events published", f"{sizes.burst_events} in {published:.2f} s"],
            ["throughput: deliveries", f"{delivered:,} of {expected:,} in {elapsed:.1f} s"],
            ["throughput: duplicates at the receiver", str(stats["fast"] - stats["unique"])],
            ["throughput: deliveries/s", rate(per_second)],
        ]
        self.outcomes.append(
            Outcome(
                "deliveries/s to a fast receiver (100 endpoints)",
                rate(per_second),
                f">= {rate(TARGET_RATE)}",
                per_second >= TARGET_RATE and delivered == expected,
            )
        )

    async def latency(self) -> None:
        sizes = self.sizes
        await self.setup("lat", hanging=HANGING, factories=LATENCY_FACTORIES)
        await self.reset()
        events = int(sizes.latency_seconds * EVENTS_PER_SECOND)
        say(
            f"latency: {events} events at {EVENTS_PER_SECOND:g}/s on {LATENCY_FACTORIES} "
            f"factories, {ENDPOINTS} endpoints of which {HANGING} hang"
        )
        started = time.monotonic()
        for index in range(events):
            due = started + index / EVENTS_PER_SECOND
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            factory = f"lat-factory-{index % LATENCY_FACTORIES}"
            await self.upstream.publish(self.upstream.completed(factory))
        lag = time.monotonic() - started - sizes.latency_seconds
        healthy = ENDPOINTS - HANGING
        expected = events * healthy // LATENCY_FACTORIES
        deadline = time.monotonic() + 30
        while (stats := await self.stats())["unique"] < expected:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
        latencies = stats["latencies_ms"]
        p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
        worst = max(latencies) if latencies else float("nan")
        timed_out = await self.scalar(
            "SELECT count(*) FROM {S}.attempt WHERE error LIKE 'no answer within%'"
        )
        self.rows += [
            ["latency: events published", f"{events} (publisher {lag:+.2f} s behind schedule)"],
            ["latency: healthy deliveries", f"{stats['unique']:,} of {expected:,}"],
            ["latency: p50 / p99 / max", f"{ms(p50)} / {ms(p99)} / {ms(worst)}"],
            # arrival order: a p99 that grows third by third is a backlog, a flat one is noise
            ["latency: p99 by third of the arrivals", _p99_by_third(latencies)],
            ["latency: hanging requests received", str(stats["hung"])],
            [f"latency: attempts timed out ({TIMEOUT_SECONDS:g} s)", str(timed_out)],
        ]
        self.outcomes.append(
            Outcome(
                "event-to-webhook p99, healthy endpoints, 10 of 100 hang",
                ms(p99),
                f"<= {TARGET_P99_MS:g} ms",
                p99 <= TARGET_P99_MS and stats["unique"] == expected,
            )
        )


def _p99_by_third(latencies: list[float]) -> str:
    third = len(latencies) // 3
    if not third:
        return "n/a"
    parts = (latencies[:third], latencies[third : 2 * third], latencies[2 * third :])
    return " / ".join(ms(percentile(part, 0.99)) for part in parts)


async def run(sizes: Sizes, profile: Path | None) -> None:
    async with infrastructure() as infra:
        machine = await describe_machine(infra)
        say(
            table(
                ["machine", ""],
                [
                    ["date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")],
                    ["cores", f"{machine.cores} (shared with whatever else runs here)"],
                    ["cpu", machine.cpu],
                    ["python", machine.python],
                    ["postgresql", machine.postgres],
                    ["nats-server", machine.nats_server],
                    ["servers", machine.infrastructure],
                ],
            )
        )
        prefix = f"bench{secrets.token_hex(3)}n."
        os.environ.update(
            {
                "BW_ENVIRONMENT": "development",
                "BW_SUBJECT_PREFIX": prefix,
                "BW_WEBHOOK_TIMEOUT_SECONDS": f"{TIMEOUT_SECONDS:g}",
            }
        )
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        workdir = Path(tempfile.mkdtemp(prefix="bench-notifications-"))
        async with (
            bench_database(infra) as database,
            receiver_process(workdir) as receiver,
            notifications_process(database, infra.nats_url, workdir, profile) as service,
        ):
            nats = NatsConnection(infra.nats_url, name="bench-notifications")
            await nats.start()
            try:
                await nats.ensure_stream(prefix, "assessment")
                # the watermarks replace each other (Nats-Rollup), as buyer sharing's stream allows
                await nats.ensure_stream(prefix, "buyer_sharing", allow_rollup=True)
                upstream = Upstream(nats, prefix)
                bench = Bench(sizes, database, upstream, service, receiver)
                try:
                    async with consent_watermarks(upstream, WATERMARK_SECONDS):
                        await asyncio.wait_for(bench.throughput(), sizes.burst_seconds + 180)
                        await asyncio.wait_for(bench.latency(), sizes.latency_seconds + 180)
                    every = f"every {WATERMARK_SECONDS:g} s"
                    bench.rows.append(["consent watermarks", f"{upstream.watermarks} ({every})"])
                finally:
                    await bench.client.aclose()
            finally:
                await nats.stop()
        say()
        say(table(["figure", "value"], bench.rows))
        say()
        say(summary(bench.outcomes))
        if profile is not None:
            say(f"\nprofile of the service process: {profile} (python -m pstats {profile})")


def main() -> None:
    global LOG
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--profile", type=Path, help="cProfile the service into this file")
    parser.add_argument("--log", type=Path, help="write the service's log here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.log:
        LOG = args.log.open("w", encoding="utf-8")
    asyncio.run(run(QUICK if args.quick else FULL, args.profile))


if __name__ == "__main__":
    main()
