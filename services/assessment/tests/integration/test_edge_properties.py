"""Property-based tests of every cursor and every date this service reads from a client (issue 22,
finding 5), against the running app on real PostgreSQL and NATS: whatever an edited cursor holds
(year 1 at an offset, 9999, 2^31, 2^63, NUL, a lone surrogate, another list's fields) and whatever
date a client sends, the answer is a page or a 4xx problem that changed nothing, never a 5xx."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from libs.servicekit.http import INT32_MAX, encode_cursor
from services.assessment.tests.integration.conftest import AssessmentService, Headers
from services.assessment.tests.integration.programmes import stored_state
from services.assessment.tests.integration.steps import PROBLEM, register, schedule
from tools.hostile import (
    ANY_DATE,
    ANY_VALUE,
    ANY_YEAR,
    JSON_CONTENT,
    examples,
    forged_cursor,
    json_body,
    positions,
    query_value,
)

pytestmark = pytest.mark.integration

EXAMPLES = examples(100)


def a_page_or_a_cursor_problem(response: httpx.Response) -> None:
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"].endswith("/invalid-cursor")


@pytest.fixture
async def assessment_id(client: httpx.AsyncClient, auth: Headers) -> str:
    return await schedule(client, auth, await register(client, auth))


class TestCursors:
    @EXAMPLES
    @given(
        path=st.sampled_from(["/v1/factories", "/v1/assessments"]),
        # a list's position, or the history's (another list's fields)
        position=positions({"after": ANY_VALUE}, strangers=("extra", "after_version")),
    )
    @example(path="/v1/factories", position={"after": "\ud800"})
    @example(path="/v1/assessments", position={"after": "a\x00b"})
    @example(path="/v1/assessments", position={"after": 2**63})
    async def test_an_edited_list_cursor_is_a_page_or_a_400(
        self,
        client: httpx.AsyncClient,
        auth: Headers,
        assessment_id: str,
        path: str,
        position: Any,
    ) -> None:
        response = await client.get(
            path, params={"cursor": forged_cursor(position)}, headers=auth()
        )
        a_page_or_a_cursor_problem(response)

    @EXAMPLES
    @given(
        position=positions({"after_version": ANY_VALUE}, strangers=("extra", "after")),
        limit=st.integers(min_value=1, max_value=500),
    )
    async def test_an_edited_history_cursor_is_a_page_or_a_400(
        self,
        client: httpx.AsyncClient,
        auth: Headers,
        assessment_id: str,
        position: Any,
        limit: int,
    ) -> None:
        response = await client.get(
            f"/v1/assessments/{assessment_id}/history",
            params={"cursor": forged_cursor(position), "limit": str(limit)},
            headers=auth(),
        )
        a_page_or_a_cursor_problem(response)

    @pytest.mark.parametrize(
        ("position", "status"),
        [
            ({"after_version": INT32_MAX}, 200),
            ({"after_version": 2**31}, 400),
            ({"after_version": 2**63}, 400),
            ({"after_version": -1}, 400),
            ({"after_version": "1"}, 400),
        ],
    )
    async def test_the_history_position_is_a_32_bit_version(
        self,
        client: httpx.AsyncClient,
        auth: Headers,
        assessment_id: str,
        position: dict[str, Any],
        status: int,
    ) -> None:
        response = await client.get(
            f"/v1/assessments/{assessment_id}/history",
            params={"cursor": encode_cursor(position)},
            headers=auth(),
        )
        assert response.status_code == status, response.text
        if status == 200:
            assert response.json() == []

    @pytest.mark.parametrize("path", ["/v1/factories", "/v1/assessments"])
    @pytest.mark.parametrize("after", ["\ud800", "a\x00b", "x" * 201])
    async def test_an_identifier_postgresql_cannot_take_is_a_400(
        self, client: httpx.AsyncClient, auth: Headers, path: str, after: str
    ) -> None:
        response = await client.get(
            path, params={"cursor": forged_cursor({"after": after})}, headers=auth()
        )
        assert response.status_code == 400, response.text
        assert response.json()["type"].endswith("/invalid-cursor")


class TestDates:
    @EXAMPLES
    @given(scheduled_for=ANY_DATE)
    @example(scheduled_for="0001-01-01T00:00:00+01:00")
    @example(scheduled_for="9999-12-31")
    @example(scheduled_for=2**63)
    async def test_a_scheduling_date_is_scheduled_or_a_422_that_changes_nothing(
        self,
        client: httpx.AsyncClient,
        auth: Headers,
        service: AssessmentService,
        scheduled_for: Any,
    ) -> None:
        factory_id = await register(client, auth)
        before = await stored_state(service)
        body = {"factory_id": factory_id, "scheduled_for": scheduled_for, "assessors": ["a1"]}
        response = await client.post(
            "/v1/assessments", content=json_body(body), headers={**auth(), **JSON_CONTENT}
        )
        assert response.status_code in (201, 422), response.text
        if response.status_code == 422:
            assert response.headers["content-type"] == PROBLEM
            assert await stored_state(service) == before
        else:
            planned = date.fromisoformat(response.json()["scheduled_for"])
            assert date(2000, 1, 1) <= planned <= date.today() + timedelta(days=366)

    @EXAMPLES
    @given(year=ANY_YEAR)
    @example(year=2**31)
    @example(year="\ud800")
    async def test_a_synthesis_year_is_a_synthesis_or_a_422(
        self, client: httpx.AsyncClient, auth: Headers, year: Any
    ) -> None:
        response = await client.get(
            f"/v1/assessments/synthesis?country=KH&year={query_value(year)}", headers=auth()
        )
        assert response.status_code in (200, 422), response.text
        if response.status_code == 200:
            assert 2000 <= response.json()["year"] <= 2100


class TestIdentifiersAsRawBytes:
    @pytest.mark.parametrize(
        "raw",
        ["%ED%A0%80", "%00", "%FF%FE", "%C0%AE%C0%AE", "a%0Ab", "x" * 65],
        ids=["surrogate", "nul", "not-utf8", "overlong-dots", "newline", "too-long"],
    )
    @pytest.mark.parametrize(
        "template",
        [
            "/v1/factories/{raw}",
            "/v1/assessments/{raw}/history",
            "/v1/assessments?factory_id={raw}",
            "/v1/factories?country={raw}",
            "/v1/assessments/synthesis?country={raw}&year=2026",
        ],
    )
    async def test_an_identifier_no_client_library_would_send_is_a_4xx(
        self, client: httpx.AsyncClient, auth: Headers, template: str, raw: str
    ) -> None:
        response = await client.get(template.format(raw=raw), headers=auth())
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"] == PROBLEM
