"""Bad input is a 4xx problem that changes nothing, never a 500 (issue "Hardening" 4 and 5)."""

from __future__ import annotations

import base64
from datetime import date, timedelta

import httpx
import pytest

from libs.servicekit.auth import Role
from libs.servicekit.http import encode_cursor
from services.assessment.tests.integration.conftest import Headers
from services.assessment.tests.integration.steps import (
    CRITICAL,
    PROBLEM,
    factory_body,
    record,
    register,
    schedule,
)

pytestmark = pytest.mark.integration


async def factory_count(client: httpx.AsyncClient, auth: Headers) -> int:
    return len((await client.get("/v1/factories", headers=auth())).json()["items"])


class TestControlCharacters:
    @pytest.mark.parametrize("field", ["name", "address"])
    async def test_nul_in_a_string_is_422_and_registers_nothing(
        self, client: httpx.AsyncClient, auth: Headers, field: str
    ) -> None:
        response = await client.post(
            "/v1/factories", json=factory_body(**{field: "Mekong\x00Garments"}), headers=auth()
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["errors"][0]["location"] == f"body.{field}"
        assert await factory_count(client, auth) == 0

    async def test_lone_surrogate_and_escape_are_422(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        for name in ('"Mekong \\ud800"', '"bell \\u0007"'):
            body = factory_body(name="placeholder")
            raw = httpx.Request("POST", "/", json=body).content.replace(
                b'"placeholder"', name.encode()
            )
            response = await client.post(
                "/v1/factories",
                content=raw,
                headers={**auth(), "Content-Type": "application/json"},
            )
            assert response.status_code == 422, response.text
        assert await factory_count(client, auth) == 0

    async def test_multi_line_evidence_is_kept(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        assessment_id = await schedule(client, auth, await register(client, auth))
        evidence = "line one\n\tline two"
        response = await record(
            client, auth, assessment_id, CRITICAL[0], "non_compliant", evidence=evidence
        )
        assert response.status_code == 200, response.text
        finding = next(f for f in response.json()["findings"] if f["question_id"] == CRITICAL[0])
        assert finding["evidence"] == evidence


class TestCursorsAndPathIds:
    @pytest.mark.parametrize(
        "cursor",
        [
            encode_cursor({"x": 1}),
            encode_cursor({"after": {"nested": [1, 2]}}),
            base64.urlsafe_b64encode(b"[" * 1500).rstrip(b"=").decode(),
            "not a cursor!",
        ],
    )
    @pytest.mark.parametrize("path", ["/v1/factories", "/v1/assessments"])
    async def test_tampered_cursor_is_400(
        self, client: httpx.AsyncClient, auth: Headers, path: str, cursor: str
    ) -> None:
        response = await client.get(path, params={"cursor": cursor}, headers=auth())
        assert response.status_code == 400, response.text
        assert response.json()["type"].endswith("/invalid-cursor")

    # `..` goes percent-encoded: sent as is, the client resolves it away (to /v1, no route) and
    # the server never sees it; encoded, it reaches the route as `..`
    @pytest.mark.parametrize("factory_id", ["x" * 300, "fäbrik", "a b", "%2E%2E"])
    async def test_malformed_path_id_is_422(
        self, client: httpx.AsyncClient, auth: Headers, factory_id: str
    ) -> None:
        response = await client.get(f"/v1/factories/{factory_id}", headers=auth())
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["errors"][0]["location"] == "path.factory_id"

    async def test_path_ids_are_documented(self, client: httpx.AsyncClient) -> None:
        document = (await client.get("/openapi.json")).json()
        for path, operations in document["paths"].items():
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "path" and path.startswith("/v1/"):
                        assert parameter["schema"]["maxLength"] == 64, (path, parameter)
                        assert "pattern" in parameter["schema"], (path, parameter)

    async def test_unsupported_method_is_405_with_allow(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        response = await client.delete("/v1/factories/f-1", headers=auth())
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, PATCH"


class TestPlausibleDates:
    @pytest.mark.parametrize(
        "scheduled_for",
        ["0001-01-01", "1999-12-31", (date.today() + timedelta(days=400)).isoformat()],
    )
    async def test_implausible_schedule_is_422(
        self, client: httpx.AsyncClient, auth: Headers, scheduled_for: str
    ) -> None:
        factory_id = await register(client, auth)
        response = await client.post(
            "/v1/assessments",
            json={"factory_id": factory_id, "scheduled_for": scheduled_for, "assessors": ["a1"]},
            headers=auth(),
        )
        assert response.status_code == 422, response.text
        listed = await client.get("/v1/assessments", headers=auth())
        assert listed.json()["items"] == []


class TestHistoryPages:
    async def test_history_is_paged_with_a_link_to_the_next_page(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        assessment_id = await schedule(client, auth, await register(client, auth))
        for question_id in CRITICAL[:4]:
            assert (await record(client, auth, assessment_id, question_id)).status_code == 200
        path = f"/v1/assessments/{assessment_id}/history"
        whole = (await client.get(path, headers=auth())).json()
        assert [entry["version"] for entry in whole] == [1, 2, 3, 4, 5]

        pages, url = [], f"{path}?limit=2"
        while url:
            response = await client.get(url, headers=auth())
            assert response.status_code == 200, response.text
            pages.append(response.json())
            link = response.headers.get("link")
            url = link[1 : link.index(">")] if link else ""
        assert [len(page) for page in pages] == [2, 2, 1]
        assert [entry for page in pages for entry in page] == whole

    async def test_history_cursor_of_another_list_is_400(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        assessment_id = await schedule(client, auth, await register(client, auth))
        response = await client.get(
            f"/v1/assessments/{assessment_id}/history",
            params={"cursor": encode_cursor({"after": "x"})},
            headers=auth(Role.ADMIN),
        )
        assert response.status_code == 400
