"""Staff write within their country programmes (issue 22, finding 7): an assessor of the Cambodian
programme cannot schedule, record, complete or correct assessments of a Bangladeshi factory, nor
update it (each answered as if it did not exist, and nothing is written), nor register a factory
in Bangladesh (403); the headquarters' admin can do all of it."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from libs.servicekit.auth import Role
from services.assessment.tests.integration.conftest import AssessmentService, Headers
from services.assessment.tests.integration.programmes import (
    Programmes,
    assert_not_found,
    stored_state,
    two_programmes,
)
from services.assessment.tests.integration.steps import CRITICAL, PROBLEM, factory_body

pytestmark = pytest.mark.integration

FINDING = {"result": "non_compliant", "evidence": "exit locked"}


@pytest.fixture
async def programmes(client: httpx.AsyncClient, auth: Headers) -> Programmes:
    return await two_programmes(client, auth)


class TestAnotherProgrammesAssessments:
    async def test_scheduling_for_a_factory_of_another_country_is_as_for_an_unknown_factory(
        self, client: httpx.AsyncClient, programmes: Programmes, service: AssessmentService
    ) -> None:
        before = await stored_state(service)
        answers = {}
        for factory_id in (programmes.bd_factory, "no-such-factory"):
            answers[factory_id] = await client.post(
                "/v1/assessments",
                json={
                    "factory_id": factory_id,
                    "scheduled_for": date.today().isoformat(),
                    "assessors": ["kh-assessor"],
                },
                headers=programmes.cambodia,
            )
        foreign, unknown = answers.values()
        assert foreign.status_code == unknown.status_code == 422, foreign.text
        assert foreign.headers["content-type"] == PROBLEM
        assert foreign.json()["type"] == unknown.json()["type"]
        assert foreign.json()["factory_id"] == programmes.bd_factory
        assert await stored_state(service) == before

    @pytest.mark.parametrize(
        ("method", "path", "body", "which"),
        [
            ("PUT", "/findings/OSH-EMP-03", FINDING, "bd_open"),
            (
                "POST",
                "/findings",
                {"findings": [{"question_id": "OSH-EMP-03", **FINDING}]},
                "bd_open",
            ),
            ("POST", "/complete", None, "bd_open"),
            ("POST", "/findings/OSH-EMP-03/corrections", {**FINDING, "reason": "x"}, "bd_report"),
        ],
        ids=["record", "record-many", "complete", "correct"],
    )
    async def test_a_write_on_another_countrys_assessment_is_404_and_writes_nothing(
        self,
        client: httpx.AsyncClient,
        programmes: Programmes,
        service: AssessmentService,
        method: str,
        path: str,
        body: dict[str, object] | None,
        which: str,
    ) -> None:
        assessment_id = getattr(programmes, which)
        before = await stored_state(service)
        for headers in (
            programmes.cambodia,
            # a retry with a key, and one with a stale If-Match, are refused the same way first
            {**programmes.cambodia, "Idempotency-Key": f"{which}-{path}"},
            {**programmes.cambodia, "If-Match": '"999"'},
        ):
            response = await client.request(
                method, f"/v1/assessments/{assessment_id}{path}", json=body, headers=headers
            )
            assert_not_found(response)
        assert await stored_state(service) == before

    async def test_the_headquarters_admin_writes_in_every_country(
        self, client: httpx.AsyncClient, programmes: Programmes
    ) -> None:
        hq, open_path = programmes.headquarters, f"/v1/assessments/{programmes.bd_open}"
        for question_id in CRITICAL:
            response = await client.put(
                f"{open_path}/findings/{question_id}", json={"result": "compliant"}, headers=hq
            )
            assert response.status_code == 200, response.text
        assert (await client.post(f"{open_path}/complete", headers=hq)).status_code == 200
        corrected = await client.post(
            f"/v1/assessments/{programmes.bd_report}/findings/OSH-EMP-03/corrections",
            json={"result": "compliant", "reason": "exit reopened on the day"},
            headers=hq,
        )
        assert corrected.status_code == 201, corrected.text


class TestAnotherProgrammesFactories:
    async def test_registering_a_factory_in_another_country_is_403(
        self, client: httpx.AsyncClient, programmes: Programmes, service: AssessmentService
    ) -> None:
        before = await stored_state(service)
        response = await client.post(
            "/v1/factories", json=factory_body(country="BD"), headers=programmes.cambodia
        )
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert problem["type"].endswith("/outside-country-programme")
        assert problem["country"] == "BD"
        assert await stored_state(service) == before
        # in its own country it registers
        own = await client.post(
            "/v1/factories", json=factory_body(country="kh"), headers=programmes.cambodia
        )
        assert own.status_code == 201, own.text

    async def test_updating_another_countrys_factory_is_404(
        self, client: httpx.AsyncClient, programmes: Programmes, service: AssessmentService
    ) -> None:
        before = await stored_state(service)
        response = await client.patch(
            f"/v1/factories/{programmes.bd_factory}",
            json={"name": "Renamed from Phnom Penh"},
            headers=programmes.cambodia,
        )
        assert_not_found(response)
        assert await stored_state(service) == before

    async def test_moving_an_own_factory_to_another_country_is_403(
        self, client: httpx.AsyncClient, programmes: Programmes, service: AssessmentService
    ) -> None:
        before = await stored_state(service)
        response = await client.patch(
            f"/v1/factories/{programmes.kh_factory}",
            json={"country": "BD"},
            headers=programmes.cambodia,
        )
        assert response.status_code == 403, response.text
        assert response.json()["type"].endswith("/outside-country-programme")
        assert await stored_state(service) == before
        moved = await client.patch(
            f"/v1/factories/{programmes.kh_factory}",
            json={"country": "BD"},
            headers=programmes.headquarters,
        )
        assert moved.status_code == 200, moved.text

    async def test_a_programme_admin_is_scoped_like_an_assessor(
        self, client: httpx.AsyncClient, programmes: Programmes, auth: Headers
    ) -> None:
        kh_admin = auth(Role.ADMIN, "kh-admin", countries=["KH"])
        response = await client.patch(
            f"/v1/factories/{programmes.bd_factory}", json={"name": "x"}, headers=kh_admin
        )
        assert_not_found(response)
        both = auth(Role.ASSESSOR, "regional", countries=["KH", "BD"])
        response = await client.patch(
            f"/v1/factories/{programmes.bd_factory}", json={"name": "Dhaka Knit 2"}, headers=both
        )
        assert response.status_code == 200, response.text


class TestRetriesAreAuthorizedAgain:
    async def test_a_key_used_in_another_programme_is_not_replayed_once_the_caller_left_it(
        self, client: httpx.AsyncClient, programmes: Programmes, auth: Headers
    ) -> None:
        # the same staff member, before and after leaving the Bangladeshi programme
        before = auth(Role.ASSESSOR, "moved-on", countries=["KH", "BD"])
        after = auth(Role.ASSESSOR, "moved-on", countries=["KH"])
        path = f"/v1/assessments/{programmes.bd_open}/findings/OSH-EMP-01"
        body = {"result": "compliant"}
        first = await client.put(path, json=body, headers={**before, "Idempotency-Key": "k-1"})
        assert first.status_code == 200, first.text
        retry = await client.put(path, json=body, headers={**after, "Idempotency-Key": "k-1"})
        assert_not_found(retry)
        assert "idempotent-replayed" not in retry.headers

        registered = await client.post(
            "/v1/factories",
            json=factory_body(country="BD", name="Chittagong Denim"),
            headers={**before, "Idempotency-Key": "k-2"},
        )
        assert registered.status_code == 201, registered.text
        again = await client.post(
            "/v1/factories",
            json=factory_body(country="BD", name="Chittagong Denim"),
            headers={**after, "Idempotency-Key": "k-2"},
        )
        assert again.status_code == 403, again.text
        assert "idempotent-replayed" not in again.headers
