"""Bad input to the committee and plan routes is a 4xx problem that changes nothing; meetings are
bounded and paginated (issue "Hardening" 4 and 5)."""

from __future__ import annotations

import pytest

from libs.servicekit.auth import Role
from libs.servicekit.http import encode_cursor
from services.remediation.api import committees
from services.remediation.tests.integration.conftest import Service
from services.remediation.tests.integration.test_api import FACTORY, given_plan

pytestmark = pytest.mark.integration

COMMITTEE = f"/v1/committees/{FACTORY}"


async def given_committee(service: Service) -> dict[str, str]:
    response = await service.client.put(
        f"{COMMITTEE}/members",
        json={"members": [{"name": "A", "side": "management"}, {"name": "B", "side": "worker"}]},
        headers=service.token(Role.FACTORY, FACTORY),
    )
    assert response.status_code == 200, response.text
    return {member["side"]: member["member_id"] for member in response.json()["members"]}


async def committee_version(service: Service) -> int:
    response = await service.client.get(COMMITTEE, headers=service.token(Role.ADMIN))
    return int(response.json()["version"])


@pytest.mark.parametrize("factory_id", ["fäbrik", "x" * 300, "a%00b"])
async def test_malformed_path_ids_are_422(service: Service, factory_id: str) -> None:
    admin = service.token(Role.ADMIN)
    requests: list[tuple[str, str, dict[str, object] | None]] = [
        ("PUT", f"/v1/committees/{factory_id}/members", {"members": []}),
        ("GET", f"/v1/committees/{factory_id}", None),
        ("GET", f"/v1/improvement-plans/{factory_id}/items", None),
    ]
    for method, path, body in requests:
        response = await service.client.request(method, path, json=body, headers=admin)
        assert response.status_code == 422, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"


async def test_405_names_the_methods_of_the_path(service: Service) -> None:
    response = await service.client.get(f"{COMMITTEE}/members", headers=service.token(Role.ADMIN))
    assert response.status_code == 405
    assert response.headers["allow"] == "PUT"


@pytest.mark.parametrize(
    "meeting",
    [
        {"decisions": ["x" * 900_000]},  # 900 kB decision
        {"decisions": ["ok"] * 51},
        {"held_on": "0001-01-01"},
        {"held_on": "1999-12-31"},
        {"held_on": "2024-03-06"},  # after the service's today (2024-03-05)
        {"decisions": ["null \x00 byte"]},
    ],
)
async def test_out_of_bounds_meeting_is_refused_and_changes_nothing(
    service: Service, meeting: dict[str, object]
) -> None:
    await given_plan(service)
    ids = await given_committee(service)
    before = await committee_version(service)
    body = {"held_on": "2024-03-04", "attendees": list(ids.values()), **meeting}
    response = await service.client.post(
        f"{COMMITTEE}/meetings", json=body, headers=service.token(Role.FACTORY, FACTORY)
    )
    assert response.status_code == 422, response.text
    assert await committee_version(service) == before


async def test_meetings_are_paginated(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(committees, "MEETINGS_ON_COMMITTEE", 2)
    await given_plan(service)
    ids = await given_committee(service)
    factory = service.token(Role.FACTORY, FACTORY)
    for day in range(1, 6):
        response = await service.client.post(
            f"{COMMITTEE}/meetings",
            json={
                "held_on": f"2024-03-0{day}",
                "attendees": [ids["worker"]],
                "decisions": [str(day)],
            },
            headers=factory,
        )
        assert response.status_code == 201, response.text
    committee = (await service.client.get(COMMITTEE, headers=factory)).json()
    assert [m["decisions"] for m in committee["meetings"]] == [["1"], ["2"]]
    seen, cursor = [], committee["meetings_next_cursor"]
    while cursor:
        page = await service.client.get(
            f"{COMMITTEE}/meetings", params={"cursor": cursor, "limit": 2}, headers=factory
        )
        assert page.status_code == 200, page.text
        seen += [m["decisions"] for m in page.json()["items"]]
        cursor = page.json()["next_cursor"]
    assert seen == [["3"], ["4"], ["5"]]
    whole = await service.client.get(f"{COMMITTEE}/meetings", headers=factory)
    assert len(whole.json()["items"]) == 5


@pytest.mark.parametrize(
    "cursor",
    [
        encode_cursor({"due_date": "not-a-date", "item_id": "i"}),
        encode_cursor({"x": 1}),
        encode_cursor({"offset": -1}),
    ],
)
async def test_tampered_cursors_are_400(service: Service, cursor: str) -> None:
    await given_plan(service)
    admin = service.token(Role.ADMIN)
    for path in (f"/v1/improvement-plans/{FACTORY}/items", "/v1/improvement-plans"):
        response = await service.client.get(path, params={"cursor": cursor}, headers=admin)
        assert response.status_code == 400, (path, response.text)
    await given_committee(service)
    response = await service.client.get(
        f"{COMMITTEE}/meetings", params={"cursor": cursor}, headers=admin
    )
    assert response.status_code == 400, response.text
