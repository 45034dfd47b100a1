"""`python -m bench.sharing_scale`: buyer sharing at programme scale, quickly.

The programme generator (`bw.py seed`) drives every command over REST and takes about two hours for
3 countries x 2,000 factories x 5 cycles on this machine. This tool publishes what buyer sharing
reads, the upstream **public** events (the assessment and remediation services' contracts, built
with their own `contract.py` models, in CloudEvents envelopes with `Nats-Msg-Id`, as their relays
publish them), straight to the `ASSESSMENT` and `REMEDIATION` JetStream streams, then:

1. starts buyer sharing once everything is published (`python -m services.buyer_sharing migrate`,
   then `serve`, its own process) and lets its durable consumers drain the backlog (pending + ack
   pending polled until zero; the rate is from ready to drained);
2. registers a buyer and shares 1,000 factories with it over REST (admin grants, 8 at once);
3. measures, over REST at concurrency 1, the buyer's portfolio (100 a page: by risk, the next page,
   by factory id, one country, open critical issues; as the buyer) and the public transparency
   list (all, per country, low-compliance): p50 / p99 per workload and per path, each path warmed
   once first;
4. runs `python -m services.buyer_sharing rebuild` and prints what it printed and its wall time;
5. stops the service, deletes its streams (`<prefix>_ASSESSMENT`, `<prefix>_REMEDIATION`,
   `<prefix>_BUYER_SHARING`) and drops its `bench_<hex>` database, whatever happened.

Figures are printed, never asserted. `--service-cwd` runs the service (migrate, serve, rebuild)
from another checkout, e.g. a `git worktree` of an older commit, to compare code on the same data.
Uses `DATABASE_URL` / `NATS_URL` when set, embedded servers otherwise (bench/infra.py).

Data: factories round-robin over the countries, each on its country's catalogue (every question
answered each cycle), yearly cycles ending this year; non-compliance as bench/programme.py draws it
(11.5% per ordinary question, 3% critical, 0.4% zero tolerance, times a log-normal factory quality,
times 0.88 a cycle, 35% for a question found non-compliant the cycle before: ~10% overall); ~22%
of non-compliances get a factory response, ~3% a dispute, ~4% of assessments a correction; each
plan item is added, then 12% left open, 18% in progress, 10% done, 7% reopened after being done,
53% verified; the plan is published every first cycle and 70% of later ones; items past their due
date and not verified are overdue.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import random
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.js import JetStreamContext

from bench.infra import bench_database, infrastructure
from bench.loadgen import percentile
from bench.report import table
from bench.rest import Caller, portfolio_paths, token, transparency_paths
from libs.domain.envelope import DomainEvent, Envelope, event_type
from libs.events.nats import NatsConnection, stream_name, subject_for
from libs.servicekit.auth import Role
from services.assessment import contract as assessment
from services.assessment.compliance_catalogue import Catalogue, QuestionInContext, load_library
from services.remediation import contract as remediation
from tools.embedded import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
BASE_RATE = 0.115
CRITICAL_RATE = 0.03
ZERO_TOLERANCE_RATE = 0.004
PERSISTENCE = 0.35
IMPROVEMENT_PER_CYCLE = 0.88
PUBLISH_WINDOW = 2_000  # publish acknowledgements awaited together
DURABLES = ("buyer_sharing_assessment", "buyer_sharing_remediation")


def say(message: str = "") -> None:
    print(message, flush=True)


# --- the upstream history -----------------------------------------------------------------------


@dataclass
class Item:
    item_id: str
    assessment_id: str
    cycle: int
    report_date: date
    question: QuestionInContext
    due_date: date
    status: str = "open"
    persistent: bool = False
    verified_at: datetime | None = None


@dataclass
class Plan:
    factory_id: str
    version: int = 0
    items: dict[str, Item] = field(default_factory=dict)
    publication_due: date | None = None
    published: bool = False
    publication_late: bool = False


@dataclass
class History:
    """Builds one factory's public envelopes, numbered per stream as the producers number them."""

    rng: random.Random
    today: date
    versions: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def envelope(
        self,
        service: str,
        event: DomainEvent,
        stream_id: str,
        subject: str,
        at: datetime,
        version: int | None = None,
    ) -> Envelope:
        if version is None:
            version = self.versions.get(stream_id, 0) + 1
        self.versions[stream_id] = max(self.versions.get(stream_id, 0), version)
        name = f"{service}.{event.event_name}"
        self.counts[name] = self.counts.get(name, 0) + 1
        return Envelope(
            id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            source=f"/betterwork/{service}",
            type=event_type(service, event.event_name, event.schema_version),
            subject=subject,
            time=at,
            data=event.model_dump(mode="json"),
            correlationid=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            streamid=stream_id,
            streamversion=version,
        )


