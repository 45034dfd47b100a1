"""Staff act within their country programme (issue 22, finding 7), against real PostgreSQL and
NATS: the plan knows its factory's country from the assessment's completion; staff of another
programme get a 404 on every read and write of the factory's plan, items, verification and
committee, as for any other tenant, and change nothing; a global admin passes."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from libs.servicekit.auth import Role
from services.remediation.tests.integration.conftest import Service, assessment_events
from services.remediation.tests.integration.test_consuming import feed

pytestmark = pytest.mark.integration

BANGLADESH = "f-bd"
PLAN = f"/v1/improvement-plans/{BANGLADESH}"
COMMITTEE = f"/v1/committees/{BANGLADESH}"


async def given_a_bangladeshi_plan(service: Service) -> str:
    """A BD factory's plan with one item done by the factory and a committee; the item's id."""
    await feed(
        service,
        assessment_events(
            BANGLADESH, "a-bd", 1, date(2024, 3, 1), [("q1", True, False)], country="BD"
        ),
    )
    factory = service.token(Role.FACTORY, BANGLADESH)
    items = await service.client.get(f"{PLAN}/items", headers=factory)
    [item_id] = [item["item_id"] for item in items.json()["items"]]
    filled = await service.client.patch(
        f"{PLAN}/items/{item_id}",
        json={"root_cause": "c", "planned_action": "a", "responsible_person": "p"},
        headers=factory,
    )
    assert filled.status_code == 200, filled.text
    for status in ("in_progress", "done"):
        moved = await service.client.post(
            f"{PLAN}/items/{item_id}/status", json={"status": status}, headers=factory
        )
        assert moved.status_code == 200, moved.text
    members = await service.client.put(
        f"{COMMITTEE}/members",
        json={"members": [{"name": "A", "side": "management"}, {"name": "B", "side": "worker"}]},
        headers=factory,
    )
    assert members.status_code == 200, members.text
    return str(item_id)


async def state(service: Service) -> dict[str, Any]:
    """The plan's and the committee's versions and the item statuses, as the factory reads them."""
    factory = service.token(Role.FACTORY, BANGLADESH)
    plan = await service.client.get(PLAN, headers=factory)
    committee = await service.client.get(COMMITTEE, headers=factory)
    items = await service.client.get(f"{PLAN}/items", headers=factory)
    return {
        "plan": plan.json()["version"],
        "committee": committee.json()["version"],
        "meetings": len(committee.json()["meetings"]),
        "items": [(item["item_id"], item["status"]) for item in items.json()["items"]],
    }


def reads(item_id: str) -> list[str]:
    return [
        PLAN,
        f"{PLAN}/items",
        f"{PLAN}/items/{item_id}",
        f"{PLAN}/record",
        COMMITTEE,
        f"{COMMITTEE}/meetings",
    ]


def writes(item_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("POST", f"{PLAN}/items/{item_id}/status", {"status": "verified"}),
        ("POST", f"{PLAN}/items/{item_id}/status", {"status": "open", "reason": "not done"}),
        ("PUT", f"{COMMITTEE}/members", {"members": [{"name": "X", "side": "management"}]}),
        ("POST", f"{COMMITTEE}/meetings", {"held_on": "2024-03-04", "attendees": ["m"]}),
        ("POST", f"{PLAN}/publications", None),
    ]


@pytest.mark.parametrize("role", [Role.ASSESSOR, Role.ADMIN])
async def test_staff_of_another_programme_get_404_and_change_nothing(
    service: Service, role: Role
) -> None:
    item_id = await given_a_bangladeshi_plan(service)
    before = await state(service)
    cambodia = service.token(role, subject="kh-staff", countries=["KH"])
    for path in reads(item_id):
        response = await service.client.get(path, headers=cambodia)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    listed = await service.client.get("/v1/improvement-plans", headers=cambodia)
    assert listed.status_code == 200 and listed.json()["items"] == []
    for method, path, body in writes(item_id):
        response = await service.client.request(method, path, json=body, headers=cambodia)
        assert response.status_code == 404, (method, path, response.text)
    assert await state(service) == before


async def test_staff_of_the_programme_and_the_headquarters_pass(service: Service) -> None:
    item_id = await given_a_bangladeshi_plan(service)
    bangladesh = service.token(Role.ASSESSOR, subject="bd-advisor", countries=["KH", "bd"])
    headquarters = service.token(Role.ADMIN, subject="hq", countries="*")
    for headers in (bangladesh, headquarters):
        for path in reads(item_id):
            response = await service.client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.text)
        listed = await service.client.get("/v1/improvement-plans", headers=headers)
        assert [plan["factory_id"] for plan in listed.json()["items"]] == [BANGLADESH]
    verified = await service.client.post(
        f"{PLAN}/items/{item_id}/status", json={"status": "verified"}, headers=bangladesh
    )
    assert verified.status_code == 200, verified.text
    reopened = await service.client.post(
        f"{PLAN}/items/{item_id}/status",
        json={"status": "open", "reason": "exit locked again"},
        headers=headquarters,
    )
    assert reopened.status_code == 200, reopened.text


async def test_trainers_work_in_the_advisory_service_not_here(service: Service) -> None:
    item_id = await given_a_bangladeshi_plan(service)
    before = await state(service)
    for countries in (["BD"], ["KH"]):
        trainer = service.token(Role.TRAINER, subject="trainer", countries=countries)
        for path in [*reads(item_id), "/v1/improvement-plans"]:
            response = await service.client.get(path, headers=trainer)
            assert response.status_code == 403, (path, response.text)
        for method, path, body in writes(item_id):
            response = await service.client.request(method, path, json=body, headers=trainer)
            assert response.status_code == 403, (method, path, response.text)
    assert await state(service) == before


async def test_the_country_is_known_when_the_findings_arrive_before_the_completion(
    service: Service,
) -> None:
    completed, *findings = assessment_events(
        "f-late", "a-late", 1, date(2024, 3, 1), [("q1", False, False)], country="BD"
    )
    await feed(service, findings)
    bangladesh = service.token(Role.ASSESSOR, subject="bd-advisor", countries=["BD"])
    path = "/v1/improvement-plans/f-late"
    # a plan of unknown country: the headquarters' only
    assert (await service.client.get(path, headers=bangladesh)).status_code == 404
    hq = service.token(Role.ADMIN, countries="*")
    assert (await service.client.get(path, headers=hq)).status_code == 200
    await feed(service, [completed])
    assert (await service.client.get(path, headers=bangladesh)).status_code == 200
    await feed(service, [completed])  # redelivered: nothing more
    events = await service.client.get(path, headers=hq)
    assert events.json()["version"] == 3  # report (from the finding), item, report's country
