"""Issue 19 end to end: a programme's past, generated for 2001-2010 (`tools.history`, a small
programme of FACTORIES factories so the test stays within minutes), imported with
`python -m tools.ops import` into the five services run as real processes (tools/devstack, as
`bw.py up` runs them) on real PostgreSQL and NATS.

- the results endpoint equals the table computed from the bundle's files alone
  (`tools.history.expected`); the yearly synthesis, transparency (rates, the low-compliance list)
  and the reliance statistics show the years 2001-2010; a buyer's webhook endpoint registered
  before the import receives none of the past, only what happens live afterwards;
- importing again changes nothing: every record unchanged, not one event more;
- a service killed with -9 mid-import and started again: the import finishes, and the system
  holds exactly what a clean import gives (every kind's ledger, every store's events);
- bad records (a schema violation, an unknown factory, a finding for a question that is not in
  that year's catalogue, an end before a start) are reported by file, line and field, and nothing
  of them is imported, everything else is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest

from libs.domain.history.bundle import imported_id
from libs.servicekit.auth import Role, mint_token
from services.notifications.upstream import DELIVERABLE
from tests.e2e.conftest import JWT_SECRET, running_system
from tests.history_bundles import Line, altered_copy, read_records
from tools.demo.receiver import WebhookReceiver
from tools.devstack.config import REPO_ROOT
from tools.devstack.stack import Devstack
from tools.history.expected import results
from tools.history.generate import generate
from tools.history.shape import SHAPES
from tools.ops.targets import SERVICE_PORTS
from tools.postgres_admin import create_database, drop_database, with_database
from tools.testing import NATS_TIMEOUT, delete_streams, stream_name_prefix

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

FACTORIES = 40  # about 230 assessments, 1,500 plan items, 370 reliances: some 30,000 events
YEARS = range(2001, 2011)
CLI_TIMEOUT = 300.0
ADMIN = {
    "Authorization": "Bearer " + mint_token(JWT_SECRET, "history-test", Role.ADMIN, countries="*")
}
STAFF = {
    "Authorization": "Bearer "
    + mint_token(JWT_SECRET, "history-assessor", Role.ASSESSOR, countries=["KH"])
}
SCHEMAS = tuple(SERVICE_PORTS)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated history of a small Cambodian programme, 2001-2010 (the same bytes always)."""
    directory = tmp_path_factory.mktemp("history") / "bundle"
    generate(directory, SHAPES["history"].with_factories(FACTORIES), seed=1)
    return directory