@functools.cache
def _catalogue(country: str) -> Catalogue:
    library = load_library()
    catalogue = library.resolve(library.latest_version, country)
    assert catalogue is not None
    return catalogue


def _at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _progress(plan: Plan, today: date) -> remediation.PlanProgress:
    items = plan.items.values()
    total = len(plan.items)
    verified = sum(1 for item in items if item.status == "verified")
    overdue = sum(1 for item in items if item.status != "verified" and item.due_date < today)
    return remediation.PlanProgress(
        total=total,
        open=sum(1 for item in items if item.status == "open"),
        in_progress=sum(1 for item in items if item.status == "in_progress"),
        done=sum(1 for item in items if item.status == "done"),
        verified=verified,
        overdue=overdue,
        share_verified=verified / total if total else 0.0,
        published=plan.published,
        publication_due_date=plan.publication_due,
        publication_late=plan.publication_late
        or (
            not plan.published and plan.publication_due is not None and plan.publication_due < today
        ),
    )


def _plan_item(item: Item, today: date) -> remediation.PlanItem:
    question = item.question
    return remediation.PlanItem(
        item_id=item.item_id,
        assessment_id=item.assessment_id,
        cycle=item.cycle,
        report_date=item.report_date,
        cluster_id=question.cluster.id,
        cluster_name=question.cluster.name,
        compliance_point_id=question.point.id,
        compliance_point_name=question.point.name,
        question_id=question.question.id,
        question_text=question.question.text,
        critical=question.question.critical,
        zero_tolerance=question.question.zero_tolerance,
        persistent=item.persistent,
        status=item.status,
        due_date=item.due_date,
        overdue=item.status != "verified" and item.due_date < today,
        root_cause="Procedure missing" if item.status != "open" else None,
        planned_action="Written procedure and training" if item.status != "open" else None,
        verified_at=item.verified_at,
    )


