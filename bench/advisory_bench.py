"""Phase [8] of `python3 bw.py bench services` (`--only advisory`): the advisory service as its
users meet it, at programme scale.

1. **Data.** When the programme phase ran in this run, its seed (`bw.py seed`) already trained and
   visited the seeded factories through the advisory service: the phase measures on that. Otherwise
   (`--only advisory`) it makes its own programme: the factories the advisory service needs are
   published as the assessment service's relay would publish them (public `FactoryRegistered` and
   one `AssessmentCompleted` per yearly cycle, built with its `contract.py`, with `Nats-Msg-Id`,
   straight to its stream, as the backlog phase does: REST cannot date reports in past years, and
   seeding assessments over REST is the 80 minutes the programme phase takes); then every session,
   sign-in sheet, survey form and visit goes through the advisory service's REST API
   (bench/advisory_programme.py, the seed's own generator), 16 factories at once, bounded in time.
   On a kept database (`--keep`) a whole advisory programme is recorded and reused.
2. **Commands**, each request once on its own resource, with an Idempotency-Key, at c=1 and c=16:
   a sign-in sheet of 30 participants over a four-day course on a freshly scheduled session; the
   delivery of those sessions (participants and completions into the public figures); the
   completion of a planned visit.
3. **Queries** at that scale, c=1, as the other query figures: a factory's sessions, a session, a
   session's attendance (100 a page), a session's survey result, survey results per course, country
   and year, a factory's visits, advisory days per factory, the public programme figures (the
   answers each process keeps per query while no delivery changes them; the first request after a
   change, which computes them, is timed apart).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import nats

from bench.advisory_programme import (
    AdvisoryProgramme,
    CycleFacts,
    SeededFactory,
    today_utc,
)
from bench.loadgen import percentile
from bench.report import Outcome, rate, table
from bench.rest import Caller, token
from libs.domain.envelope import DomainEvent, Envelope, event_type
from libs.events.nats import NatsConnection, stream_name, subject_for
from libs.servicekit.auth import Role
from services.assessment import contract as assessment

if TYPE_CHECKING:
    from bench.service_bench import Bench

TARGET_QUERY_P99_MS = 50.0
COUNTRIES = ("KH", "BD", "VN")
SEED = 18  # the advisory programme's own random seed (its Idempotency-Keys derive from it)
SHEET_SIZE = 30
ADVISORY_DURABLE = "advisory_assessment"
PUBLISH_WINDOW = 2_000


@dataclass(frozen=True)
class AdvisorySizes:
    factories: int  # of the phase's own programme (`--only advisory`)
    cycles: int
    seed_seconds: float  # its seed's time bound (factories in flight finish)
    command_seconds: float  # the time bound of each command workload
    commands_c1: int  # prepared resources (the request budget) at c=1
    commands_c16: int
    query_requests: int


ADVISORY_FULL = AdvisorySizes(2_000, 5, 10_800.0, 20.0, 300, 1_000, 300)
ADVISORY_QUICK = AdvisorySizes(120, 3, 90.0, 10.0, 60, 200, 200)


def say(message: str = "") -> None:
    print(message, flush=True)


def ms(value: float) -> str:
    return "n/a" if value != value else f"{value:,.1f} ms"


# -- the phase's own programme: factories published upstream ----------------------------------------


def synthetic_factories(count: int, cycles: int, today: date) -> list[SeededFactory]:
    """Factories round-robin over three country programmes, each with yearly cycles whose
    reports came out over the past years (the last one 0 to 60 days ago)."""
    factories = []
    for index in range(count):
        rng = random.Random(f"{SEED}-factory-{index}")
        women = rng.randint(300, 4_000)
        factories.append(
            SeededFactory(
                index=index,
                factory_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                country=COUNTRIES[index % len(COUNTRIES)],
                women=women,
                men=int(women * rng.uniform(0.1, 0.5)),
                cycles=tuple(
                    CycleFacts(
                        cycle,
                        today - timedelta(days=365 * (cycles - cycle) + rng.randint(0, 60)),
                    )
                    for cycle in range(1, cycles + 1)
                ),
            )
        )
    return factories


def upstream_envelopes(factory: SeededFactory) -> list[Envelope]:
    """The assessment service's public events the advisory service reads, for one factory."""
    rng = random.Random(f"{SEED}-upstream-{factory.factory_id}")

    def envelope(event: DomainEvent, stream_id: str, version: int, at: date) -> Envelope:
        return Envelope(
            id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            source="/betterwork/assessment",
            type=event_type("assessment", event.event_name, event.schema_version),
            subject=factory.factory_id,
            time=datetime(at.year, at.month, at.day, 9, tzinfo=UTC),
            data=event.model_dump(mode="json"),
            correlationid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            streamid=stream_id,
            streamversion=version,
        )

    first = factory.cycles[0].opened_on - timedelta(days=30)
    envelopes = [
        envelope(
            assessment.FactoryRegistered(
                factory_id=factory.factory_id,
                name=f"Bench Garment {factory.index:05d}",
                country=factory.country,
                address=f"Lot {factory.index % 400 + 1}",
                sector_isic="1410",
                workforce=assessment.Workforce(women=factory.women, men=factory.men),
                os_id=None,
            ),
            f"factory-{factory.factory_id}",
            1,
            first,
        )
    ]
    for facts in factory.cycles:
        assessment_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        envelopes.append(
            envelope(
                assessment.AssessmentCompleted(
                    assessment_id=assessment_id,
                    factory_id=factory.factory_id,
                    cycle=facts.cycle,
                    country=factory.country,
                    catalogue_version="2025.1",
                    report_date=facts.opened_on,
                    non_compliance_count=0,
                    summary=(),
                    results=(),
                ),
                f"assessment-{assessment_id}",
                95,
                facts.opened_on,
            )
        )
    return envelopes