@asynccontextmanager
async def fresh_system(
    pg_server_url: str, nats_server_url: str, data_dir: Path
) -> AsyncIterator[Devstack]:
    """The five services on their own database and subject prefix, removed afterwards."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    prefix = f"t{uuid.uuid4().hex[:8]}."
    await create_database(pg_server_url, database)
    try:
        async with running_system(
            data_dir, with_database(pg_server_url, database), nats_server_url, prefix
        ) as stack:
            yield stack
    finally:
        await drop_database(pg_server_url, database)
        with contextlib.suppress(OSError, TimeoutError, nats.errors.Error):
            await asyncio.wait_for(
                delete_streams(nats_server_url, stream_name_prefix(prefix)), NATS_TIMEOUT * 4
            )


@pytest.fixture(scope="module")
async def system(
    pg_server_url: str, nats_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Devstack]:
    """One running system for the clean import and then the bad records (another programme's
    source ids, so neither sees the other's records)."""
    async with fresh_system(
        pg_server_url, nats_server_url, tmp_path_factory.mktemp("system")
    ) as stack:
        yield stack


def url(stack: Devstack, service: str) -> str:
    return stack.service(service)[0].base_url


def cli_environment(stack: Devstack) -> dict[str, str]:
    """What an operator sets: the database, NATS and subject prefix the services use, each
    service's URL and the secret development admin tokens are minted with."""
    environment = {
        **os.environ,
        "DATABASE_URL": stack.database_url,
        "NATS_URL": stack.nats_url,
        "BW_SUBJECT_PREFIX": stack.config.service_environment["BW_SUBJECT_PREFIX"],
        "BW_JWT_SECRET": JWT_SECRET,
        "COLUMNS": "200",
    }
    for spec in stack.config.services:
        environment[f"BW_{spec.name.upper()}_URL"] = spec.base_url
    return environment


async def start_import(
    stack: Devstack, directory: Path, *arguments: str
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tools.ops",
        "import",
        str(directory),
        *arguments,
        cwd=REPO_ROOT,
        env=cli_environment(stack),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def finished(process: asyncio.subprocess.Process) -> tuple[int, str]:
    output, _ = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
    text = output.decode()
    print(text)  # pytest shows it when the test fails
    return process.returncode or 0, text


async def ops_import(stack: Devstack, directory: Path, *arguments: str) -> tuple[int, str]:
    return await finished(await start_import(stack, directory, *arguments))


async def query(stack: Devstack, sql: str, *values: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(stack.database_url, timeout=10)
    try:
        return list(await connection.fetch(sql, *values, timeout=30))
    finally:
        await connection.close(timeout=5)


async def stored_events(stack: Devstack) -> dict[str, Counter[str]]:
    """Every store's events by type."""
    counted: dict[str, Counter[str]] = {}
    for schema in SCHEMAS:
        rows = await query(
            stack, f'SELECT event_type, count(*) AS n FROM "{schema}".event GROUP BY event_type'
        )
        counted[schema] = Counter({row["event_type"]: row["n"] for row in rows})
    return counted


async def ledger(stack: Devstack) -> dict[str, int]:
    """Records in the import ledgers, by kind (each owning service keeps its kinds')."""
    counted: Counter[str] = Counter()
    for schema in SCHEMAS:
        present = await query(stack, "SELECT to_regclass($1) AS t", f"{schema}.import_record")
        if present[0]["t"] is None:
            continue
        for row in await query(
            stack, f'SELECT kind, count(*) AS n FROM "{schema}".import_record GROUP BY kind'
        ):
            counted[row["kind"]] += row["n"]
    return dict(counted)


def summary_rows(output: str) -> dict[str, list[str]]:
    """The CLI's summary table: kind -> its cells (service, records, imported, unchanged,
    rejected, events, ...)."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip("│┃ ").split("│")]
        if len(cells) >= 9 and cells[0] in {
            "factories",
            "assessments",
            "buyers",
            "committees",
            "plan-items",
            "grants",
            "reliances",
            "training-sessions",
            "advisory-visits",
        }:
            rows[cells[0]] = cells
    return rows


def number(cell: str) -> int:
    return int(cell.replace(",", ""))


async def test_the_past_imports_once_shows_its_years_and_sends_no_webhook(
    bundle: Path, system: Devstack, tmp_path: Path
) -> None:
    records = read_records(bundle)
    expected = results(bundle, "KH")
    buyer_source = Counter(grant["buyer"] for grant in records["grants"]).most_common(1)[0][0]
    buyer_id = imported_id("buyers", buyer_source)
    stack = system
    async with WebhookReceiver() as receiver, httpx.AsyncClient(timeout=30) as client:
        # a buyer of the past registers its endpoint before the import, for every event type
        registered = await client.post(
            f"{url(stack, 'notifications')}/v1/webhook-endpoints",
            headers=ADMIN,
            json={
                "url": receiver.url("/hooks"),
                "event_types": sorted(DELIVERABLE),
                "buyer_id": buyer_id,
            },
        )
        assert registered.status_code == 201, registered.text
        receiver.expect("/hooks", registered.json()["secret"])

        code, output = await ops_import(stack, bundle, "--report", str(tmp_path / "r.jsonl"))
        assert code == 0, output
        imported = summary_rows(output)
        for kind, lines in records.items():
            cells = imported[kind]
            assert (number(cells[2]), number(cells[3]), number(cells[5])) == (
                len(lines),
                len(lines),
                0,
            ), cells
        assert not (tmp_path / "r.jsonl").exists()
        assert await ledger(stack) == {kind: len(lines) for kind, lines in records.items()}

        # the programme's results are the table computed from the files
        answer = await client.get(
            f"{url(stack, 'buyer_sharing')}/v1/programme/results", params={"country": "kh"}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == expected
        assert (answer.json()["first_year"], answer.json()["last_year"]) == (2001, 2010)

        # the yearly synthesis, transparency and the reliance statistics show 2001-2010
        by_year = {row["year"]: row for row in expected["years"]}
        for year in YEARS:
            synthesis = await client.get(
                f"{url(stack, 'assessment')}/v1/assessments/synthesis",
                params={"country": "KH", "year": year},
                headers=STAFF,
            )
            assert synthesis.status_code == 200, synthesis.text
            assert synthesis.json()["assessments"] == by_year[year]["assessments_completed"]
            if by_year[year]["assessments_completed"]:
                assert synthesis.json()["clusters"], year
                rates = await client.get(
                    f"{url(stack, 'buyer_sharing')}/v1/transparency/rates",
                    params={"country": "KH", "year": year},
                )
                assert rates.status_code == 200, rates.text
                assert rates.json()["clusters"], year
        low = await client.get(
            f"{url(stack, 'buyer_sharing')}/v1/transparency/low-compliance",
            params={"country": "KH"},
        )
        assert low.status_code == 200, low.text
        listed = low.json()
        assert listed and {entry["year"] for entry in listed} <= set(YEARS)
        reports = Counter(imported_id("factories", a["factory"]) for a in records["assessments"])
        assert all(reports[entry["factory_id"]] >= 3 for entry in listed)
        statistics = await client.get(
            f"{url(stack, 'buyer_sharing')}/v1/audit-reliance/statistics",
            params={"country": "KH"},
            headers=ADMIN,
        )
        assert statistics.status_code == 200, statistics.text
        rows = {row["year"]: row for row in statistics.json()}
        participating = {y for y in YEARS if by_year[y]["buyers_participating"]}
        relying = {y for y in YEARS if by_year[y]["buyers_relying"]}
        assert {y for y in YEARS if rows.get(y, {}).get("buyers_participating")} == participating
        assert {y for y in YEARS if rows.get(y, {}).get("buyers_relying")} == relying
        assert min(relying) >= 2004 and max(relying) == 2010

        # the past is no news: a live grant reaches the buyer, nothing imported did
        live_factory = imported_id("factories", records["factories"][0]["source_id"])
        granted = await client.post(
            f"{url(stack, 'buyer_sharing')}/v1/sharing-grants",
            headers=ADMIN,
            json={"buyer_id": buyer_id, "factory_id": live_factory, "reason": "live"},
        )
        assert granted.status_code in (200, 201), granted.text
        await receiver.wait_for(lambda: bool(receiver.applied["/hooks"]), timeout=60)
        await asyncio.sleep(2)  # anything queued before it would have arrived by now
        assert receiver.names("/hooks") == ["SharingGranted"], receiver.names("/hooks")
        assert not receiver.rejected

        # importing again changes nothing: every record unchanged, not one event more
        before = await stored_events(stack)
        code, output = await ops_import(stack, bundle)
        assert code == 0, output
        again = summary_rows(output)
        for kind, lines in records.items():
            cells = again[kind]
            assert (number(cells[3]), number(cells[4]), number(cells[6])) == (
                0,
                len(lines),
                0,
            ), cells
        assert await stored_events(stack) == before
        assert await ledger(stack) == {kind: len(lines) for kind, lines in records.items()}


async def test_a_service_killed_mid_import_loses_and_duplicates_nothing(
    bundle: Path, pg_server_url: str, nats_server_url: str, tmp_path: Path
) -> None:
    records = read_records(bundle)
    total = len(records["assessments"])
    async with contextlib.AsyncExitStack() as running:
        # both systems at once: starting one is most of this test's time
        async with asyncio.TaskGroup() as group:
            starting = [
                group.create_task(
                    running.enter_async_context(
                        fresh_system(pg_server_url, nats_server_url, tmp_path / name)
                    )
                )
                for name in ("killed", "clean")
            ]
        killed, clean = (task.result() for task in starting)
        reference = await start_import(clean, bundle)
        importing = await start_import(killed, bundle, "--chunk", "10")
        done = 0
        async with asyncio.timeout(CLI_TIMEOUT):
            while done < 2 * 10:  # two chunks of assessments committed
                assert importing.returncode is None, "the import ended before the kill"
                await asyncio.sleep(0.05)
                done = (await ledger(killed)).get("assessments", 0)
        await killed.kill_service("assessment")
        assert done < total, "every assessment was in before the kill: a bigger bundle?"
        await asyncio.sleep(1)
        await killed.start_service("assessment")
        code, output = await finished(importing)
        assert code == 0, output
        assert "sent again while a service was away" in " ".join(output.split())
        code, clean_output = await finished(reference)
        assert code == 0, clean_output

        counts = {kind: len(lines) for kind, lines in records.items()}
        assert await ledger(killed) == counts == await ledger(clean)
        assert await stored_events(killed) == await stored_events(clean)
        for stack in (killed, clean):
            parked = await query(
                stack,
                " UNION ALL ".join(
                    f'SELECT count(*) AS n FROM "{schema}".dead_letter' for schema in SCHEMAS
                ),
            )
            assert sum(row["n"] for row in parked) == 0


BAD_PREFIX = "KX"  # another programme's source ids: its records are new to any system


def corrupt(records: dict[str, list[Line]]) -> dict[str, set[int]]:
    """Four bad records, and the plan items of the bad assessment (its aggregate: nothing of it
    may be imported); returns the lines each file must have rejected."""
    bad: dict[str, set[int]] = {}
    visits = records["advisory-visits"]
    visits[0] = {**visits[0], "duration_days": 0}  # type: ignore[dict-item]  # the schema's
    bad["advisory-visits"] = {1}

    reliances = records["reliances"]
    reliances[0] = {**reliances[0], "period_end": "2000-01-01"}  # type: ignore[dict-item]
    bad["reliances"] = {1}

    assessments: list[dict[str, Any]] = records["assessments"]  # type: ignore[assignment]
    stranger = {
        **assessments[0],
        "source_id": f"{BAD_PREFIX}-A-99999-01",
        "factory": f"{BAD_PREFIX}-F-99999",  # no such factory
    }
    # a finding for a question of the 2008 catalogue in an assessment on 2001's: of those no
    # buyer relied on, the one with the fewest plan items
    relied_on = {reliance["assessment"] for reliance in reliances[1:]}  # type: ignore[index]
    items = Counter(item["assessment"] for item in records["plan-items"])  # type: ignore[index]
    index = min(
        (
            i
            for i, assessment in enumerate(assessments)
            if assessment["catalogue_version"] == "2001.1"
            and assessment["source_id"] not in relied_on
        ),
        key=lambda i: items[assessments[i]["source_id"]],
    )
    finding = {"question_id": "COM-PRE-01", "compliant": True}
    assessments[index] = {
        **assessments[index],
        "findings": [*assessments[index]["findings"], finding],
    }
    bad["assessments"] = {index + 1}
    assessments.append(stranger)
    bad["assessments"].add(len(assessments))

    source_id = assessments[index]["source_id"]
    bad["plan-items"] = {
        number
        for number, item in enumerate(records["plan-items"], start=1)
        if item["assessment"] == source_id  # type: ignore[index]
    }
    return bad


async def test_bad_records_are_reported_and_nothing_of_them_is_imported(
    system: Devstack, tmp_path: Path
) -> None:
    generated = tmp_path / "generated"
    generate(generated, SHAPES["history"].with_factories(8), seed=2, prefix=BAD_PREFIX)
    rejected: dict[str, set[int]] = {}
    bad = tmp_path / "bad"
    altered_copy(
        generated, bad, lambda records: rejected.update(corrupt(records)), bundle_id="KX-bad"
    )
    records = read_records(bad)
    files = {kind: kind.replace("-", "_") + ".jsonl" for kind in records}
    report = tmp_path / "report.jsonl"
    stack = system
    before = await ledger(stack)
    code, output = await ops_import(stack, bad, "--report", str(report))
    assert code == 1, output
    count = sum(len(lines) for lines in rejected.values())
    assert f"{count} record(s) rejected" in " ".join(output.split())
    problems = [json.loads(line) for line in report.read_text().splitlines()]
    assert {(p["file"], p["line"]) for p in problems} == {
        (files[kind], line) for kind, lines in rejected.items() for line in lines
    }, problems
    named = {(p["file"], p["line"], p["field"], p["stage"]) for p in problems}
    assert ("advisory_visits.jsonl", 1, "duration_days", "bundle") in named
    assert ("reliances.jsonl", 1, "period_end", "bundle") in named
    [unknown, question] = sorted(rejected["assessments"], reverse=True)
    assert ("assessments.jsonl", unknown, "factory", "service") in named
    assert any(
        (p["file"], p["line"]) == ("assessments.jsonl", question)
        and p["field"].endswith("question_id")
        and "not in catalogue 2001.1" in p["reason"]
        for p in problems
    ), problems

    # nothing of the bad records, everything else
    counts = Counter({kind: len(lines) for kind, lines in records.items()})
    counts.subtract({kind: len(lines) for kind, lines in rejected.items()})
    after = Counter(await ledger(stack))
    after.subtract(before)
    assert +after == +counts
    assessments = records["assessments"]
    gone = [
        ("assessment", imported_id("assessments", assessments[line - 1]["source_id"]))
        for line in rejected["assessments"]
    ]
    gone += [
        ("advisory", imported_id("advisory-visits", records["advisory-visits"][0]["source_id"])),
        ("buyer_sharing", imported_id("reliances", records["reliances"][0]["source_id"])),
    ]
    for schema, aggregate in gone:
        events = await query(
            stack,
            f'SELECT count(*) AS n FROM "{schema}".event WHERE stream_id LIKE $1',
            f"%{aggregate}%",
        )
        assert events[0]["n"] == 0, (schema, aggregate)
    async with httpx.AsyncClient(timeout=30) as client:
        for _, assessment_id in gone[:2]:
            missing = await client.get(
                f"{url(stack, 'assessment')}/v1/assessments/{assessment_id}", headers=ADMIN
            )
            assert missing.status_code == 404, missing.text