def factory_history(
    index: int, countries: tuple[str, ...], cycles: int, seed: int, today: date
) -> Iterator[Envelope]:
    """Every public envelope of one factory, in the order its producers would publish them."""
    rng = random.Random(f"{seed}:{index}")
    history = History(rng, today)
    country = countries[index % len(countries)]
    catalogue = _catalogue(country)
    questions = list(catalogue.questions())
    factory_id = f"sf-{index:05d}"
    first_day = date(today.year - cycles + 1, 1, 15) + timedelta(days=rng.randrange(300))
    yield history.envelope(
        "assessment",
        assessment.FactoryRegistered(
            factory_id=factory_id,
            name=f"Garment Factory {index:05d}",
            country=country,
            address=f"Industrial zone {index % 40}, {country}",
            sector_isic="1410",
            workforce=assessment.Workforce(
                women=rng.randrange(200, 3000), men=rng.randrange(50, 800)
            ),
            os_id=f"{country}{2024000 + index:07d}{'ABCDEFGH'[index % 8]}"[:15],
        ),
        f"factory-{factory_id}",
        factory_id,
        _at(first_day - timedelta(days=30)),
    )
    quality = min(3.0, max(0.2, rng.lognormvariate(0.0, 0.5)))
    plan = Plan(factory_id)
    plan_stream = f"plan-{factory_id}"
    previous: set[str] = set()
    for cycle in range(1, cycles + 1):
        report_date = min(
            today, first_day + timedelta(days=365 * (cycle - 1) + rng.randrange(-20, 20))
        )
        at = _at(report_date)
        assessment_id = f"sa-{index:05d}-{cycle}"
        stream = f"assessment-{assessment_id}"
        factor = quality * IMPROVEMENT_PER_CYCLE ** (cycle - 1)
        found: list[QuestionInContext] = []
        results = []
        for entry in questions:
            q = entry.question
            rate = (
                ZERO_TOLERANCE_RATE
                if q.zero_tolerance
                else CRITICAL_RATE
                if q.critical
                else BASE_RATE
            )
            chance = max(PERSISTENCE, rate * factor) if q.id in previous else rate * factor
            draw = rng.random()
            result = (
                "non_compliant"
                if draw < chance
                else "not_applicable"
                if draw > 0.985
                else "compliant"
            )
            if result == "non_compliant":
                found.append(entry)
            results.append(
                assessment.QuestionResult(
                    question_id=q.id,
                    cluster_id=entry.cluster.id,
                    compliance_point_id=entry.point.id,
                    critical=q.critical,
                    zero_tolerance=q.zero_tolerance,
                    result=result,
                )
            )
        summary = []
        for cluster in catalogue.clusters:
            answered = [
                r for r in results if r.cluster_id == cluster.id and r.result != "not_applicable"
            ]
            non_compliant = sum(1 for r in answered if r.result == "non_compliant")
            summary.append(
                assessment.ClusterResult(
                    cluster_id=cluster.id,
                    cluster_name=cluster.name,
                    questions=len(answered),
                    non_compliant=non_compliant,
                    rate=non_compliant / len(answered) if answered else 0.0,
                )
            )
        yield history.envelope(
            "assessment",
            assessment.AssessmentScheduled(
                assessment_id=assessment_id,
                factory_id=factory_id,
                cycle=cycle,
                country=country,
                catalogue_version=catalogue.version,
            ),
            stream,
            factory_id,
            at - timedelta(days=10),
        )
        completed_version = 2 + len(questions)  # the findings recorded before are private
        yield history.envelope(
            "assessment",
            assessment.AssessmentCompleted(
                assessment_id=assessment_id,
                factory_id=factory_id,
                cycle=cycle,
                country=country,
                catalogue_version=catalogue.version,
                report_date=report_date,
                non_compliance_count=len(found),
                summary=tuple(summary),
                results=tuple(results),
            ),
            stream,
            factory_id,
            at,
            completed_version,
        )
        for number, entry in enumerate(found, start=1):
            q = entry.question
            non_compliance = assessment.NonComplianceFound(
                assessment_id=assessment_id,
                factory_id=factory_id,
                cycle=cycle,
                report_date=report_date,
                cluster_id=entry.cluster.id,
                cluster_name=entry.cluster.name,
                compliance_point_id=entry.point.id,
                compliance_point_name=entry.point.name,
                question_id=q.id,
                question_text=q.text,
                critical=q.critical,
                zero_tolerance=q.zero_tolerance,
                evidence=f"Observed on site during cycle {cycle}.",
            )
            version = completed_version + number
            yield history.envelope("assessment", non_compliance, stream, factory_id, at, version)
            if q.zero_tolerance:
                yield history.envelope(
                    "assessment",
                    assessment.ZeroToleranceIssueFound(
                        assessment_id=assessment_id,
                        factory_id=factory_id,
                        cycle=cycle,
                        report_date=report_date,
                        cluster_id=entry.cluster.id,
                        compliance_point_id=entry.point.id,
                        question_id=q.id,
                        question_text=q.text,
                    ),
                    stream,
                    factory_id,
                    at,
                    version,
                )
        later = at + timedelta(days=5)
        for entry in found:
            if rng.random() < 0.22:
                yield history.envelope(
                    "assessment",
                    assessment.FactoryResponded(
                        assessment_id=assessment_id,
                        factory_id=factory_id,
                        question_id=entry.question.id,
                        text="We have started to address this with the union.",
                    ),
                    stream,
                    factory_id,
                    later,
                )
            if rng.random() < 0.03:
                yield history.envelope(
                    "assessment",
                    assessment.FindingDisputed(
                        assessment_id=assessment_id,
                        factory_id=factory_id,
                        question_id=entry.question.id,
                        text="The records were kept at the head office.",
                        reason="Evidence not seen on the day",
                    ),
                    stream,
                    factory_id,
                    later,
                )
        if found and rng.random() < 0.04:
            corrected = rng.choice(found)
            yield history.envelope(
                "assessment",
                assessment.FindingCorrected(
                    assessment_id=assessment_id,
                    factory_id=factory_id,
                    question_id=corrected.question.id,
                    result_before="non_compliant",
                    result_after="non_compliant",
                    evidence="Corrected evidence after review.",
                    reason="Evidence wording",
                    corrected_by="advisor-2",
                ),
                stream,
                factory_id,
                later + timedelta(days=1),
            )
        # remediation: the plan's new items, then their lives
        if plan.publication_due is None:
            plan.publication_due = report_date + timedelta(days=30)
        new_items = []
        for entry in found:
            q = entry.question
            days = 7 if q.zero_tolerance else 30 if q.critical else 90
            item = Item(
                item_id=f"si-{index:05d}-{cycle}-{q.id}",
                assessment_id=assessment_id,
                cycle=cycle,
                report_date=report_date,
                question=entry,
                due_date=report_date + timedelta(days=days),
                persistent=q.id in previous,
            )
            plan.items[item.item_id] = item
            new_items.append(item)
            yield from _plan_change(history, plan, plan_stream, item, "item_added", at, today)
        for item in new_items:
            draw = rng.random()
            steps: list[str] = []
            if draw < 0.12:
                steps = []
            elif draw < 0.30:
                steps = ["in_progress"]
            elif draw < 0.40:
                steps = ["in_progress", "done"]
            elif draw < 0.47:
                steps = ["in_progress", "done", "reopened"]
            else:
                steps = ["in_progress", "done", "verified"]
            moment = at + timedelta(days=3)
            for step in steps:
                moment += timedelta(days=rng.randrange(1, 20))
                if step == "reopened":
                    item.status = "in_progress"
                    change = "reopened"
                elif step == "verified":
                    item.status = "verified"
                    item.verified_at = moment
                    change = "verified"
                else:
                    item.status = step
                    change = "status_changed"
                yield from _plan_change(history, plan, plan_stream, item, change, moment, today)
                if step == "verified":
                    yield history.envelope(
                        "remediation",
                        remediation.RemediationVerified(
                            factory_id=factory_id,
                            item_id=item.item_id,
                            assessment_id=item.assessment_id,
                            question_id=item.question.question.id,
                            verified_at=moment,
                        ),
                        plan_stream,
                        factory_id,
                        moment,
                        plan.version,
                    )
        meeting = report_date + timedelta(days=14)
        yield history.envelope(
            "remediation",
            remediation.CommitteeUpdated(
                factory_id=factory_id,
                committee_version=cycle + 1,
                change="meeting_held",
                management_members=2,
                worker_members=2,
                balanced=True,
                meetings=cycle,
                last_meeting_on=meeting,
                plan_endorsed_on=meeting,
            ),
            f"committee-{factory_id}",
            factory_id,
            _at(meeting),
        )
        if cycle == 1 or rng.random() < 0.7:
            published_at = _at(report_date + timedelta(days=rng.randrange(10, 45)))
            late = not plan.published and published_at.date() > plan.publication_due
            plan.publication_late = plan.publication_late or late
            plan.published = True
            plan.version += 1
            yield history.envelope(
                "remediation",
                remediation.ImprovementPlanPublished(
                    factory_id=factory_id,
                    plan_version=plan.version,
                    published_at=published_at,
                    late=late,
                ),
                plan_stream,
                factory_id,
                published_at,
                plan.version,
            )
        previous = {entry.question.id for entry in found}


