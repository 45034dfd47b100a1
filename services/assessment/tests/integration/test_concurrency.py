"""Two commands on one assessment at one version: one succeeds, the other is a 409 problem."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from services.assessment.tests.integration.conftest import AssessmentService, Headers
from services.assessment.tests.integration.steps import PROBLEM, event_count, register, schedule

pytestmark = pytest.mark.integration


class TestConcurrency:
    async def test_two_recordings_at_one_version_give_one_success_and_one_conflict(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        assessment_id = await schedule(client, auth, await register(client, auth))
        engine = service.engine
        # Hold the stream row so that both requests load version 1 and then queue on the append.
        async with engine.connect() as blocker:
            await blocker.execute(
                text("SELECT 1 FROM assessment.stream WHERE stream_id = :s FOR UPDATE"),
                {"s": f"assessment-{assessment_id}"},
            )
            requests = [
                asyncio.create_task(
                    client.put(
                        f"/v1/assessments/{assessment_id}/findings/{question_id}",
                        json={"result": "compliant"},
                        headers={**auth(), "If-Match": '"1"'},
                    )
                )
                for question_id in ("OSH-EMP-01", "OSH-EMP-02")
            ]
            async with asyncio.timeout(10):
                while await _waiting_on_locks(engine) < 2:
                    await asyncio.sleep(0.05)
            await blocker.rollback()
        responses = await asyncio.gather(*requests)
        assert sorted(r.status_code for r in responses) == [200, 409]
        loser = next(r for r in responses if r.status_code == 409)
        assert loser.headers["content-type"] == PROBLEM
        assert loser.json()["type"].endswith("/concurrency-conflict")
        assert await event_count(service) == 3  # registered, scheduled, one finding


async def _waiting_on_locks(engine: Any) -> int:
    async with engine.connect() as connection:
        return int(
            await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        )
