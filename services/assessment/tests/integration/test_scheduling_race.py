"""Concurrent scheduling for one factory never gives two assessments the same cycle."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services.assessment.tests.integration.conftest import Headers
from services.assessment.tests.integration.steps import register

pytestmark = pytest.mark.integration


async def test_concurrent_schedulings_get_distinct_cycles_or_a_conflict(
    client: httpx.AsyncClient, auth: Headers
) -> None:
    factory_id = await register(client, auth)
    responses = await asyncio.gather(
        *(
            client.post(
                "/v1/assessments",
                json={
                    "factory_id": factory_id,
                    "scheduled_for": f"2025-0{month}-03",
                    "assessors": ["a1"],
                },
                headers=auth(),
            )
            for month in range(1, 6)
        )
    )
    created = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert created
    assert all(r.status_code == 409 for r in refused)
    assert all(r.headers["content-type"] == "application/problem+json" for r in refused)
    listed = await client.get("/v1/assessments", params={"factory_id": factory_id}, headers=auth())
    assert listed.status_code == 200, listed.text
    cycles = [item["cycle"] for item in listed.json()["items"]]
    assert sorted(cycles) == list(range(1, len(created) + 1))
