"""kill -9 of the notifications service in the middle of deliveries, then a restart: every
message is still delivered, none is missing from the log, and a receiver de-duplicating on
`webhook-id` sees each take effect once. The service runs as a real process, as in production."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from libs.events.nats import NatsConnection, subject_for
from libs.servicekit.auth import Role, mint_token
from services.notifications.tests.integration.conftest import Upstream
from services.notifications.tests.receiver import Answer, Receiver
from tools.embedded import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[4]
SECRET = "notifications-kill-test-secret-of-32-bytes"
EVENTS = 150


async def _start(environment: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.notifications",
        "serve",
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def _consent_current(
    js: Any, prefix: str, upstream: Upstream, stopping: asyncio.Event
) -> None:
    """Buyer sharing's consent watermark every few tenths of a second, as its relay sends it:
    without one, no factory event would be sent."""
    subject = subject_for(prefix, "buyer_sharing", "ConsentWatermark", 1)
    while not stopping.is_set():
        watermark = upstream.watermark()
        await js.publish(
            subject, watermark.to_json(), headers={"Nats-Msg-Id": watermark.id}, timeout=5
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=0.3)


async def _ready(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=2) as client:
        for _ in range(300):
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the service did not start")


async def test_kill_9_mid_delivery_loses_nothing(
    database_url: str, nats_url: str, subject_prefix: str
) -> None:
    port = free_port()
    environment = {
        **os.environ,
        "PORT": str(port),
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "BW_SUBJECT_PREFIX": subject_prefix,
        "BW_ENVIRONMENT": "development",
        "BW_JWT_SECRET": SECRET,
        "BW_WEBHOOK_ALLOW": "127.0.0.0/8",
        "BW_WEBHOOK_ALLOW_HTTP": "true",
        "BW_WEBHOOK_RETRY_SCHEDULE": "0,0.2,0.5,1,1,1,1,1,1,1",
        "BW_WEBHOOK_TIMEOUT_SECONDS": "2",
        "BW_WEBHOOK_POLL_SECONDS": "0.05",
        "BW_WEBHOOK_ENDPOINT_CONCURRENCY": "4",
        # what the killed process had fetched, or claimed for delivery, is due again after
        # seconds instead of 30
        "BW_EVENTS_ACK_WAIT_SECONDS": "5",
        "BW_WEBHOOK_LEASE_MARGIN_SECONDS": "3",
    }
    migrate = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.notifications", "migrate", cwd=ROOT, env=environment
    )
    assert await asyncio.wait_for(migrate.wait(), timeout=120) == 0
    url = f"http://127.0.0.1:{port}"
    buyer = {"Authorization": "Bearer " + mint_token(SECRET, "u", Role.BUYER, buyer_id="brand-a")}
    upstream = Upstream()
    process = await _start(environment)
    connection = NatsConnection(nats_url, name="kill-test")
    await connection.start()
    stopping = asyncio.Event()
    watermarks: asyncio.Task[None] | None = None
    try:
        await _ready(url)
        # slow enough that the kill lands mid-delivery
        async with Receiver(lambda _r: Answer(delay=0.02)) as receiver:
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                created = await client.post(
                    "/v1/webhook-endpoints",
                    json={"url": receiver.url(), "event_types": ["AssessmentCompleted"]},
                    headers=buyer,
                )
                assert created.status_code == 201, created.text
            for service in ("buyer_sharing", "assessment"):
                await connection.ensure_stream(subject_prefix, service)
            js = connection.jetstream()
            watermarks = asyncio.create_task(
                _consent_current(js, subject_prefix, upstream, stopping)
            )
            events = [upstream.granted("fac-1", "brand-a")] + [
                upstream.completed("fac-1") for _ in range(EVENTS)
            ]
            for envelope in events:
                envelope = envelope.model_copy(update={"time": datetime.now(UTC)})
                await js.publish(
                    subject_for(
                        subject_prefix,
                        envelope.service,
                        envelope.event_name,
                        envelope.schema_version,
                    ),
                    envelope.to_json(),
                    headers={"Nats-Msg-Id": envelope.id or str(uuid.uuid4())},
                    timeout=5,
                )
            await receiver.wait_for(lambda: len(receiver.effects) >= 20, timeout=60)
            process.send_signal(signal.SIGKILL)
            await asyncio.wait_for(process.wait(), timeout=10)
            killed_at = len(receiver.effects)
            assert killed_at < EVENTS, "the kill came too late to test anything"
            process = await _start(environment)
            await _ready(url)
            await receiver.wait_for(lambda: len(receiver.effects) == EVENTS, timeout=90)
        database = await asyncpg.connect(database_url)
        try:
            rows = await database.fetch(
                "SELECT message_id, status FROM notifications.message "
                "WHERE event_type = 'AssessmentCompleted'"
            )
            attempts = await database.fetchval(
                "SELECT count(DISTINCT message_id) FROM notifications.attempt WHERE succeeded"
            )
        finally:
            await database.close()
        assert len(rows) == EVENTS
        assert {row["message_id"] for row in rows} == set(receiver.effects)
        # the log is written shortly after the answer: give the recorder its moment
        assert attempts >= EVENTS - 10
    finally:
        stopping.set()
        if watermarks is not None:
            await asyncio.wait_for(watermarks, timeout=10)
        await connection.stop()
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=20)
            except TimeoutError:
                process.kill()