def _plan_change(
    history: History, plan: Plan, stream: str, item: Item, change: str, at: datetime, today: date
) -> Iterator[Envelope]:
    plan.version += 1
    yield history.envelope(
        "remediation",
        remediation.ImprovementPlanUpdated(
            factory_id=plan.factory_id,
            plan_version=plan.version,
            change=change,
            item=_plan_item(item, today),
            progress=_progress(plan, today),
        ),
        stream,
        plan.factory_id,
        at,
        plan.version,
    )


# --- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    factories: int
    cycles: int
    countries: tuple[str, ...]
    shared: int
    requests: int
    drain_seconds: float
    rebuild: bool
    rebuild_seconds: float
    seed: int
    service_cwd: Path
    hold: float


async def publish(js: JetStreamContext, prefix: str, options: Options) -> dict[str, int]:
    """Every factory's public envelopes to the producers' streams; counts by event."""
    today = date.today()
    counts: dict[str, int] = {}
    pending: list[Any] = []
    started = time.perf_counter()
    published = 0
    for index in range(options.factories):
        for envelope in factory_history(
            index, options.countries, options.cycles, options.seed, today
        ):
            subject = subject_for(
                prefix, envelope.service, envelope.event_name, envelope.schema_version
            )
            pending.append(
                await js.publish_async(
                    subject, envelope.to_json(), headers={"Nats-Msg-Id": envelope.id}
                )
            )
            name = f"{envelope.service}.{envelope.event_name}"
            counts[name] = counts.get(name, 0) + 1
            published += 1
            if len(pending) >= PUBLISH_WINDOW:
                await asyncio.wait_for(asyncio.gather(*pending), 120)
                pending.clear()
        if (index + 1) % 200 == 0:
            say(
                f"    {index + 1:,} factories, {published:,} events published "
                f"({published / (time.perf_counter() - started):,.0f}/s)"
            )
    await asyncio.wait_for(asyncio.gather(*pending), 120)
    return counts


