"""Factories through the API: registered, read, updated with If-Match, listed by country, an OS ID
one factory's alone, and bad details refused without a trace."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services.assessment.tests.integration.conftest import AssessmentService, Headers
from services.assessment.tests.integration.steps import PROBLEM, event_count, factory_body, register

pytestmark = pytest.mark.integration


class TestFactories:
    async def test_register_get_update_and_list(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        created = await client.post(
            "/v1/factories",
            json=factory_body(country="BD", os_id="bd-2019257-q2jmgf"),
            headers=auth(),
        )
        assert created.status_code == 201
        assert created.headers["ETag"] == '"1"'
        factory_id = created.json()["factory_id"]
        assert created.json()["os_id"] == "BD2019257Q2JMGF"
        await register(client, auth)
        await register(client, auth, name="Second KH")

        stale = await client.patch(
            f"/v1/factories/{factory_id}", json={"name": "X"}, headers={**auth(), "If-Match": '"7"'}
        )
        assert stale.status_code == 412 and stale.headers["content-type"] == PROBLEM
        updated = await client.patch(
            f"/v1/factories/{factory_id}",
            json={"name": "Dhaka Knit"},
            headers={**auth(), "If-Match": '"1"'},
        )
        assert updated.status_code == 200 and updated.headers["ETag"] == '"2"'

        page = await client.get("/v1/factories?country=KH&limit=1", headers=auth())
        assert len(page.json()["items"]) == 1
        rest = await client.get(
            f"/v1/factories?country=KH&limit=1&cursor={page.json()['next_cursor']}", headers=auth()
        )
        names = {page.json()["items"][0]["name"], rest.json()["items"][0]["name"]}
        assert names == {"Mekong Garments", "Second KH"} and rest.json()["next_cursor"] is None

    async def test_an_os_id_belongs_to_one_factory_even_under_concurrency(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        body = factory_body(country="BD", os_id="BD2019257Q2JMGF")
        responses = await asyncio.gather(
            *(client.post("/v1/factories", json=body, headers=auth()) for _ in range(3))
        )
        assert sorted(r.status_code for r in responses) == [201, 409, 409]
        assert await event_count(service) == 1

    async def test_bad_input_is_a_problem_and_changes_nothing(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        for bad in (
            factory_body(country="ZZ"),
            factory_body(os_id="KH2019257Q2JMGF"),
            factory_body(sector_isic="garments"),
        ):
            response = await client.post("/v1/factories", json=bad, headers=auth())
            assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
            assert response.json()["errors"]
        assert await event_count(service) == 0
