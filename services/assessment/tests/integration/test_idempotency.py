"""Idempotency keys on the assessment API: concurrent retries apply a command once."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text

from libs.servicekit.auth import Role
from services.assessment.tests.integration.conftest import AssessmentService, Headers
from services.assessment.tests.integration.steps import (
    completed_assessment,
    event_count,
    factory_body,
    register,
)

pytestmark = pytest.mark.integration


async def stored_keys(service: AssessmentService) -> int:
    async with service.engine.connect() as connection:
        return int(
            await connection.scalar(text("SELECT count(*) FROM assessment.idempotency_key")) or 0
        )


async def test_concurrent_requests_with_one_key_register_one_factory(
    client: httpx.AsyncClient, auth: Headers, service: AssessmentService
) -> None:
    headers = {**auth(), "Idempotency-Key": "register-together"}
    answers = await asyncio.gather(
        *(client.post("/v1/factories", json=factory_body(), headers=headers) for _ in range(6))
    )
    fresh = [a for a in answers if a.status_code == 201 and "idempotent-replayed" not in a.headers]
    assert len(fresh) == 1, [a.status_code for a in answers]
    for answer in answers:
        if answer.status_code == 201:
            assert answer.json()["factory_id"] == fresh[0].json()["factory_id"]
        else:
            assert answer.status_code == 409
            assert answer.json()["type"].endswith("/idempotency-key-in-progress")
    assert await event_count(service) == 1
    assert await stored_keys(service) == 1


async def test_a_refused_command_stores_nothing_and_runs_again(
    client: httpx.AsyncClient, auth: Headers, service: AssessmentService
) -> None:
    factory_id = await register(client, auth)
    headers = {**auth(), "Idempotency-Key": "rename-1", "If-Match": '"7"'}
    stale = await client.patch(
        f"/v1/factories/{factory_id}", json={"name": "New name"}, headers=headers
    )
    assert stale.status_code == 412
    assert await stored_keys(service) == 0
    headers["If-Match"] = '"1"'
    applied = await client.patch(
        f"/v1/factories/{factory_id}", json={"name": "New name"}, headers=headers
    )
    assert applied.status_code == 200, applied.text
    assert "idempotent-replayed" not in applied.headers


async def test_a_factory_user_refused_before_replay(
    client: httpx.AsyncClient, auth: Headers
) -> None:
    """Responding to a finding: the factory's own visibility is checked before a replay."""
    factory_id = await register(client, auth)
    other_id = await register(client, auth, name="Other Garments")
    assessment_id = await completed_assessment(client, auth, factory_id)
    path = f"/v1/assessments/{assessment_id}/findings/OSH-EMP-03/responses"
    own = auth(Role.FACTORY, subject="same-user", factory_id=factory_id)
    other = auth(Role.FACTORY, subject="same-user", factory_id=other_id)
    key = {"Idempotency-Key": "respond-1"}
    first = await client.post(path, json={"text": "fixed"}, headers={**own, **key})
    assert first.status_code == 201, first.text
    refused = await client.post(path, json={"text": "fixed"}, headers={**other, **key})
    assert refused.status_code == 404 and "idempotent-replayed" not in refused.headers
    again = await client.post(path, json={"text": "fixed"}, headers={**own, **key})
    assert again.status_code == first.status_code
    assert again.headers["idempotent-replayed"] == "true"


async def test_idempotency_key_replays_the_first_answer(
    client: httpx.AsyncClient, auth: Headers, service: AssessmentService
) -> None:
    headers = {**auth(), "Idempotency-Key": "register-1"}
    first = await client.post("/v1/factories", json=factory_body(), headers=headers)
    again = await client.post("/v1/factories", json=factory_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["factory_id"] == again.json()["factory_id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert await event_count(service) == 1