async def publish_upstream(
    nats_url: str, prefix: str, factories: list[SeededFactory], bound: float
) -> None:
    """Publish the factories' upstream events; wait until the advisory service applied them."""
    streams = NatsConnection(nats_url, name="bench-advisory")
    await streams.start()
    try:
        await streams.ensure_stream(prefix, "assessment")
    finally:
        await streams.stop()
    client = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=3)
    try:
        js = client.jetstream()
        started = time.perf_counter()
        pending = []
        published = 0
        for factory in factories:
            for envelope in upstream_envelopes(factory):
                subject = subject_for(
                    prefix, "assessment", envelope.event_name, envelope.schema_version
                )
                pending.append(
                    await js.publish_async(
                        subject, envelope.to_json(), headers={"Nats-Msg-Id": envelope.id}
                    )
                )
                published += 1
                if len(pending) >= PUBLISH_WINDOW:
                    await asyncio.wait_for(asyncio.gather(*pending), 120)
                    pending.clear()
        await asyncio.wait_for(asyncio.gather(*pending), 120)
        say(f"    published {published:,} upstream events in {time.perf_counter() - started:.1f} s")
        stream = stream_name(prefix, "assessment")
        durable = (prefix.replace(".", "_") + ADVISORY_DURABLE).lower()
        left = -1
        deadline = time.perf_counter() + bound
        while time.perf_counter() < deadline:
            info = await js.consumer_info(stream, durable)
            left = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
            if left == 0:
                break
            await asyncio.sleep(0.5)
        state = "all applied" if left == 0 else f"{left:,} still pending"
        say(
            f"    advisory's consumer ({durable}): {state} after "
            f"{time.perf_counter() - started:.1f} s"
        )
    finally:
        await client.close()


# -- the phase ----------------------------------------------------------------------------------