@contextlib.asynccontextmanager
async def service(
    options: Options, dsn: str, nats_url: str, prefix: str, log: Path
) -> AsyncIterator[str]:
    """buyer_sharing migrated and serving on a free port (its own process, logs to `log`)."""
    port = free_port()
    environment = {
        **os.environ,
        "PORT": str(port),
        "DATABASE_URL": dsn,
        "NATS_URL": nats_url,
        "BW_SUBJECT_PREFIX": prefix,
        "BW_ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        # the public pages' per-client rate limit is a policy, not the query's latency
        "BW_TRANSPARENCY_RATE_PER_SECOND": "100000",
        "BW_TRANSPARENCY_BURST": "100000",
        "PYTHONPATH": str(options.service_cwd),
    }
    migrate = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.buyer_sharing",
        "migrate",
        cwd=options.service_cwd,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(migrate.communicate(), 120)
    if migrate.returncode != 0:
        raise RuntimeError(f"migrate failed: {output.decode()[-2000:]}")
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.buyer_sharing",
            "serve",
            cwd=options.service_cwd,
            env=environment,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                deadline = time.perf_counter() + 60
                while True:
                    if process.returncode is not None:
                        raise RuntimeError(f"buyer_sharing exited; see {log}")
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(url + "/readyz")).status_code == 200:
                            break
                    if time.perf_counter() > deadline:
                        raise RuntimeError(f"buyer_sharing not ready after 60 s; see {log}")
                    await asyncio.sleep(0.3)
            yield url
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 30)
                except TimeoutError:
                    process.kill()
                    await process.wait()


async def drain(js: JetStreamContext, prefix: str, total: int, bound: float) -> None:
    """Wait until both durable consumers have settled everything (bounded)."""
    started = time.perf_counter()
    last_report = started
    left = total
    while time.perf_counter() - started < bound:
        left = 0
        for service_name, durable in zip(("assessment", "remediation"), DURABLES, strict=True):
            name = (prefix.replace(".", "_") + durable).lower()
            try:
                info = await js.consumer_info(stream_name(prefix, service_name), name)
            except Exception:  # not provisioned yet
                left += 1
                continue
            left += int(info.num_pending or 0) + int(info.num_ack_pending or 0)
        if left == 0:
            break
        if time.perf_counter() - last_report > 30:
            last_report = time.perf_counter()
            done = total - left
            say(f"    {done:,} of {total:,} consumed ({done / (last_report - started):,.0f}/s)")
        await asyncio.sleep(0.5)
    elapsed = time.perf_counter() - started
    state = "drained" if left == 0 else f"bound reached, {left:,} left"
    say(
        f"    consumed {total - left:,} events in {elapsed:.1f} s "
        f"({(total - left) / elapsed:,.0f}/s; {state})"
    )


