"""The history import's rate in this service alone (issue 19: at least 20,000 events/s):
`python -m services.assessment.tests.integration.import_rate [--factories N] [--chunk N]`
imports N factories, then their assessments (3 cycles each, under catalogue 2008.1: about 90
events each) in requests of `--chunk` records into a fresh database on DATABASE_URL, with the
service's app (and its relay to NATS_URL) in this process, and prints events/s as the service
measured them (the reports' `seconds`), as the client saw them, and per second of this process's
CPU (a figure that other load on the machine moves less). A figure, never asserted."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import date

import httpx
from asgi_lifespan import LifespanManager

from libs.servicekit.app import tune_garbage_collector
from libs.servicekit.auth import Role, mint_token
from libs.servicekit.migrations import run_migrations
from services.assessment.service import SERVICE
from services.assessment.settings import AssessmentSettings
from services.assessment.tables import SCHEMA
from services.assessment.tests.integration.history import (
    assessment_record,
    factory_record,
    jsonl,
)
from tools.postgres_admin import create_database, drop_database, with_database

SECRET = "import-rate-secret-of-at-least-32-bytes-long"
DAYS = (date(2009, 3, 2), date(2010, 3, 1), date(2011, 3, 7))


async def measure(server_url: str, nats_url: str, factories: int, chunk: int) -> None:
    name = f"t_rate_{uuid.uuid4().hex[:8]}"
    await create_database(server_url, name)
    database_url = with_database(server_url, name)
    try:
        await asyncio.to_thread(run_migrations, database_url, SERVICE.migrations, SCHEMA)
        settings = AssessmentSettings(
            DATABASE_URL=database_url,
            NATS_URL=nats_url,
            BW_SUBJECT_PREFIX=f"r{uuid.uuid4().hex[:8]}.",
            BW_JWT_SECRET=SECRET,
        )
        app = SERVICE.app(settings)
        token = mint_token(SECRET, "rate-admin", Role.ADMIN, countries="*")
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/x-ndjson",
            "Import-Bundle": "KH-rate",
        }
        sources = [f"KH-F-{index:05d}" for index in range(factories)]
        async with (
            LifespanManager(app, startup_timeout=30, shutdown_timeout=30),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://assessment", timeout=300
            ) as client,
        ):
            for kind, records in (
                ("factories", [factory_record(source) for source in sources]),
                (
                    "assessments",
                    [
                        assessment_record(f"{source}-A{cycle}", source, cycle, day)
                        for source in sources
                        for cycle, day in enumerate(DAYS, 1)
                    ],
                ),
            ):
                bodies = [jsonl(records[at : at + chunk]) for at in range(0, len(records), chunk)]
                events = 0
                service_seconds = 0.0
                started, cpu = time.perf_counter(), time.process_time()
                for body in bodies:
                    response = await client.post(
                        f"/v1/imports/{kind}", content=body, headers=headers
                    )
                    response.raise_for_status()
                    report = response.json()
                    events += report["events"]
                    service_seconds += report["seconds"]
                wall = time.perf_counter() - started
                cpu = time.process_time() - cpu
                print(
                    f"{kind}: {len(records)} records, {events} events in {len(bodies)} requests: "
                    f"{events / service_seconds:,.0f} events/s in the service "
                    f"({service_seconds:.2f} s), {events / wall:,.0f} events/s for the client "
                    f"({wall:.2f} s; this process's CPU {cpu:.2f} s: {events / cpu:,.0f} "
                    "events per CPU second, the client's encoding included)"
                )
    finally:
        await drop_database(server_url, name)


def main() -> None:
    tune_garbage_collector()  # as `python -m services.assessment serve` does
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--factories", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=300)
    args = parser.parse_args()
    server_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    nats_url = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
    asyncio.run(measure(server_url, nats_url, args.factories, args.chunk))


if __name__ == "__main__":
    main()
