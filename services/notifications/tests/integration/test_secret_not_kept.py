"""A secret shown once is never kept by the idempotency store, even for a retried create."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from services.notifications.tests.integration.conftest import Running

pytestmark = pytest.mark.integration

URL = "http://127.0.0.1:9/hook"
BODY = {"url": URL, "event_types": ["AssessmentCompleted"]}


async def stored_answers(service: Running) -> list[bytes]:
    async with service.assembled.engine.connect() as connection:
        rows = await connection.scalars(
            text("SELECT response_body FROM notifications.idempotency_key")
        )
        return [bytes(body) for body in rows]


async def test_a_retried_create_is_not_answered_with_the_secret(service: Running) -> None:
    headers = {**service.buyer("brand-a"), "Idempotency-Key": "create-1"}
    created = await service.client.post("/v1/webhook-endpoints", json=BODY, headers=headers)
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    assert created.headers["cache-control"] == "no-store"
    retried = await service.client.post("/v1/webhook-endpoints", json=BODY, headers=headers)
    assert retried.status_code == 409
    assert retried.json()["type"].endswith("/idempotent-answer-withheld")
    assert retried.headers["location"] == created.headers["location"]
    assert "whsec_" not in retried.text
    assert all(b"whsec_" not in body for body in await stored_answers(service))
    listed = await service.client.get("/v1/webhook-endpoints", headers=service.buyer("brand-a"))
    assert len(listed.json()["items"]) == 1  # applied once


async def test_a_retried_rotation_is_not_answered_with_the_secret(service: Running) -> None:
    endpoint = await service.register("brand-a", URL)
    headers = {**service.buyer("brand-a"), "Idempotency-Key": "rotate-1"}
    path = f"/v1/webhook-endpoints/{endpoint['endpoint_id']}/rotate-secret"
    rotated = await service.client.post(path, json={}, headers=headers)
    assert rotated.status_code == 200 and rotated.json()["secret"].startswith("whsec_")
    retried = await service.client.post(path, json={}, headers=headers)
    assert retried.status_code == 409 and "whsec_" not in retried.text
    assert all(b"whsec_" not in body for body in await stored_answers(service))
