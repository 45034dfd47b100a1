"""End to end with the services as real processes: kill -9 the consumer while events are produced
and the producer right after it acknowledged the completion; after restarts every non-compliance
is in the improvement plan exactly once: applied once by the consumer (its processed counter), one
inbox row per event, and exactly the plan events one delivery causes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest

from libs.events.nats import stream_name
from libs.servicekit.auth import Role, mint_token
from services.assessment.compliance_catalogue import load_library
from tools.embedded import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
SECRET = "kill-and-restart-tests-secret-of-32-bytes"
_CATALOGUE = load_library().resolve("2025.1", "KH")
assert _CATALOGUE is not None
CRITICAL_QUESTIONS = sorted(_CATALOGUE.critical_question_ids)


class ServiceProcess:
    """One service run as `python -m services.<name> serve`, as in production."""

    def __init__(self, name: str, environment: dict[str, str]) -> None:
        self.name = name
        self.port = free_port()
        self.environment = {**environment, "PORT": str(self.port)}
        self.process: asyncio.subprocess.Process | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    async def run(self, command: str) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"services.{self.name}",
            command,
            cwd=ROOT,
            env=self.environment,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert await asyncio.wait_for(process.wait(), timeout=120) == 0

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"services.{self.name}",
            "serve",
            cwd=ROOT,
            env=self.environment,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with httpx.AsyncClient(base_url=self.url) as client, asyncio.timeout(60):
            while True:
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert self.process.returncode is None, f"{self.name} exited"
                await asyncio.sleep(0.2)

    async def migrate_and_start(self) -> None:
        await self.run("migrate")
        await self.start()

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), timeout=10)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=30)
            except TimeoutError:
                await self.kill()


@pytest.fixture
async def services(
    database_url: str, nats_url: str, subject_prefix: str
) -> AsyncIterator[tuple[ServiceProcess, ServiceProcess]]:
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "BW_SUBJECT_PREFIX": subject_prefix,
        "BW_JWT_SECRET": SECRET,
        "BW_REMEDIATION_SCHEDULER_ENABLED": "false",
    }
    assessment = ServiceProcess("assessment", environment)
    remediation = ServiceProcess("remediation", environment)
    try:
        # both at once: each is two process starts (migrate, serve), most of this test's time
        async with asyncio.TaskGroup() as group:
            for service in (assessment, remediation):
                group.create_task(service.migrate_and_start())
        yield assessment, remediation
    finally:
        for service in (assessment, remediation):
            await service.stop()


def headers(role: Role, **claims: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, 'tester', role, **claims)}"}  # type: ignore[arg-type]


async def consumer_caught_up(nats_url: str, stream: str, durable: str) -> bool:
    client = await nats.connect(nats_url, connect_timeout=5, allow_reconnect=False)
    try:
        info = await client.jetstream(timeout=5).consumer_info(stream, durable)
    finally:
        await client.close()
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


def processed_events(metrics: str, durable: str) -> float:
    """`bw_consumer_events_total` of `durable` from a Prometheus text page."""
    prefix = f'bw_consumer_events_total{{consumer="{durable}"}} '
    for line in metrics.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0


async def test_nothing_acknowledged_is_lost_when_services_are_killed(
    services: tuple[ServiceProcess, ServiceProcess],
    database_url: str,
    nats_url: str,
    subject_prefix: str,
) -> None:
    assessment, remediation = services
    staff = headers(Role.ASSESSOR)
    async with httpx.AsyncClient(base_url=assessment.url, headers=staff, timeout=30) as api:
        factory = await api.post(
            "/v1/factories",
            json={
                "name": "Tonle Sap Apparel",
                "country": "KH",
                "address": "National Road 4, Kampong Speu",
                "sector_isic": "1410",
                "workforce": {"women": 1200, "men": 300},
            },
        )
        assert factory.status_code == 201, factory.text
        factory_id = factory.json()["factory_id"]
        scheduled = await api.post(
            "/v1/assessments",
            json={"factory_id": factory_id, "scheduled_for": "2025-03-03", "assessors": ["a1"]},
        )
        assert scheduled.status_code == 201, scheduled.text
        assessment_id = scheduled.json()["assessment_id"]
        non_compliant = set(CRITICAL_QUESTIONS[:4])

        await remediation.kill()  # the consumer is down while the assessment is recorded
        for question_id in CRITICAL_QUESTIONS:
            bad = question_id in non_compliant
            recorded = await api.put(
                f"/v1/assessments/{assessment_id}/findings/{question_id}",
                json={
                    "result": "non_compliant" if bad else "compliant",
                    "evidence": "seen on site" if bad else "",
                },
            )
            assert recorded.status_code == 200, recorded.text
        completed = await api.post(f"/v1/assessments/{assessment_id}/complete")
        assert completed.status_code == 200, completed.text
    await assessment.kill()  # right after acknowledging: its outbox may not be relayed yet

    await assessment.start()
    await remediation.start()
    own_factory = headers(Role.FACTORY, factory_id=factory_id)
    durable = (subject_prefix.replace(".", "_") + "remediation_plans").lower()
    handled = len(non_compliant) + 1  # the NonComplianceFound events and AssessmentCompleted
    items: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=remediation.url, headers=own_factory) as plans:
        async with asyncio.timeout(60):
            while len(items) < len(non_compliant):
                await asyncio.sleep(0.3)
                response = await plans.get(f"/v1/improvement-plans/{factory_id}/items")
                items = response.json()["items"] if response.status_code == 200 else []
            # nothing left to deliver: a duplicate, were there one, has been handled by now
            stream = stream_name(subject_prefix, "assessment")
            while not await consumer_caught_up(nats_url, stream, durable):
                await asyncio.sleep(0.3)
        plan = (await plans.get(f"/v1/improvement-plans/{factory_id}")).json()
        items = (await plans.get(f"/v1/improvement-plans/{factory_id}/items")).json()["items"]
        metrics = (await plans.get("/metrics")).text
    assert sorted(item["question_id"] for item in items) == sorted(non_compliant)
    assert plan["progress"]["total"] == len(non_compliant)

    # The restarted consumer applied each event once: a second application (an inbox that let a
    # redelivery through) would count here even where the plan ignores a known item.
    assert processed_events(metrics, durable) == handled
    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        inbox = await connection.fetchval(
            "SELECT count(*) FROM remediation.inbox WHERE consumer = $1", durable
        )
        caused = await connection.fetch(
            "SELECT metadata->>'causationid' AS cause, event_type, count(*) AS events "
            "FROM remediation.event GROUP BY 1, 2"
        )
    finally:
        await connection.close()
    assert inbox == handled
    # per delivered event, the plan events one delivery causes: one report, one item each
    added = [row for row in caused if row["event_type"].endswith("ImprovementItemAdded.v1")]
    received = [row for row in caused if row["event_type"].endswith("AssessmentReportReceived.v1")]
    assert len(added) == len(non_compliant) and all(row["events"] == 1 for row in added)
    assert [row["events"] for row in received] == [1]