class AdvisoryPhase:
    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.sizes: AdvisorySizes = bench.sizes.advisory
        self.url = bench.stack.url("advisory")
        self.reader_token = token(Role.ASSESSOR, "bench-reader", countries=list(COUNTRIES))

    async def run(self, seeded: dict[str, Any] | None) -> None:
        say("\n[8] advisory: training sessions, attendance, surveys, visits, public figures")
        data = seeded.get("advisory") if seeded else None
        if seeded and data and data.get("sample_sessions"):
            say(
                f"    on the programme seeded in this run ({seeded['factories']:,} factories): "
                f"{self.describe(data)}"
            )
        else:
            data = await self.recorded()
            if data is not None:
                say(f"    recorded in this kept database: {self.describe(data)}")
            else:
                data = await self.seed()
        # as autovacuum would have by then (this machine's server runs without it)
        await self.bench.vacuum("the advisory commands and queries")
        await self.scale_facts()
        factories = [(str(f), str(c)) for f, c in data["sample_factories"]]
        if not factories or not data["sample_sessions"]:
            say("    nothing seeded: no figures")
            return
        await self.commands(factories)
        await self.queries(data, factories)

    @staticmethod
    def describe(data: dict[str, Any]) -> str:
        sessions = ", ".join(f"{n:,} {status}" for status, n in sorted(data["sessions"].items()))
        visits = ", ".join(f"{n:,} {status}" for status, n in sorted(data["visits"].items()))
        forms = data["survey_forms"]
        return (
            f"sessions {sessions} ({data['open_sessions']:,} open); "
            f"{data['participants']:,} participants ({data['attendance_lines']:,} sign-in lines); "
            f"survey forms {forms.get('pre', 0):,} pre, {forms.get('post', 0):,} post; "
            f"visits {visits} ({data['advisory_days']:,.1f} advisory days); "
            f"years {', '.join(str(year) for year in data['years'])}"
        )

    # -- data ---------------------------------------------------------------------------------
    async def recorded(self) -> dict[str, Any] | None:
        connection = await asyncpg.connect(self.bench.database.dsn, timeout=10)
        try:
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS public.bench_advisory (summary jsonb NOT NULL)"
            )
            value = await connection.fetchval("SELECT summary::text FROM public.bench_advisory")
        finally:
            await connection.close(timeout=5)
        return None if value is None else dict(json.loads(value))

    async def record(self, data: dict[str, Any]) -> None:
        connection = await asyncpg.connect(self.bench.database.dsn, timeout=10)
        try:
            await connection.execute(
                "INSERT INTO public.bench_advisory (summary) VALUES ($1::jsonb)", json.dumps(data)
            )
        finally:
            await connection.close(timeout=5)

    async def seed(self) -> dict[str, Any]:
        sizes = self.sizes
        say(
            f"    its own programme: {sizes.factories:,} factories x {sizes.cycles} cycles in "
            f"{', '.join(COUNTRIES)}, published upstream; the advisory work over REST, bounded "
            f"at {sizes.seed_seconds:,.0f} s (factories in flight finish)"
        )
        factories = synthetic_factories(sizes.factories, sizes.cycles, today_utc())
        await publish_upstream(self.bench.nats_url, self.bench.prefix, factories, 300.0)
        requests: Counter[str] = Counter()
        programme = AdvisoryProgramme(
            self.url,
            self.bench.client,
            seed=SEED,
            count=lambda kind: requests.update((kind,)),
            key_prefix=f"bench{SEED}",
        )
        started = time.monotonic()
        last = started

        def progress(done: int) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= 15:
                last = now
                total = sum(requests.values())
                say(
                    f"    {done:,} of {len(factories):,} factories, {total:,} requests "
                    f"({total / (now - started):,.0f}/s)"
                )

        tally = await programme.run(
            factories, concurrency=16, deadline=started + sizes.seed_seconds, on_progress=progress
        )
        seconds = time.monotonic() - started
        total = sum(requests.values())
        data = tally.summary()
        data.update(
            factories=len(tally.sample_factories),
            cycles=sizes.cycles,
            requests=total,
            seconds=seconds,
            seeded_on=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
        say(
            f"    seeded {len(tally.sample_factories):,} factories ({len(tally.failures)} failed): "
            f"{total:,} requests in {seconds:,.0f} s ({total / max(seconds, 1e-9):,.0f}/s)"
        )
        say(f"    {self.describe(data)}")
        for kind, count in sorted(requests.items()):
            say(f"      {kind:<32} {count:,}")
        for failure in tally.failures[:5]:
            say(f"    failure: {failure}")
        if data["factories"] >= sizes.factories and not tally.failures:
            await self.record(data)
        return data

    async def scale_facts(self) -> None:
        """The read models' sizes the queries run on."""
        connection = await asyncpg.connect(self.bench.database.dsn, timeout=10)
        try:
            counts = {}
            for table_name in (
                "factory",
                "training_session",
                "attendance",
                "advisory_visit",
                "survey_change",
                "training_figure",
                "event",
            ):
                counts[table_name] = int(
                    await connection.fetchval(f'SELECT count(*) FROM advisory."{table_name}"')
                )
        finally:
            await connection.close(timeout=5)
        say(
            "    advisory's read models: "
            + ", ".join(
                f"{name} {count:,} rows" for name, count in counts.items() if name != "event"
            )
            + f"; {counts['event']:,} events in its store"
        )

    # -- commands -------------------------------------------------------------------------------
    async def commands(self, factories: list[tuple[str, str]]) -> None:
        sizes = self.sizes
        say(
            f"\n    commands: each request once on its own resource, with an Idempotency-Key; "
            f"{sizes.commands_c1} at c=1, {sizes.commands_c16} at c=16 (bounded at "
            f"{sizes.command_seconds:.0f} s each)"
        )
        country = "KH" if any(c == "KH" for _, c in factories) else factories[0][1]
        local = [factory_id for factory_id, c in factories if c == country]
        trainer_token = token(Role.TRAINER, "bench-trainer", countries=[country])
        advisor_token = token(Role.ASSESSOR, "bench-advisor", countries=[country])
        trainer = Caller(self.bench.client, self.url, trainer_token)
        advisor = Caller(self.bench.client, self.url, advisor_token)
        today = today_utc()
        days = [today - timedelta(days=4 - day) for day in range(4)]  # the last four days
        rows: list[list[str]] = []
        for concurrency, count in ((1, sizes.commands_c1), (16, sizes.commands_c16)):
            warmup = min(concurrency, 10)
            started = time.perf_counter()
            sessions = await self.prepare(
                count + warmup,
                lambda n: trainer.json(
                    "POST",
                    "/v1/training-sessions",
                    json={
                        "course_code": "SST",
                        "factories": [{"factory_id": local[n % len(local)]}],
                        "start_date": days[0].isoformat(),
                        "end_date": days[-1].isoformat(),
                        "capacity": 40,
                        "language": "km" if country == "KH" else "en",
                    },
                ),
            )
            visits = await self.prepare(
                count + warmup,
                lambda n: advisor.json(
                    "POST",
                    "/v1/advisory-visits",
                    json={
                        "factory_id": local[n % len(local)],
                        "planned_for": days[-1].isoformat(),
                        "purpose": "improvement_plan",
                    },
                ),
            )
            say(
                f"    c={concurrency}: scheduled {len(sessions):,} sessions and planned "
                f"{len(visits):,} visits in {time.perf_counter() - started:.1f} s"
            )
            sheets = await self.command(
                "a sign-in sheet of 30 (4 days)",
                trainer_token,
                concurrency,
                warmup,
                [
                    {
                        "method": "POST",
                        "path": f"/v1/training-sessions/{session_id}/attendance",
                        "body": {"attendees": sheet(days)},
                        "idempotency_key": str(uuid.uuid4()),
                    }
                    for session_id in sessions
                ],
                rows,
            )
            await self.command(
                "deliver a session (30 participants)",
                trainer_token,
                concurrency,
                warmup,
                [
                    {
                        "method": "POST",
                        "path": f"/v1/training-sessions/{session_id}/delivery",
                        "idempotency_key": str(uuid.uuid4()),
                    }
                    for session_id in sessions[: sheets["taken"]]
                ],
                rows,
            )
            await self.command(
                "complete a visit",
                advisor_token,
                concurrency,
                warmup,
                [
                    {
                        "method": "POST",
                        "path": f"/v1/advisory-visits/{visit_id}/completion",
                        "body": {
                            "visited_on": days[-1].isoformat(),
                            "duration_days": 1.0,
                            "notes": "Reviewed the plan's open items with the committee.",
                        },
                        "idempotency_key": str(uuid.uuid4()),
                    }
                    for visit_id in visits
                ],
                rows,
            )
        say(table(["command", "c", "requests", "throughput", "p50", "p99", "errors"], rows))

    async def prepare(self, count: int, make: Any) -> list[str]:
        """`count` resources made 8 at a time; their ids, in order."""
        gate = asyncio.Semaphore(8)
        ids: list[str] = [""] * count

        async def one(number: int) -> None:
            async with gate:
                answer = await make(number)
                ids[number] = answer.get("session_id") or answer["visit_id"]

        await asyncio.gather(*(one(number) for number in range(count)))
        return ids

    async def command(
        self,
        label: str,
        bearer: str,
        concurrency: int,
        warmup: int,
        requests: list[dict[str, Any]],
        rows: list[list[str]],
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self.bench.loadgen(
            {
                "base_url": self.url,
                "token": bearer,
                "concurrency": concurrency,
                "seconds": self.sizes.command_seconds,
                "warmup": warmup,
                "requests": requests,
            },
            sample_memory_of="advisory",
        )
        rows.append(
            [
                label,
                str(concurrency),
                f"{result['requests']:,}",
                rate(result["rate"]),
                ms(result["p50_ms"]),
                ms(result["p99_ms"]),
                str(result["errors"]),
            ]
        )
        for sample in result["error_samples"]:
            say(f"    {label} error: {sample}")
        self.bench.outcomes.append(
            Outcome(
                f"advisory: {label}, c={concurrency}",
                f"{rate(result['rate'])}, p50 {ms(result['p50_ms'])}, p99 {ms(result['p99_ms'])}",
                "-",
                None,
            )
        )
        return result

    # -- queries --------------------------------------------------------------------------------
    async def queries(self, data: dict[str, Any], factories: list[tuple[str, str]]) -> None:
        sizes = self.sizes
        say(f"\n    queries at this scale: {sizes.query_requests} requests each, c=1")
        sessions = list(data["sample_sessions"])
        ids = [factory_id for factory_id, _ in factories]
        countries = sorted({country for _, country in factories})
        years = list(data["years"]) or [today_utc().year]
        courses = list(data["courses"]) or ["SST"]
        combos = [
            f"/v1/surveys/results?course_code={course}&country={country}&year={year}"
            for course in courses
            for country in countries
            for year in years
        ]
        random.Random(SEED).shuffle(combos)
        figures = [
            "/v1/training-sessions/figures",
            "/v1/training-sessions/figures?by=course_code",
            "/v1/training-sessions/figures?by=course_code&by=role&by=gender",
            *(f"/v1/training-sessions/figures?country={country}" for country in countries),
            *(
                f"/v1/training-sessions/figures?country={country}&by=course_code&by=role&by=gender"
                for country in countries
            ),
        ]
        computed = await self.figures_computed(figures)
        workloads: list[tuple[str, list[str]]] = [
            ("a factory's sessions", [f"/v1/training-sessions?factory_id={f}" for f in ids]),
            ("a session", [f"/v1/training-sessions/{s}" for s in sessions]),
            (
                "a session's attendance (100 a page)",
                [f"/v1/training-sessions/{s}/attendance?limit=100" for s in sessions],
            ),
            (
                "a session's survey result",
                [f"/v1/training-sessions/{s}/survey-results" for s in sessions],
            ),
            ("survey results per course, country, year", combos[:200]),
            ("a factory's visits", [f"/v1/advisory-visits?factory_id={f}" for f in ids]),
            (
                "advisory days per factory",
                [f"/v1/advisory-visits/days?factory_id={f}" for f in ids],
            ),
            ("the public programme figures (kept answers)", figures),
        ]
        rows = []
        for label, paths in workloads:
            result = await self.bench.loadgen(
                {
                    "base_url": self.url,
                    "token": self.reader_token,
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
            self.bench.outcomes.append(
                Outcome(
                    f"advisory query: {label}",
                    f"p99 {ms(result['p99_ms'])} (p50 {ms(result['p50_ms'])})",
                    f"p99 ≤ {TARGET_QUERY_P99_MS:.0f} ms",
                    result["p99_ms"] <= TARGET_QUERY_P99_MS,
                )
            )
        p50, worst = percentile(computed, 0.5), max(computed, default=float("nan"))
        rows.append(
            [
                f"the public figures computed ({len(computed)} groupings, once each)",
                ms(p50),
                f"max {ms(worst)}",
                "0",
            ]
        )
        self.bench.outcomes.append(
            Outcome(
                "advisory query: public figures, computed (diagnostic)",
                f"max {ms(worst)} (median {ms(p50)}, {len(computed)} groupings)",
                "-",
                None,
            )
        )
        say(table(["query", "p50", "p99", "errors"], rows))

    async def figures_computed(self, paths: list[str]) -> list[float]:
        """Each grouping's first request since the last delivery (the commands delivered
        sessions), which computes it: timed once each, from this process."""
        timings = []
        for path in paths:
            started = time.perf_counter()
            response = await self.bench.client.get(self.url + path)
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                say(f"    {path}: {response.status_code} {response.text[:200]}")
        return timings


def sheet(days: list[date]) -> list[dict[str, Any]]:
    """A sign-in sheet of SHEET_SIZE line supervisors over the course's four days, three of
    them absent one day (as a trainer enters it after the course)."""
    lines = []
    for number in range(SHEET_SIZE):
        attended = [day for index, day in enumerate(days) if not (number % 10 == 3 and index == 2)]
        lines.append(
            {
                "participant_id": f"bench-{number:03d}",
                "role": "supervisor",
                "gender": "female" if number % 5 else "male",
                "attended_on": [day.isoformat() for day in attended],
            }
        )
    return lines