async def share(url: str, options: Options) -> list[str]:
    """One buyer with `shared` factories granted by an admin; the factory ids."""
    async with httpx.AsyncClient(timeout=60) as client:
        admin = Caller(client, url, token(Role.ADMIN, "sharing-scale"))
        await admin.request(
            "POST",
            "/v1/buyers",
            json={
                "buyer_id": "scale-buyer",
                "name": "Scale Brand",
                "country": "DE",
                "contact_name": "Sourcing team",
                "contact_email": "sourcing@example.org",
            },
            accept=(409,),
        )
        factory_ids = [f"sf-{index:05d}" for index in range(min(options.shared, options.factories))]
        gate = asyncio.Semaphore(8)

        async def grant(factory_id: str) -> None:
            async with gate:
                await admin.request(
                    "POST",
                    "/v1/sharing-grants",
                    json={"buyer_id": "scale-buyer", "factory_id": factory_id},
                    accept=(409, 422),
                )

        started = time.perf_counter()
        await asyncio.gather(*(grant(factory_id) for factory_id in factory_ids))
        say(f"    shared {len(factory_ids):,} factories in {time.perf_counter() - started:.1f} s")
        return factory_ids


async def measure(url: str, options: Options) -> None:
    buyer = {"Authorization": f"Bearer {token(Role.BUYER, 'scale-user', buyer_id='scale-buyer')}"}
    base = "/v1/buyers/scale-buyer/factories"
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        first = (await client.get(f"{base}?limit=100", headers=buyer)).json()
        portfolio = portfolio_paths("scale-buyer", first.get("next_cursor"))
        transparency = transparency_paths(options.countries)
        rows = []
        for label, paths, headers in (
            (f"portfolio of {options.shared:,} factories", portfolio, buyer),
            ("transparency list", transparency, {}),
        ):
            latencies: dict[str, list[float]] = {path: [] for path in paths}
            errors = 0
            for path in paths:  # warm each path once (connections, caches, plans)
                await client.get(path, headers=headers)
            for count in range(options.requests):
                path = paths[count % len(paths)]
                started = time.perf_counter()
                response = await client.get(path, headers=headers)
                elapsed = time.perf_counter() - started
                if response.status_code >= 400:
                    errors += 1
                    say(f"    {path}: {response.status_code} {response.text[:200]}")
                    continue
                latencies[path].append(elapsed)
            pooled = [value for values in latencies.values() for value in values]
            rows.append(
                [
                    label,
                    str(len(pooled)),
                    f"{percentile(pooled, 0.5) * 1000:,.1f} ms",
                    f"{percentile(pooled, 0.99) * 1000:,.1f} ms",
                    str(errors),
                ]
            )
            for path, values in latencies.items():
                rows.append(
                    [
                        "  " + path.split("?", 1)[1][:60] if "?" in path else "  " + path,
                        str(len(values)),
                        f"{percentile(values, 0.5) * 1000:,.1f} ms",
                        f"{percentile(values, 0.99) * 1000:,.1f} ms",
                        "",
                    ]
                )
        say(table(["query (c=1, over REST)", "requests", "p50", "p99", "errors"], rows))


async def rebuild(options: Options, dsn: str, nats_url: str, prefix: str) -> None:
    environment = {
        **os.environ,
        "DATABASE_URL": dsn,
        "NATS_URL": nats_url,
        "BW_SUBJECT_PREFIX": prefix,
        "BW_ENVIRONMENT": "development",
        "PYTHONPATH": str(options.service_cwd),
    }
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.buyer_sharing",
        "rebuild",
        cwd=options.service_cwd,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), options.rebuild_seconds)
    except TimeoutError:
        process.kill()
        await process.wait()
        say(f"    rebuild: timed out after {options.rebuild_seconds:.0f} s")
        return
    elapsed = time.perf_counter() - started
    lines = [line for line in output.decode().splitlines() if line.startswith("rebuilt")]
    say(f"    rebuild (exit {process.returncode}), process wall time {elapsed:.1f} s")
    for line in lines or output.decode().splitlines()[-5:]:
        say(f"    {line}")


