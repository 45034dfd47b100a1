"""Fixtures of the buyer sharing integration tests: a migrated database, the app with a movable
clock, tokens, and upstream public events as the assessment and remediation services publish
them (fed to the consumers' handlers, or published on NATS)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text

from libs.domain.envelope import Envelope
from libs.servicekit.auth import Role, mint_token
from libs.servicekit.service import Service as AssembledService
from services.buyer_sharing.consumers import DURABLES
from services.buyer_sharing.dependencies import Dependencies
from services.buyer_sharing.service import SERVICE
from services.buyer_sharing.settings import BuyerSharingSettings
from services.buyer_sharing.tables import SCHEMA
from tools.testkit import (
    MovableClock,
    UpstreamEnvelopes,
    migrated_database_fixture,
    publish_as_relays,
)


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    settings: BuyerSharingSettings
    clock: MovableClock

    @property
    def assembled(self) -> AssembledService[BuyerSharingSettings, Dependencies]:
        """The service the definition assembled: its runtime, store, engine, dependencies."""
        assembled: AssembledService[BuyerSharingSettings, Dependencies] = self.app.state.service
        return assembled

    def token(
        self,
        role: Role,
        *,
        factory_id: str | None = None,
        buyer_id: str | None = None,
        subject: str = "user",
        countries: list[str] | str | None = None,
    ) -> dict[str, str]:
        value = mint_token(
            self.settings.jwt_secret,
            subject,
            role,
            factory_id=factory_id,
            buyer_id=buyer_id,
            countries=countries,
        )
        return {"Authorization": f"Bearer {value}"}

    @property
    def admin(self) -> dict[str, str]:
        return self.token(Role.ADMIN, subject="admin-1")

    def buyer(self, buyer_id: str) -> dict[str, str]:
        return self.token(Role.BUYER, buyer_id=buyer_id, subject=f"{buyer_id}-user")

    def factory(self, factory_id: str) -> dict[str, str]:
        return self.token(Role.FACTORY, factory_id=factory_id, subject=f"{factory_id}-manager")

    async def register_buyer(self, buyer_id: str, country: str = "US") -> None:
        response = await self.client.post(
            "/v1/buyers",
            json={
                "buyer_id": buyer_id,
                "name": f"Brand {buyer_id}",
                "country": country,
                "contact_name": "Sourcing lead",
                "contact_email": f"sourcing@{buyer_id}.example",
            },
            headers=self.admin,
        )
        assert response.status_code == 201, response.text

    async def grant(self, factory_id: str, buyer_id: str, **body: Any) -> httpx.Response:
        return await self.client.post(
            "/v1/sharing-grants",
            json={"buyer_id": buyer_id, **body},
            headers=self.factory(factory_id),
        )

    async def feed(self, envelopes: list[Envelope]) -> None:
        """Hand envelopes to the consumers' handlers, each in its own transaction."""
        runtime = self.assembled.runtime
        for envelope in envelopes:
            runner = runtime.consumer(DURABLES[envelope.service])
            event = runner.subscription.registry.decode(envelope)
            async with runtime.store.engine.begin() as connection:
                await runner.subscription.handlers[envelope.event_name](connection, envelope, event)

    async def publish(self, envelopes: list[Envelope]) -> None:
        """Publish on NATS as the producing services' relays would."""
        await publish_as_relays(
            self.assembled.runtime.nats, self.settings.subject_prefix, envelopes
        )

    async def caught_up(self) -> bool:
        """Whether every consumer has applied and acknowledged all that was published to it so
        far (the assessment and remediation streams are consumed independently: one may be done
        while the other is still applying its events)."""
        for runner in self.assembled.runtime.consumers:
            try:
                if await runner.poll_lag():
                    return False
            except Exception:  # not provisioned yet: it has not started reading
                return False
        return True

    async def count_events(self) -> int:
        async with self.assembled.engine.connect() as connection:
            return int(await connection.scalar(text(f'SELECT count(*) FROM "{SCHEMA}".event')))


migrated_database = migrated_database_fixture(SERVICE, SCHEMA)


@pytest.fixture
def settings(migrated_database: str, nats_url: str, subject_prefix: str) -> BuyerSharingSettings:
    return BuyerSharingSettings(
        database_url=migrated_database, nats_url=nats_url, subject_prefix=subject_prefix
    )


@pytest.fixture
async def service(settings: BuyerSharingSettings) -> AsyncIterator[Service]:
    clock = MovableClock(datetime(2025, 6, 2, 9, 0, tzinfo=UTC))
    app = SERVICE.app(settings, clock=clock)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://buyer-sharing"
        ) as client:
            yield Service(app, client, settings, clock)


# --- upstream events ----------------------------------------------------------------------------


