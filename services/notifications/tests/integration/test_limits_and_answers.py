"""Issue 22, finding 6 (notifications' items), on real PostgreSQL and NATS: a buyer has at most
`BW_WEBHOOK_MAX_ENDPOINTS_PER_BUYER` endpoints (beyond it a 409 that changes nothing, racing
registrations included), and a receiver's answer is shown to the buyer as its status and size
only, without any of its body, when the receiver is not at a public address (one reachable only
through the operator's allow-list, as 127.0.0.1 is here)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.notifications.settings import NotificationsSettings
from services.notifications.tests.integration.conftest import Running, make_settings, running
from services.notifications.tests.receiver import Receiver

pytestmark = pytest.mark.timeout(60)

LIMIT = 2


@pytest.fixture
async def limited(settings: NotificationsSettings) -> AsyncIterator[Running]:
    values = settings.model_dump(by_alias=False)
    async for service in running(make_settings(**{**values, "max_endpoints_per_buyer": LIMIT})):
        yield service


async def register(service: Running, buyer: str, **body: Any) -> Any:
    return await service.client.post(
        "/v1/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["AssessmentCompleted"], **body},
        headers=service.admin if "buyer_id" in body else service.buyer(buyer),
    )


async def written(service: Running) -> list[Any]:
    return [
        await service.scalar("SELECT count(*) FROM {S}.event"),
        await service.scalar("SELECT count(*) FROM {S}.endpoint"),
        await service.scalar("SELECT count(*) FROM {S}.webhook_secret"),
    ]


async def test_a_buyer_has_at_most_the_configured_number_of_endpoints(limited: Running) -> None:
    service = limited
    first = await register(service, "brand-a")
    assert first.status_code == 201
    assert (await register(service, "brand-a")).status_code == 201
    before = await written(service)

    refused = await register(service, "brand-a")
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"].endswith("/endpoint-limit-reached")
    assert problem["limit"] == LIMIT
    by_admin = await register(service, "", buyer_id="brand-a")
    assert by_admin.status_code == 409, by_admin.text
    assert await written(service) == before

    assert (await register(service, "brand-b")).status_code == 201  # per buyer
    deleted = await service.client.delete(
        f"/v1/webhook-endpoints/{first.json()['endpoint_id']}", headers=service.buyer("brand-a")
    )
    assert deleted.status_code == 204
    assert (await register(service, "brand-a")).status_code == 201  # a deleted one frees a place


async def test_racing_registrations_never_pass_the_limit(limited: Running) -> None:
    service = limited
    answers = await asyncio.gather(*(register(service, "brand-c") for _ in range(6)))
    assert sorted(answer.status_code for answer in answers) == [201, 201, 409, 409, 409, 409]
    assert (
        await service.scalar("SELECT count(*) FROM {S}.endpoint WHERE buyer_id = 'brand-c'")
        == LIMIT
    )


async def test_an_answer_from_an_address_that_is_not_public_is_shown_as_status_and_size(
    service: Running,
) -> None:
    async with Receiver() as receiver:  # answers "ok", from 127.0.0.1: allowed, not public
        endpoint = await service.register("brand-a", receiver.url())
        sent = await service.client.post(
            f"/v1/webhook-endpoints/{endpoint['endpoint_id']}/test",
            headers=service.buyer("brand-a"),
        )
        assert sent.status_code == 202
        await service.wait_until("SELECT count(*) FROM {S}.attempt", 1)
    log = await service.client.get(
        "/v1/deliveries",
        params={"endpoint_id": endpoint["endpoint_id"]},
        headers=service.buyer("brand-a"),
    )
    [attempt] = log.json()["items"]
    assert attempt["status_code"] == 200
    assert attempt["response_body"] is None
    assert attempt["response_size"] == 2
    assert await service.scalar("SELECT response_body FROM {S}.attempt") is None
