"""Fixtures of the remediation integration tests: a migrated database, the app with an injectable
clock (`SERVICE.app(settings, clock=…)`), an HTTP client, tokens, and assessment events as the
assessment service would publish them."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from nats.js.errors import NotFoundError
from sqlalchemy import text

from libs.domain.envelope import Envelope, event_type
from libs.events.nats import stream_name, subject_for
from libs.events.runtime import EventRuntime
from libs.servicekit.auth import Role, mint_token
from libs.servicekit.service import Service as AssembledService
from services.remediation.handlers import Remediation
from services.remediation.service import SERVICE
from services.remediation.settings import RemediationSettings
from services.remediation.tables import SCHEMA
from tools.testkit import MovableClock, migrated_database_fixture


@dataclass
class Service:
    """The running service as a test meets it: its app, an HTTP client, settings and clock."""

    app: FastAPI
    client: httpx.AsyncClient
    settings: RemediationSettings
    clock: MovableClock

    @property
    def assembled(self) -> AssembledService[RemediationSettings, Remediation]:
        assembled: AssembledService[RemediationSettings, Remediation] = self.app.state.service
        return assembled

    @property
    def deps(self) -> Remediation:
        return self.assembled.deps

    @property
    def runtime(self) -> EventRuntime:
        return self.assembled.runtime

    def token(
        self,
        role: Role,
        factory_id: str | None = None,
        subject: str = "user",
        *,
        countries: list[str] | str | None = None,
    ) -> dict[str, str]:
        """A bearer header; `countries`: a staff member's country programmes ("*": the
        headquarters; None: no claim, which development reads as every country)."""
        value = mint_token(
            self.settings.jwt_secret, subject, role, factory_id=factory_id, countries=countries
        )
        return {"Authorization": f"Bearer {value}"}


migrated_database = migrated_database_fixture(SERVICE, SCHEMA)


@pytest.fixture
def settings(migrated_database: str, nats_url: str, subject_prefix: str) -> RemediationSettings:
    return RemediationSettings(
        database_url=migrated_database,
        nats_url=nats_url,
        subject_prefix=subject_prefix,
        scheduler_enabled=False,
    )


@pytest.fixture
async def service(settings: RemediationSettings) -> AsyncIterator[Service]:
    clock = MovableClock(datetime(2024, 3, 5, 9, 0, tzinfo=UTC))
    app = SERVICE.app(settings, clock=clock)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://remediation") as client:
            yield Service(app, client, settings, clock)


REPORT_DATE = date(2024, 3, 1)


def assessment_envelope(event_name: str, factory_id: str, data: dict[str, Any]) -> Envelope:
    return Envelope(
        id=str(uuid.uuid4()),
        source="/betterwork/assessment",
        type=event_type("assessment", event_name, 1),
        subject=factory_id,
        time=datetime.now(UTC),
        data=data,
        correlationid=str(uuid.uuid4()),
        streamid=f"assessment-{data['assessment_id']}",
        streamversion=1,
    )


def assessment_events(
    factory_id: str,
    assessment_id: str,
    cycle: int,
    report_date: date,
    findings: list[tuple[str, bool, bool]],
    *,
    country: str = "KH",
) -> list[Envelope]:
    """AssessmentCompleted (of a factory in `country`) and one NonComplianceFound per (question,
    critical, zero tolerance)."""
    completed = assessment_envelope(
        "AssessmentCompleted",
        factory_id,
        {
            "assessment_id": assessment_id,
            "factory_id": factory_id,
            "cycle": cycle,
            "catalogue_version": "2024.1",
            "country": country,
            "report_date": report_date.isoformat(),
            "completed_by": "advisor-1",
            "non_compliance_count": len(findings),
            "summary": [],
            "a_field_from_the_future": True,
        },
    )
    found = [
        assessment_envelope(
            "NonComplianceFound",
            factory_id,
            {
                "assessment_id": assessment_id,
                "factory_id": factory_id,
                "cycle": cycle,
                "report_date": report_date.isoformat(),
                "cluster_id": "osh",
                "cluster_name": "Occupational Safety and Health",
                "compliance_point_id": "osh-emergency",
                "compliance_point_name": "Emergency preparedness",
                "question_id": question_id,
                "question_text": f"Question {question_id}?",
                "critical": critical,
                "zero_tolerance": zero_tolerance,
                "evidence": "seen on site",
                "evidence_refs": [],
            },
        )
        for question_id, critical, zero_tolerance in findings
    ]
    return [completed, *found]


async def poll(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Call the async `check` until it returns something truthy, or fail after `timeout`."""
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(interval)


async def published(service: Service, event_name: str, count: int) -> list[dict[str, Any]]:
    """The envelopes of the public `event_name` events the relay published to the REMEDIATION
    stream, in order, once there are at least `count` of them."""
    prefix = service.settings.subject_prefix
    stream = stream_name(prefix, "remediation")
    subject = subject_for(prefix, "remediation", event_name)
    js = service.runtime.nats.jetstream()

    async def fetch() -> list[dict[str, Any]] | None:
        state = (await js.stream_info(stream)).state
        found = []
        for sequence in range(state.first_seq, state.last_seq + 1):
            message = await js.get_msg(stream, sequence)
            if message.subject == subject and message.data is not None:
                found.append(json.loads(message.data))
        return found if len(found) >= count else None

    found: list[dict[str, Any]] = await poll(fetch)
    return found


async def public_events(service: Service) -> list[dict[str, Any]]:
    """Every envelope the service published to its REMEDIATION stream, in order, once its outbox
    is empty (the relay published everything committed so far)."""

    async def drained() -> bool:
        async with service.deps.store.engine.connect() as connection:
            waiting = await connection.scalar(text(f"SELECT count(*) FROM {SCHEMA}.outbox"))
        return bool(waiting == 0)

    await poll(drained)
    prefix = service.settings.subject_prefix
    js = service.runtime.nats.jetstream()
    stream = stream_name(prefix, "remediation")
    try:
        state = (await js.stream_info(stream)).state
    except NotFoundError:
        return []
    found = []
    for sequence in range(state.first_seq, state.last_seq + 1):
        message = await js.get_msg(stream, sequence)
        if message.data is not None:
            found.append(json.loads(message.data))
    return found
