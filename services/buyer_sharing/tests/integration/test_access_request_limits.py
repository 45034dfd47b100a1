"""Finding 6e of issue 22: a buyer has at most `BW_MAX_OPEN_ACCESS_REQUESTS` pending access
requests (100 by default); beyond it a 409 problem that changes nothing, also when the requests
race each other; a decided request frees its place."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from asgi_lifespan import LifespanManager

from services.buyer_sharing.service import SERVICE
from services.buyer_sharing.settings import BuyerSharingSettings
from services.buyer_sharing.tests.integration.conftest import Service
from tools.testkit import MovableClock

LIMIT = 3


@pytest.fixture
async def limited(settings: BuyerSharingSettings) -> AsyncIterator[Service]:
    strict = settings.model_copy(update={"max_open_access_requests": LIMIT})
    clock = MovableClock(datetime(2025, 6, 2, 9, 0, tzinfo=UTC))
    app = SERVICE.app(strict, clock=clock)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bs") as client:
            service = Service(app, client, strict, clock)
            await service.register_buyer("brand-a")
            await service.register_buyer("brand-b")
            yield service


async def ask(service: Service, factory_id: str, buyer_id: str = "brand-a") -> httpx.Response:
    return await service.client.post(
        "/v1/access-requests", json={"factory_id": factory_id}, headers=service.buyer(buyer_id)
    )


async def test_beyond_the_limit_a_request_is_a_409_that_changes_nothing(limited: Service) -> None:
    accepted = [await ask(limited, f"f{n}") for n in range(LIMIT)]
    assert [response.status_code for response in accepted] == [202] * LIMIT
    before = await limited.count_events()

    refused = await ask(limited, "f9")

    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert refused.headers["content-type"] == "application/problem+json"
    assert problem["type"].endswith("too-many-open-requests")
    assert problem["limit"] == LIMIT
    assert await limited.count_events() == before
    listed = await limited.client.get("/v1/access-requests", headers=limited.buyer("brand-a"))
    assert len(listed.json()["items"]) == LIMIT
    # another buyer has its own allowance
    assert (await ask(limited, "f9", "brand-b")).status_code == 202


async def test_a_decided_request_frees_its_place(limited: Service) -> None:
    request_ids = [(await ask(limited, f"f{n}")).json()["request_id"] for n in range(LIMIT)]
    assert (await ask(limited, "f9")).status_code == 409
    declined = await limited.client.post(
        f"/v1/access-requests/{request_ids[0]}/decline",
        json={"reason": "no"},
        headers=limited.factory("f0"),
    )
    assert declined.status_code == 200
    assert (await ask(limited, "f9")).status_code == 202
    assert (await ask(limited, "f8")).status_code == 409


async def test_requests_racing_each_other_never_pass_the_limit(limited: Service) -> None:
    responses = await asyncio.gather(*(ask(limited, f"f{n}") for n in range(LIMIT + 4)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [202] * LIMIT + [409] * 4
    listed = await limited.client.get("/v1/access-requests", headers=limited.buyer("brand-a"))
    assert len(listed.json()["items"]) == LIMIT


def test_the_limit_is_100_by_default(settings: BuyerSharingSettings) -> None:
    assert BuyerSharingSettings(database_url=settings.database_url).max_open_access_requests == 100
