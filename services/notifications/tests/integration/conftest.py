"""Fixtures of the notifications integration tests: a migrated database, the app with compressed
retries and an allow-list for loopback, tokens, and upstream public events published on NATS as
the producing services' relays would, buyer sharing's consent watermark among them (published
every few tenths of a second while a test's service runs, unless it asks for none)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text

from libs.domain.envelope import Envelope, event_type
from libs.servicekit.auth import Role, mint_token
from libs.servicekit.service import Service
from services.notifications.handlers import Dependencies
from services.notifications.service import SERVICE
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import SCHEMA
from tools.testkit import UpstreamEnvelopes, migrated_database_fixture, publish_as_relays


@dataclass
class Upstream(UpstreamEnvelopes):
    """Upstream events notifications reads (tools.testkit.UpstreamEnvelopes numbers them), timed
    now: holds and retention count from the event's time."""

    def event_time(self) -> datetime:
        return datetime.now(UTC)

    def granted(self, factory_id: str, buyer_id: str) -> Envelope:
        return self.envelope(
            "buyer_sharing",
            "SharingGranted",
            f"sharing-{factory_id}:{buyer_id}",
            factory_id,
            {
                "factory_id": factory_id,
                "buyer_id": buyer_id,
                "granted_at": datetime.now(UTC).isoformat(),
                "ends_on": None,
                "access_request_id": None,
            },
        )

    def revoked(self, factory_id: str, buyer_id: str) -> Envelope:
        return self.envelope(
            "buyer_sharing",
            "SharingRevoked",
            f"sharing-{factory_id}:{buyer_id}",
            factory_id,
            {
                "factory_id": factory_id,
                "buyer_id": buyer_id,
                "revoked_at": datetime.now(UTC).isoformat(),
                "reason": "supplier relationship ended",
            },
        )

    def watermark(self, as_of: datetime | None = None) -> Envelope:
        """Buyer sharing's consent watermark: every grant and revocation it committed before
        `as_of` stands before this message on its stream."""
        as_of = as_of or datetime.now(UTC)
        return Envelope(
            id=f"consent-watermark-{as_of.isoformat()}",
            source="/betterwork/buyer_sharing",
            type=event_type("buyer_sharing", "ConsentWatermark", 1),
            subject="consent",
            time=as_of,
            data={"as_of": as_of.isoformat()},
            correlationid=str(uuid.uuid4()),
            streamid="consent-watermark",
            streamversion=1,
        )

    def scheduled(self, factory_id: str, assessment_id: str | None = None) -> Envelope:
        assessment_id = assessment_id or f"a-{uuid.uuid4().hex[:8]}"
        return self.envelope(
            "assessment",
            "AssessmentScheduled",
            f"assessment-{assessment_id}",
            factory_id,
            {
                "assessment_id": assessment_id,
                "factory_id": factory_id,
                "scheduled_for": (date.today() + timedelta(days=3)).isoformat(),
                "cycle": 1,
            },
        )

    def plan_updated(
        self, factory_id: str, *, published: bool | None, root_cause: str = "a root cause"
    ) -> Envelope:
        """ImprovementPlanUpdated after an item's details changed; `published` None: a document
        without the plan's progress."""
        data: dict[str, Any] = {
            "factory_id": factory_id,
            "plan_version": self.versions.get(f"plan-{factory_id}", 0) + 1,
            "change": "item_updated",
            "item": {
                "item_id": "item-1",
                "question_id": "osh-1",
                "status": "open",
                "root_cause": root_cause,
                "planned_action": f"act on {root_cause}",
            },
        }
        if published is not None:
            data["progress"] = {"total": 1, "open": 1, "published": published}
        return self.envelope(
            "remediation", "ImprovementPlanUpdated", f"plan-{factory_id}", factory_id, data
        )

    def plan_published(self, factory_id: str, root_cause: str = "a root cause") -> Envelope:
        return self.envelope(
            "remediation",
            "ImprovementPlanPublished",
            f"plan-{factory_id}",
            factory_id,
            {
                "factory_id": factory_id,
                "plan_version": self.versions.get(f"plan-{factory_id}", 0) + 1,
                "published_at": datetime.now(UTC).isoformat(),
                "late": False,
                "items": [{"item_id": "item-1", "root_cause": root_cause}],
            },
        )

    def completed(self, factory_id: str, assessment_id: str | None = None) -> Envelope:
        assessment_id = assessment_id or f"a-{uuid.uuid4().hex[:8]}"
        return self.envelope(
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
            v=2,
        )


