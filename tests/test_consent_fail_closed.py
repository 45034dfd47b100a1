"""Cross-service, issue 22 finding 4: consent is never stale at the moment of sending. Buyer
sharing and notifications run in this process (one database with their own schemas, one subject
prefix, real NATS), a receiver on 127.0.0.1 takes the webhooks of two buyers a factory shares
with. Buyer sharing's relay is stopped and buyer A's grant revoked: the revocation is committed
but held back from NATS. While factory events keep coming, nothing is sent to A or to B once the
last consent watermark is older than the bound (fail closed); when the relay runs again, the
revocation arrives, A's held deliveries are cancelled and B's go out."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text

from libs.domain.envelope import Envelope, event_type
from libs.events.nats import subject_for
from libs.servicekit.auth import Role, mint_token
from libs.servicekit.migrations import run_migrations
from services.buyer_sharing.service import SERVICE as BUYER_SHARING
from services.buyer_sharing.settings import BuyerSharingSettings
from services.buyer_sharing.tables import SCHEMA as SHARING_SCHEMA
from services.notifications.service import SERVICE as NOTIFICATIONS
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import SCHEMA as NOTIFICATIONS_SCHEMA
from services.notifications.tests.receiver import Receiver

pytestmark = pytest.mark.timeout(120)

SECRET = "consent-fail-closed-secret-of-at-least-32-bytes"
FACTORY = "fac-consent-1"
BOUND_SECONDS = 2.0
WATERMARK_SECONDS = 0.5


@dataclass
class Apps:
    sharing: httpx.AsyncClient
    notifications: httpx.AsyncClient
    sharing_app: FastAPI
    notifications_app: FastAPI

    async def scalar(self, sql: str, **params: Any) -> Any:
        engine = NOTIFICATIONS.service_of(self.notifications_app).engine
        async with engine.connect() as connection:
            return await connection.scalar(text(sql), params)


def headers(role: Role, **claims: str) -> dict[str, str]:
    token = mint_token(SECRET, f"{role}-user", role, **claims)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def apps(database_url: str, nats_url: str, subject_prefix: str) -> AsyncIterator[Apps]:
    for migrations, schema in (
        (BUYER_SHARING.migrations, SHARING_SCHEMA),
        (NOTIFICATIONS.migrations, NOTIFICATIONS_SCHEMA),
    ):
        await asyncio.to_thread(run_migrations, database_url, migrations, schema)
    common: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "BW_SUBJECT_PREFIX": subject_prefix,
        "BW_JWT_SECRET": SECRET,
    }
    sharing_app = BUYER_SHARING.app(
        BuyerSharingSettings(**common, BW_CONSENT_WATERMARK_SECONDS=WATERMARK_SECONDS)
    )
    notifications_app = NOTIFICATIONS.app(
        NotificationsSettings(
            **common,
            BW_CONSENT_MAX_STALENESS_SECONDS=BOUND_SECONDS,
            BW_WEBHOOK_ALLOW="127.0.0.0/8",
            BW_WEBHOOK_ALLOW_HTTP=True,
            BW_WEBHOOK_RETRY_SCHEDULE="0,0.2,0.2",
            BW_WEBHOOK_RETRY_JITTER=0,
            BW_WEBHOOK_POLL_SECONDS=0.05,
        )
    )
    async with AsyncExitStack() as stack:
        clients = []
        for app, name in ((sharing_app, "buyer-sharing"), (notifications_app, "notifications")):
            await stack.enter_async_context(LifespanManager(app, startup_timeout=30))
            clients.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=app), base_url=f"http://{name}"
                    )
                )
            )
        yield Apps(clients[0], clients[1], sharing_app, notifications_app)


def completed(factory_id: str) -> Envelope:
    """An AssessmentCompleted as the assessment service's relay publishes it."""
    assessment_id = f"a-{uuid.uuid4().hex[:8]}"
    return Envelope(
        id=str(uuid.uuid4()),
        source="/betterwork/assessment",
        type=event_type("assessment", "AssessmentCompleted", 2),
        subject=factory_id,
        time=datetime.now(UTC),
        data={
            "assessment_id": assessment_id,
            "factory_id": factory_id,
            "cycle": 1,
            "country": "KH",
            "catalogue_version": "2025.1",
            "report_date": date(2025, 6, 1).isoformat(),
            "non_compliance_count": 0,
            "summary": [],
            "results": [],
        },
        correlationid=str(uuid.uuid4()),
        streamid=f"assessment-{assessment_id}",
        streamversion=1,
    )


async def publish(apps: Apps, envelope: Envelope) -> None:
    runtime = NOTIFICATIONS.service_of(apps.notifications_app).runtime
    prefix = NOTIFICATIONS.service_of(apps.notifications_app).settings.subject_prefix
    await runtime.nats.ensure_stream(prefix, "assessment")
    await runtime.nats.jetstream().publish(
        subject_for(prefix, "assessment", "AssessmentCompleted", 2),
        envelope.to_json(),
        headers={"Nats-Msg-Id": envelope.id},
        timeout=5,
    )