async def delete_streams(nats_url: str, prefix: str) -> None:
    client = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=3)
    try:
        js = client.jetstream()
        mark = prefix.replace(".", "_").upper()
        for info in await js.streams_info():
            if info.config.name and info.config.name.startswith(mark):
                await js.delete_stream(info.config.name)
    finally:
        await client.close()


async def run(options: Options) -> None:
    async with infrastructure() as infra, bench_database(infra) as database:
        prefix = f"scale{secrets.token_hex(3)}."
        log = Path(tempfile.mkdtemp(prefix="sharing-scale-")) / "buyer_sharing.log"
        say(
            f"buyer sharing at scale: {options.factories:,} factories x {options.cycles} cycles "
            f"({', '.join(options.countries)}), database {database.name}, prefix {prefix!r}, "
            f"service from {options.service_cwd}, its log {log}; "
            f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
        )
        client = await nats.connect(infra.nats_url, connect_timeout=5, max_reconnect_attempts=3)
        try:
            js = client.jetstream()
            streams = NatsConnection(infra.nats_url, name="sharing-scale")
            await streams.start()
            try:
                for producer in ("assessment", "remediation"):
                    await streams.ensure_stream(prefix, producer)
            finally:
                await streams.stop()
            say("[1] publishing the upstream public events (buyer_sharing not started yet)")
            started = time.perf_counter()
            counts = await publish(js, prefix, options)
            total = sum(counts.values())
            say(
                f"    {total:,} events in {time.perf_counter() - started:.1f} s: "
                + ", ".join(f"{name} {count:,}" for name, count in sorted(counts.items()))
            )
            started = time.perf_counter()
            async with service(options, database.dsn, infra.nats_url, prefix, log) as url:
                say(
                    f"    buyer_sharing migrated and ready in {time.perf_counter() - started:.1f} s"
                )
                say("[2] buyer_sharing's consumers drain them")
                await drain(js, prefix, total, options.drain_seconds)
                say("[3] a buyer and its shared factories")
                await share(url, options)
                say("[4] queries")
                await measure(url, options)
            if options.rebuild:
                say("[5] rebuild (the service stopped)")
                await rebuild(options, database.dsn, infra.nats_url, prefix)
            if options.hold > 0:
                say(f"holding {database.dsn} for {options.hold:.0f} s (EXPLAIN ANALYZE it now)")
                await asyncio.sleep(options.hold)
        finally:
            await client.close()
            await delete_streams(infra.nats_url, prefix)
            say(f"streams of {prefix!r} deleted; dropping {database.name}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sharing_scale", description=__doc__)
    parser.add_argument("--factories", type=int, default=2_000)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--countries", default="KH,BD,VN")
    parser.add_argument("--shared", type=int, default=1_000, help="factories shared with the buyer")
    parser.add_argument("--requests", type=int, default=300, help="requests per workload")
    parser.add_argument("--drain-seconds", type=float, default=1_800.0)
    parser.add_argument("--no-rebuild", action="store_true")
    parser.add_argument("--rebuild-seconds", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--service-cwd",
        type=Path,
        default=REPO_ROOT,
        help="the checkout the service runs from (default: this one)",
    )
    parser.add_argument(
        "--hold",
        type=float,
        default=0.0,
        help="seconds to keep the database before cleaning up (to EXPLAIN ANALYZE queries on it)",
    )
    arguments = parser.parse_args()
    options = Options(
        factories=arguments.factories,
        cycles=arguments.cycles,
        countries=tuple(c.strip() for c in arguments.countries.split(",") if c.strip()),
        shared=arguments.shared,
        requests=arguments.requests,
        drain_seconds=arguments.drain_seconds,
        rebuild=not arguments.no_rebuild,
        rebuild_seconds=arguments.rebuild_seconds,
        seed=arguments.seed,
        service_cwd=arguments.service_cwd.resolve(),
        hold=arguments.hold,
    )
    asyncio.run(run(options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