@dataclass
class Running:
    """The service's app running (its lifespan started), a client of its API, and upstream
    events to publish."""

    app: FastAPI
    client: httpx.AsyncClient
    settings: NotificationsSettings
    upstream: Upstream = field(default_factory=Upstream)

    @property
    def assembled(self) -> Service[NotificationsSettings, Dependencies]:
        """The assembled service: its runtime, store, engine, dependencies, components."""
        return SERVICE.service_of(self.app)

    def buyer(self, buyer_id: str) -> dict[str, str]:
        token = mint_token(
            self.settings.jwt_secret, f"{buyer_id}-user", Role.BUYER, buyer_id=buyer_id
        )
        return {"Authorization": f"Bearer {token}"}

    @property
    def admin(self) -> dict[str, str]:
        token = mint_token(self.settings.jwt_secret, "admin-1", Role.ADMIN)
        return {"Authorization": f"Bearer {token}"}

    async def register(
        self, buyer_id: str, url: str, event_types: list[str] | None = None, **body: Any
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/v1/webhook-endpoints",
            json={"url": url, "event_types": event_types or ["AssessmentCompleted"], **body},
            headers=self.buyer(buyer_id),
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def publish(self, *envelopes: Envelope) -> None:
        """Publish on NATS as the producing services' relays would."""
        await publish_as_relays(
            self.assembled.runtime.nats, self.settings.subject_prefix, envelopes
        )

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.assembled.engine.connect() as connection:
            return await connection.scalar(text(sql.replace("{S}", SCHEMA)), params)

    async def wait_until(
        self, sql: str, expected: Any, timeout: float = 10.0, **params: Any
    ) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.scalar(sql, **params)
            if value == expected:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{sql}: {value!r}, expected {expected!r}")
            await asyncio.sleep(0.05)

    async def consent_current(self) -> None:
        """Publish buyer sharing's consent watermark as of now."""
        await self.publish(self.upstream.watermark())

    async def granted(self, factory_id: str, buyer_id: str) -> None:
        await self.publish(self.upstream.granted(factory_id, buyer_id))
        await self.wait_until(
            "SELECT count(*) FROM {S}.grant_event WHERE factory_id = :f AND buyer_id = :b",
            self.upstream.versions[f"sharing-{factory_id}:{buyer_id}"],
            f=factory_id,
            b=buyer_id,
        )


migrated_database = migrated_database_fixture(SERVICE, SCHEMA)


def make_settings(
    database_url: str, nats_url: str, subject_prefix: str, **overrides: Any
) -> NotificationsSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "nats_url": nats_url,
        "subject_prefix": subject_prefix,
        "environment": "development",
        "allow": "127.0.0.0/8",
        "allow_http": True,
        "retry_schedule": "0,0.2,0.2,0.2",
        "retry_jitter": 0.0,
        "timeout_seconds": 3.0,
        "poll_seconds": 0.05,
    }
    values.update(overrides)
    return NotificationsSettings(**values)


@pytest.fixture
def settings(migrated_database: str, nats_url: str, subject_prefix: str) -> NotificationsSettings:
    return make_settings(migrated_database, nats_url, subject_prefix)


WATERMARK_EVERY_SECONDS = 0.3


async def keep_consent_current(service: Running, stopping: asyncio.Event) -> None:
    """What buyer sharing's relay does while it runs: a consent watermark every few tenths of a
    second (each publication finishes: a publish cut off by a cancellation would leave the
    NATS client waiting for its answer)."""
    while not stopping.is_set():
        await service.consent_current()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=WATERMARK_EVERY_SECONDS)


async def running(
    settings: NotificationsSettings, *, watermarks: bool = True, **overrides: Any
) -> AsyncIterator[Running]:
    """The app started with these settings and test seams (clock=, resolver=, client=), and
    buyer sharing's consent watermarks published meanwhile (`watermarks=False`: none)."""
    app = SERVICE.app(settings, **overrides)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://notifications"
        ) as client:
            service = Running(app, client, settings)
            stopping = asyncio.Event()
            publisher = (
                asyncio.create_task(keep_consent_current(service, stopping)) if watermarks else None
            )
            try:
                yield service
            finally:
                stopping.set()
                if publisher is not None:
                    await asyncio.wait_for(publisher, timeout=10)


@pytest.fixture
async def service(settings: NotificationsSettings) -> AsyncIterator[Running]:
    async for running_service in running(settings):
        yield running_service