@dataclass
class Upstream(UpstreamEnvelopes):
    """Upstream events buyer sharing reads (tools.testkit.UpstreamEnvelopes numbers them)."""

    def factory(self, factory_id: str, country: str = "KH", os_id: str | None = None) -> Envelope:
        return self.envelope(
            "assessment",
            "FactoryRegistered",
            f"factory-{factory_id}",
            factory_id,
            {
                "factory_id": factory_id,
                "name": f"Factory {factory_id}",
                "country": country,
                "address": "Phnom Penh",
                "sector_isic": "1410",
                "workforce": {"women": 800, "men": 200},
                "os_id": os_id,
            },
        )

    def assessment(
        self,
        factory_id: str,
        assessment_id: str,
        cycle: int,
        report_date: date,
        results: list[tuple[str, bool, bool, str]],
        country: str = "KH",
    ) -> list[Envelope]:
        """AssessmentCompleted v2 and a NonComplianceFound per non-compliant result
        (question, critical, zero tolerance, result)."""
        stream = f"assessment-{assessment_id}"
        answered = [r for r in results if r[3] != "not_applicable"]
        non_compliant = [r for r in results if r[3] == "non_compliant"]
        completed = self.envelope(
            "assessment",
            "AssessmentCompleted",
            stream,
            factory_id,
            {
                "assessment_id": assessment_id,
                "factory_id": factory_id,
                "cycle": cycle,
                "country": country,
                "catalogue_version": "2024.1",
                "report_date": report_date.isoformat(),
                "non_compliance_count": len(non_compliant),
                "summary": [
                    {
                        "cluster_id": "OSH",
                        "cluster_name": "Occupational Safety and Health",
                        "questions": len(answered),
                        "non_compliant": len(non_compliant),
                        "rate": len(non_compliant) / len(answered) if answered else 0.0,
                    }
                ],
                "results": [
                    {
                        "question_id": question_id,
                        "cluster_id": "OSH",
                        "compliance_point_id": f"OSH-{question_id[:2]}",
                        "critical": critical,
                        "zero_tolerance": zero_tolerance,
                        "result": result,
                    }
                    for question_id, critical, zero_tolerance, result in results
                ],
            },
            v=2,
        )
        found = [
            self.envelope(
                "assessment",
                "NonComplianceFound",
                stream,
                factory_id,
                {
                    "assessment_id": assessment_id,
                    "factory_id": factory_id,
                    "cycle": cycle,
                    "report_date": report_date.isoformat(),
                    "cluster_id": "OSH",
                    "cluster_name": "Occupational Safety and Health",
                    "compliance_point_id": f"OSH-{question_id[:2]}",
                    "compliance_point_name": "Emergency preparedness",
                    "question_id": question_id,
                    "question_text": f"Is {question_id} in order?",
                    "critical": critical,
                    "zero_tolerance": zero_tolerance,
                    "evidence": "seen on site",
                },
            )
            for question_id, critical, zero_tolerance, result in results
            if result == "non_compliant"
        ]
        return [completed, *found]

    def finding_event(
        self, name: str, factory_id: str, assessment_id: str, data: dict[str, Any]
    ) -> Envelope:
        return self.envelope(
            "assessment",
            name,
            f"assessment-{assessment_id}",
            factory_id,
            {"assessment_id": assessment_id, "factory_id": factory_id, **data},
        )

    def plan_updated(
        self,
        factory_id: str,
        assessment_id: str,
        question_id: str,
        status: str,
        *,
        critical: bool = True,
        zero_tolerance: bool = False,
        overdue: bool = False,
        progress: dict[str, Any] | None = None,
    ) -> Envelope:
        stream = f"plan-{factory_id}"
        plan_version = self.versions.get(stream, 0) + 1
        return self.envelope(
            "remediation",
            "ImprovementPlanUpdated",
            stream,
            factory_id,
            {
                "factory_id": factory_id,
                "plan_version": plan_version,
                "change": "status_changed",
                "item": {
                    "item_id": f"{assessment_id}-{question_id}",
                    "assessment_id": assessment_id,
                    "cycle": 1,
                    "report_date": "2025-01-10",
                    "cluster_id": "OSH",
                    "cluster_name": "OSH",
                    "compliance_point_id": "OSH-1",
                    "compliance_point_name": "x",
                    "question_id": question_id,
                    "question_text": "?",
                    "critical": critical,
                    "zero_tolerance": zero_tolerance,
                    "persistent": False,
                    "status": status,
                    "due_date": "2025-02-10",
                    "overdue": overdue,
                    "root_cause": None,
                    "planned_action": None,
                    "verified_at": None,
                },
                "progress": {
                    "total": 1,
                    "open": 1 if status == "open" else 0,
                    "in_progress": 1 if status == "in_progress" else 0,
                    "done": 1 if status == "done" else 0,
                    "verified": 1 if status == "verified" else 0,
                    "overdue": 1 if overdue else 0,
                    "share_verified": 1.0 if status == "verified" else 0.0,
                    "published": False,
                    "publication_due_date": "2025-02-09",
                    "publication_late": False,
                    **(progress or {}),
                },
            },
        )


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


async def poll(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(interval)
