"""Deadlines against real PostgreSQL and NATS: overdue items and a late first publication are
flagged once however many replicas' schedulers pass, and the scheduler the service runs as its
component (when enabled) flags them on its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from libs.servicekit.auth import Role
from services.remediation.handlers import Remediation
from services.remediation.scheduler import DeadlineScheduler
from services.remediation.service import SERVICE
from services.remediation.settings import RemediationSettings
from services.remediation.tests.integration.conftest import Service, poll
from services.remediation.tests.integration.test_api import FACTORY, given_plan
from tools.testkit import MovableClock

pytestmark = pytest.mark.integration


async def test_overdue_is_flagged_once_by_two_schedulers(service: Service) -> None:
    await given_plan(service)
    late = MovableClock(datetime(2024, 4, 15, tzinfo=UTC))  # critical item due 2024-03-31
    first = service.deps
    schedulers = [
        DeadlineScheduler(Remediation.create(first.store, first.policy, late), interval_seconds=60)
        for _ in range(2)
    ]
    appended = await asyncio.gather(*(scheduler.run_once() for scheduler in schedulers))
    assert sum(appended) > 0
    assert [await scheduler.run_once() for scheduler in schedulers] == [0, 0]
    async with first.store.engine.connect() as connection:
        overdue = await connection.scalar(
            text(
                "SELECT count(*) FROM remediation.event WHERE event_type LIKE '%ImprovementItemOverdue%'"
            )
        )
        publication_late = await connection.scalar(
            text(
                "SELECT count(*) FROM remediation.event "
                "WHERE event_type LIKE '%ImprovementPlanPublicationOverdue%'"
            )
        )
    assert (overdue, publication_late) == (1, 1)
    overdue_items = await service.client.get(
        f"/v1/improvement-plans/{FACTORY}/items",
        params={"overdue": "true"},
        headers=service.token(Role.ASSESSOR),
    )
    assert [item["question_id"] for item in overdue_items.json()["items"]] == ["q1"]
    plan = (
        await service.client.get(
            f"/v1/improvement-plans/{FACTORY}", headers=service.token(Role.ADMIN)
        )
    ).json()
    assert plan["progress"]["overdue"] == 1
    assert plan["publication_late"] is True


@pytest.fixture
async def scheduling(settings: RemediationSettings) -> AsyncIterator[Service]:
    """The service with its deadline scheduler running every 50 ms, on a clock past the deadlines."""
    clock = MovableClock(datetime(2024, 3, 5, 9, 0, tzinfo=UTC))
    enabled = settings.model_copy(
        update={"scheduler_enabled": True, "deadline_check_seconds": 0.05}
    )
    app = SERVICE.app(enabled, clock=clock)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://remediation") as client:
            yield Service(app, client, enabled, clock)


async def test_the_service_s_own_scheduler_flags_a_deadline_past(scheduling: Service) -> None:
    await given_plan(scheduling)
    scheduler = scheduling.assembled.component(DeadlineScheduler)
    assert scheduler.running
    scheduling.clock.now = datetime(2024, 4, 15, tzinfo=UTC)  # the critical item was due 03-31
    admin = scheduling.token(Role.ADMIN)

    async def flagged() -> dict[str, Any] | None:
        response = await scheduling.client.get(f"/v1/improvement-plans/{FACTORY}", headers=admin)
        plan: dict[str, Any] = response.json()
        return plan if plan["progress"]["overdue"] == 1 and plan["publication_late"] else None

    await poll(flagged)