async def eventually(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: still {result!r} after {timeout} s")
        await asyncio.sleep(0.1)


def received(receiver: Receiver, path: str) -> list[str]:
    return [json.loads(r.body)["id"] for r in receiver.requests if r.path == path]


async def watermark_age(apps: Apps) -> float | None:
    age = await apps.scalar(
        "SELECT extract(epoch FROM now() - as_of)::float8 FROM notifications.consent_watermark"
    )
    return None if age is None else float(age)


async def given_two_shared_buyers(apps: Apps, receiver: Receiver) -> None:
    for buyer in ("brand-a", "brand-b"):
        registered = await apps.sharing.post(
            "/v1/buyers",
            json={
                "buyer_id": buyer,
                "name": buyer.title(),
                "country": "US",
                "contact_name": "Sourcing",
                "contact_email": f"sourcing@{buyer}.example",
            },
            headers=headers(Role.ADMIN),
        )
        assert registered.status_code == 201, registered.text
        granted = await apps.sharing.post(
            "/v1/sharing-grants",
            json={"buyer_id": buyer},
            headers=headers(Role.FACTORY, factory_id=FACTORY),
        )
        assert granted.status_code == 201, granted.text
        endpoint = await apps.notifications.post(
            "/v1/webhook-endpoints",
            json={"url": receiver.url(f"/{buyer}"), "event_types": ["AssessmentCompleted"]},
            headers=headers(Role.BUYER, buyer_id=buyer),
        )
        assert endpoint.status_code == 201, endpoint.text

    async def both_grants_known() -> bool:
        count = await apps.scalar("SELECT count(*) FROM notifications.grant_event")
        return bool(count == 2)

    await eventually(both_grants_known, "the grants reached notifications")


async def test_a_held_back_revocation_stops_every_delivery_until_consent_is_current(
    apps: Apps,
) -> None:
    async with Receiver() as receiver:
        await given_two_shared_buyers(apps, receiver)
        before = completed(FACTORY)
        await publish(apps, before)
        await eventually(
            lambda: _both_have(receiver, before.id), "the first event reached both buyers"
        )

        # the revocation of brand-a is committed, and held back: buyer sharing's relay stopped
        relay = BUYER_SHARING.service_of(apps.sharing_app).runtime.relay
        await relay.stop()
        revoked = await apps.sharing.post(
            f"/v1/sharing-grants/{FACTORY}/brand-a/revoke",
            json={"reason": "end of season"},
            headers=headers(Role.FACTORY, factory_id=FACTORY),
        )
        assert revoked.status_code == 200, revoked.text

        async def stale() -> bool:
            age = await watermark_age(apps)  # None: none ever applied
            return age is None or age > BOUND_SECONDS + 0.2

        await eventually(stale, "the consent watermark grew older than the bound")
        held = [completed(FACTORY), completed(FACTORY)]
        for event in held:
            await publish(apps, event)
            await asyncio.sleep(0.3)

        untried = (
            "SELECT count(*) FROM notifications.message WHERE event_id = ANY(:ids) "
            "AND status = 'pending' AND attempts = 0"
        )
        ids = [event.id for event in held]

        async def all_queued() -> bool:
            count = await apps.scalar(
                "SELECT count(*) FROM notifications.message WHERE event_id = ANY(:ids)", ids=ids
            )
            return bool(count == 4)

        await eventually(all_queued, "the held events were queued for both buyers")
        await asyncio.sleep(1.0)
        assert received(receiver, "/brand-a") == [before.id], "sent on stale consent"
        assert received(receiver, "/brand-b") == [before.id], "sent on stale consent"
        assert await apps.scalar(untried, ids=ids) == 4, "waiting: pending, no attempt"
        assert await apps.scalar("SELECT count(*) FROM notifications.attempt") == 2

        # the relay runs again: the revocation, then a watermark after it
        await relay.start()
        await eventually(
            lambda: _has_all(receiver, "/brand-b", [event.id for event in held]),
            "brand-b's held deliveries went out once consent was current",
        )

        async def cancelled_for_a() -> bool:
            count = await apps.scalar(
                "SELECT count(*) FROM notifications.message WHERE event_id = ANY(:ids) "
                "AND buyer_id = 'brand-a' AND status = 'cancelled'",
                ids=[event.id for event in held],
            )
            return bool(count == 2)

        await eventually(cancelled_for_a, "brand-a's held deliveries were cancelled")
        after = completed(FACTORY)
        await publish(apps, after)
        await eventually(lambda: _has_all(receiver, "/brand-b", [after.id]), "brand-b gets more")
        await asyncio.sleep(0.5)
        assert received(receiver, "/brand-a") == [before.id], "nothing more for brand-a"


async def _both_have(receiver: Receiver, event_id: str) -> bool:
    return event_id in received(receiver, "/brand-a") and event_id in received(receiver, "/brand-b")


async def _has_all(receiver: Receiver, path: str, event_ids: list[str]) -> bool:
    return set(event_ids) <= set(received(receiver, path))
