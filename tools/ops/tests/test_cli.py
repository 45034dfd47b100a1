"""The operator CLI run as operators run it (`python -m tools.ops …`, a separate process) against real
PostgreSQL, NATS JetStream and a real remediation service process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest

from libs.events.nats import stream_name, subject_for
from libs.servicekit.auth import Role, mint_token
from services.remediation.tests.integration.conftest import assessment_envelope, assessment_events
from tools.embedded import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
SECRET = "operator-cli-tests-secret-of-32-bytes!!"


def _environment(database_url: str, nats_url: str, subject_prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "BW_SUBJECT_PREFIX": subject_prefix,
        "BW_JWT_SECRET": SECRET,
        "BW_ENVIRONMENT": "development",
        "BW_REMEDIATION_SCHEDULER_ENABLED": "false",
        "COLUMNS": "200",
    }


async def ops(environment: dict[str, str], *arguments: str) -> tuple[int, str]:
    """Run the CLI; its exit code and its output (stdout and stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tools.ops",
        *arguments,
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, output.decode()


@pytest.fixture
def environment(database_url: str, nats_url: str, subject_prefix: str) -> dict[str, str]:
    return _environment(database_url, nats_url, subject_prefix)


@pytest.fixture
async def remediation(environment: dict[str, str]) -> AsyncIterator[str]:
    """The remediation service as its own process, migrated by `ops migrate`; its URL."""
    code, output = await ops(environment, "migrate", "--service", "remediation")
    assert code == 0, output
    assert "migrated: remediation" in output
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.remediation",
        "serve",
        cwd=ROOT,
        env={**environment, "PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client, asyncio.timeout(60):
            while True:
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.returncode is None, "remediation exited"
                await asyncio.sleep(0.2)
        environment["BW_REMEDIATION_URL"] = url
        yield url
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=30)
        except TimeoutError:
            process.kill()


async def _park(database_url: str, consumer: str, envelope: Any, error: str) -> int:
    """A dead letter as the consumer writes one after its last failed attempt."""
    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        dead_letter_id: int = await connection.fetchval(
            "INSERT INTO remediation.dead_letter (consumer, event_id, nats_subject, payload, "
            "error, attempts) VALUES ($1, $2, $3, $4, $5, 5) RETURNING id",
            consumer,
            envelope.id,
            "assessment.NonComplianceFound.v1",
            envelope.to_json(),
            error,
        )
        return dead_letter_id
    finally:
        await connection.close()


async def test_dead_letters_are_listed_and_replayed_once_and_a_failing_one_stays_parked(
    remediation: str, environment: dict[str, str], database_url: str, subject_prefix: str
) -> None:
    consumer = (subject_prefix.replace(".", "_") + "remediation_plans").lower()
    [_, found] = assessment_events(
        "factory-ops", "assessment-ops", 1, date(2024, 3, 1), [("q1", True, False)]
    )
    good = await _park(database_url, consumer, found, "ConnectionRefused: a bug since fixed")
    broken = assessment_envelope(
        "NonComplianceFound", "factory-ops", {"assessment_id": "a-x", "factory_id": "factory-ops"}
    )
    bad = await _park(database_url, consumer, broken, "cannot decode")

    code, output = await ops(environment, "dead-letters", "list", "remediation", "--json")
    assert code == 0, output
    listed = json.loads(output)
    assert [(letter["id"], letter["event_id"]) for letter in listed] == [
        (good, found.id),
        (bad, broken.id),
    ]
    code, table = await ops(environment, "dead-letters", "list", "remediation")
    assert code == 0 and "2 dead letter(s) in remediation" in table

    code, output = await ops(environment, "dead-letters", "replay", "remediation", "--all")
    assert code == 1, output
    assert f"replayed 1: {good}" in output
    assert f"{bad}: POST /ops/dead-letters/{bad}/replay → 409" in output

    admin = {"Authorization": f"Bearer {mint_token(SECRET, 'ops-test', Role.ADMIN)}"}
    async with httpx.AsyncClient(base_url=remediation, headers=admin) as client:
        items = await client.get("/v1/improvement-plans/factory-ops/items")
    assert items.status_code == 200, items.text
    assert [item["question_id"] for item in items.json()["items"]] == ["q1"]

    code, output = await ops(environment, "dead-letters", "list", "remediation", "--json")
    assert [letter["id"] for letter in json.loads(output)] == [bad]
    # replaying the same event again changes nothing: it is no longer open
    code, output = await ops(environment, "dead-letters", "replay", "remediation", str(good))
    assert code == 1 and "404" in output


async def test_an_unreachable_service_is_a_clear_error(environment: dict[str, str]) -> None:
    environment["BW_ASSESSMENT_URL"] = f"http://127.0.0.1:{free_port()}"
    code, output = await ops(environment, "dead-letters", "list", "assessment")
    assert code == 1
    assert "assessment is not reachable at" in output
    assert "Traceback" not in output


async def test_lag_shows_each_consumers_pending_events_and_each_outbox_backlog(
    environment: dict[str, str], database_url: str, nats_url: str, subject_prefix: str
) -> None:
    code, output = await ops(environment, "migrate", "--service", "assessment")
    assert code == 0, output
    stream = stream_name(subject_prefix, "assessment")
    client = await nats.connect(nats_url, connect_timeout=5, allow_reconnect=False)
    try:
        jetstream = client.jetstream(timeout=5)
        await jetstream.add_stream(name=stream, subjects=[f"{subject_prefix}assessment.>"])
        durable = (subject_prefix.replace(".", "_") + "ops_probe").lower()
        subscription = await jetstream.pull_subscribe(
            f"{subject_prefix}assessment.>", durable=durable, stream=stream
        )
        subject = subject_for(subject_prefix, "assessment", "FactoryRegistered")
        for number in range(5):
            await jetstream.publish(subject, str(number).encode(), stream=stream)
        [_delivered] = await subscription.fetch(1, timeout=5)  # delivered, never acknowledged
    finally:
        await client.close()
    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        for number in range(3):
            await connection.execute(
                "INSERT INTO assessment.outbox (event_id, nats_subject, payload, created_at) "
                "VALUES (gen_random_uuid(), $1, $2, now() - interval '90 seconds')",
                subject,
                str(number).encode(),
            )
        await connection.execute(
            "INSERT INTO assessment.dead_letter (consumer, event_id, nats_subject, payload, "
            "error, attempts) VALUES ('c', 'e', 's', '\\x00', 'boom', 5)"
        )
    finally:
        await connection.close()

    code, output = await ops(environment, "lag", "--json")
    assert code == 0, output
    report = json.loads(output)
    [probe] = [row for row in report["consumers"] if row["consumer"] == durable]
    assert (probe["stream"], probe["pending"], probe["ack_pending"], probe["lag"]) == (
        stream,
        4,
        1,
        5,
    )
    [outbox] = [row for row in report["outbox"] if row["service"] == "assessment"]
    assert outbox["entries"] == 3
    assert outbox["open_dead_letters"] == 1
    assert 85 < outbox["oldest_age_seconds"] < 600

    code, tables = await ops(environment, "lag")
    assert code == 0 and durable in tables and "JetStream consumers" in tables


async def test_every_service_rebuilds_through_the_cli(environment: dict[str, str]) -> None:
    """Every service declares a rebuild (notifications: its endpoint read model)."""
    code, output = await ops(environment, "migrate", "--service", "notifications")
    assert code == 0, output
    code, output = await ops(environment, "rebuild", "notifications")
    assert code == 0, output
    assert "rebuilt from 0 events" in output


@pytest.fixture
async def notifications(environment: dict[str, str]) -> AsyncIterator[str]:
    """The notifications service as its own process, loopback receivers allowed; its URL."""
    environment.update({"BW_WEBHOOK_ALLOW": "127.0.0.1/32", "BW_WEBHOOK_ALLOW_HTTP": "true"})
    code, output = await ops(environment, "migrate", "--service", "notifications")
    assert code == 0, output
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.notifications",
        "serve",
        cwd=ROOT,
        env={**environment, "PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client, asyncio.timeout(60):
            while True:
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.returncode is None, "notifications exited"
                await asyncio.sleep(0.2)
        environment["BW_NOTIFICATIONS_URL"] = url
        yield url
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=30)
        except TimeoutError:
            process.kill()


async def test_disabled_webhook_endpoints_are_listed_and_recovered_after_re_enabling(
    notifications: str, environment: dict[str, str]
) -> None:
    admin = {"Authorization": f"Bearer {mint_token(SECRET, 'ops-test', Role.ADMIN)}"}
    async with httpx.AsyncClient(base_url=notifications, headers=admin, timeout=30) as client:
        created = await client.post(
            "/v1/webhook-endpoints",
            json={
                "url": f"http://127.0.0.1:{free_port()}/hook",
                "event_types": ["AssessmentCompleted"],
                "buyer_id": "buyer-ops",
            },
        )
        assert created.status_code == 201, created.text
        endpoint_id = created.json()["endpoint_id"]
        kept = await client.post(
            "/v1/webhook-endpoints",
            json={
                "url": f"http://127.0.0.1:{free_port()}/hook",
                "event_types": ["AssessmentCompleted"],
                "buyer_id": "buyer-ops",
            },
        )
        assert kept.status_code == 201, kept.text
        disabled = await client.patch(
            f"/v1/webhook-endpoints/{endpoint_id}",
            json={"enabled": False},
            headers={"If-Match": created.headers["ETag"]},
        )
        assert disabled.status_code == 200, disabled.text

    code, output = await ops(environment, "webhooks", "disabled", "--json")
    assert code == 0, output
    assert [endpoint["endpoint_id"] for endpoint in json.loads(output)] == [endpoint_id]

    since = "2024-01-01T00:00:00"
    code, output = await ops(environment, "webhooks", "recover", endpoint_id, "--since", since)
    assert code == 1 and "409" in output  # recovery needs the endpoint enabled

    code, output = await ops(
        environment, "webhooks", "recover", "--all-disabled", "--since", since, "--enable"
    )
    assert code == 0, output
    assert f"{endpoint_id}: 0 message(s) queued again" in output
    code, output = await ops(environment, "webhooks", "disabled", "--json")
    assert json.loads(output) == []
