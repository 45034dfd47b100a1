"""Bad input is a 4xx by construction (issue 22, finding 5), against real PostgreSQL and NATS:
Hypothesis sends every cursor of this service and every date field hostile values (2^31 and its
neighbours, year 1 and 9999, impossible dates, any JSON) and the answer is always a page or a 4xx
problem, never a server error, and a refused write changes nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import strategies as st

from libs.servicekit.auth import Role
from libs.servicekit.http import INT32_MAX, encode_cursor
from services.remediation.tests.integration.conftest import Service
from services.remediation.tests.integration.test_api import FACTORY, given_plan
from services.remediation.tests.integration.test_bad_input import COMMITTEE, given_committee
from tools.hostile import ANY_DATE, ANY_VALUE, JSON_CONTENT, cursors, for_all, json_body

pytestmark = pytest.mark.integration

PLANS = f"/v1/improvement-plans/{FACTORY}"
# every paginated list of the service, with the fields of its cursor
LISTS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "/v1/improvement-plans": {"factory_id": ANY_VALUE},
    f"{PLANS}/items": {"due_date": ANY_DATE, "item_id": ANY_VALUE},
    f"{COMMITTEE}/meetings": {"offset": ANY_VALUE},
}


def assert_problem(response: Any, *statuses: int, sent: Any = None) -> None:
    assert response.status_code in statuses, (sent, response.text)
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_meetings_cursor_at_the_32_bit_edge_is_a_page_or_a_400(service: Service) -> None:
    await given_plan(service)
    await given_committee(service)
    admin = service.token(Role.ADMIN)
    last = await service.client.get(
        f"{COMMITTEE}/meetings",
        params={"cursor": encode_cursor({"offset": INT32_MAX}), "limit": 500},
        headers=admin,
    )
    assert last.status_code == 200, last.text
    assert last.json() == {"items": [], "next_cursor": None}
    beyond = await service.client.get(
        f"{COMMITTEE}/meetings",
        params={"cursor": encode_cursor({"offset": 2**31})},
        headers=admin,
    )
    assert_problem(beyond, 400)


@pytest.mark.parametrize("path", list(LISTS))
async def test_every_cursor_is_a_page_or_a_400(service: Service, path: str) -> None:
    await given_plan(service)
    await given_committee(service)
    admin = service.token(Role.ADMIN)

    async def check(cursor: str) -> None:
        response = await service.client.get(
            path, params={"cursor": cursor, "limit": 500}, headers=admin
        )
        if response.status_code != 200:
            assert_problem(response, 400, 422, sent=cursor)

    await for_all(cursors(LISTS[path]), check, examples=150)


async def test_every_due_date_is_accepted_in_its_window_or_a_4xx_that_changes_nothing(
    service: Service,
) -> None:
    critical, _ = await given_plan(service)
    factory = service.token(Role.FACTORY, FACTORY)
    path = f"{PLANS}/items/{critical}"

    async def check(due_date: Any) -> None:
        before = (await service.client.get(path, headers=factory)).json()
        version = (await service.client.get(PLANS, headers=factory)).json()["version"]
        response = await service.client.patch(
            path, content=json_body({"due_date": due_date}), headers={**factory, **JSON_CONTENT}
        )
        if response.status_code == 200:
            assert date(2024, 3, 1) <= date.fromisoformat(response.json()["due_date"])
            assert date.fromisoformat(response.json()["due_date"]) <= date(2024, 3, 31)
            return
        assert_problem(response, 422, sent=due_date)
        assert (await service.client.get(path, headers=factory)).json() == before
        assert (await service.client.get(PLANS, headers=factory)).json()["version"] == version

    await for_all(ANY_DATE | st.just("2024-03-20"), check, examples=150)


async def test_every_meeting_date_is_accepted_when_past_or_a_4xx_that_changes_nothing(
    service: Service,
) -> None:
    await given_plan(service)
    ids = await given_committee(service)
    factory = service.token(Role.FACTORY, FACTORY)

    async def check(held_on: Any) -> None:
        before = (await service.client.get(COMMITTEE, headers=factory)).json()
        response = await service.client.post(
            f"{COMMITTEE}/meetings",
            content=json_body({"held_on": held_on, "attendees": list(ids.values())}),
            headers={**factory, **JSON_CONTENT},
        )
        if response.status_code == 201:
            assert response.json()["version"] == before["version"] + 1
            return
        assert_problem(response, 422, sent=held_on)
        assert (await service.client.get(COMMITTEE, headers=factory)).json() == before

    await for_all(ANY_DATE | st.just("2024-03-04"), check, examples=150)
