"""Staff read within their country programmes (issue 22, finding 7): an assessor of the Cambodian
programme gets a 404 for a Bangladeshi factory and its assessments (findings, report, history,
compliance trend), as for any other tenant, and lists show only Cambodian ones; the headquarters'
admin reads everything; the yearly synthesis and the catalogue stay open to all staff."""

from __future__ import annotations

import httpx
import pytest

from libs.servicekit.auth import Role
from services.assessment.tests.integration.conftest import Headers
from services.assessment.tests.integration.programmes import (
    Programmes,
    assert_not_found,
    two_programmes,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def programmes(client: httpx.AsyncClient, auth: Headers) -> Programmes:
    return await two_programmes(client, auth)


def reads_of(programmes: Programmes) -> list[str]:
    bd_factory, bd_report = programmes.bd_factory, programmes.bd_report
    return [
        f"/v1/factories/{bd_factory}",
        f"/v1/factories/{bd_factory}/compliance-trend",
        f"/v1/assessments/{bd_report}",
        f"/v1/assessments/{bd_report}/report",
        f"/v1/assessments/{bd_report}/history",
        f"/v1/assessments/{programmes.bd_open}",
        f"/v1/assessments/{programmes.bd_open}/history",
    ]


class TestReadsOfAnotherProgramme:
    async def test_another_countrys_factory_and_assessments_are_404(
        self, client: httpx.AsyncClient, programmes: Programmes
    ) -> None:
        for path in reads_of(programmes):
            response = await client.get(path, headers=programmes.cambodia)
            assert_not_found(response)
            assert "ETag" not in response.headers, path
            unknown = path.replace(programmes.bd_factory, "unknown").replace(
                programmes.bd_report, "unknown"
            )
            unknown = unknown.replace(programmes.bd_open, "unknown")
            assert (await client.get(unknown, headers=programmes.cambodia)).json()["type"] == (
                response.json()["type"]
            )

    async def test_own_country_and_the_headquarters_read(
        self, client: httpx.AsyncClient, programmes: Programmes
    ) -> None:
        for path in reads_of(programmes):
            response = await client.get(path, headers=programmes.headquarters)
            assert response.status_code == 200, (path, response.text)
        for path in (
            f"/v1/factories/{programmes.kh_factory}",
            f"/v1/assessments/{programmes.kh_report}/report",
        ):
            response = await client.get(path, headers=programmes.cambodia)
            assert response.status_code == 200, (path, response.text)


class TestListsOfAScopedStaffMember:
    async def test_lists_show_only_own_countries(
        self, client: httpx.AsyncClient, programmes: Programmes
    ) -> None:
        factories = await client.get("/v1/factories", headers=programmes.cambodia)
        assert [f["factory_id"] for f in factories.json()["items"]] == [programmes.kh_factory]
        assessments = await client.get("/v1/assessments", headers=programmes.cambodia)
        assert [a["assessment_id"] for a in assessments.json()["items"]] == [programmes.kh_report]
        for path, params in (
            ("/v1/factories", {"country": "BD"}),
            ("/v1/assessments", {"factory_id": programmes.bd_factory}),
            ("/v1/assessments", {"factory_id": programmes.bd_factory, "status": "completed"}),
        ):
            response = await client.get(path, params=params, headers=programmes.cambodia)
            assert response.status_code == 200, response.text
            assert response.json() == {"items": [], "next_cursor": None}, (path, params)

    async def test_pages_of_a_scoped_list_hold_only_own_countries(
        self, client: httpx.AsyncClient, programmes: Programmes
    ) -> None:
        seen, cursor = [], None
        while True:
            params = {"limit": "1", **({"cursor": cursor} if cursor else {})}
            page = (
                await client.get("/v1/assessments", params=params, headers=programmes.cambodia)
            ).json()
            seen += [item["country"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ["KH"]

    async def test_the_headquarters_lists_every_country(
        self, client: httpx.AsyncClient, programmes: Programmes
    ) -> None:
        factories = (await client.get("/v1/factories", headers=programmes.headquarters)).json()
        assert {f["country"] for f in factories["items"]} == {"KH", "BD"}
        assessments = (await client.get("/v1/assessments", headers=programmes.headquarters)).json()
        assert len(assessments["items"]) == 3

    async def test_a_staff_member_of_both_programmes_lists_both(
        self, client: httpx.AsyncClient, programmes: Programmes, auth: Headers
    ) -> None:
        regional = auth(Role.ASSESSOR, "regional", countries=["BD", "KH"])
        factories = (await client.get("/v1/factories", headers=regional)).json()
        assert {f["country"] for f in factories["items"]} == {"KH", "BD"}


class TestWhatStaysOpen:
    async def test_the_synthesis_and_the_catalogue_answer_any_staff_member(
        self, client: httpx.AsyncClient, programmes: Programmes
    ) -> None:
        for path in (
            "/v1/assessments/synthesis?country=BD&year=2026",
            "/v1/compliance-catalogue?country=BD",
        ):
            response = await client.get(path, headers=programmes.cambodia)
            assert response.status_code == 200, (path, response.text)
