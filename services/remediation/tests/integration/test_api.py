"""The REST API against real PostgreSQL and NATS: tenants and roles, item transitions, verification,
the committee, publication and the record."""

from __future__ import annotations

from libs.servicekit.auth import Role, mint_token
from services.remediation.tests.integration.conftest import (
    REPORT_DATE,
    Service,
    assessment_events,
    published,
)
from services.remediation.tests.integration.test_consuming import feed

FACTORY = "f-1"


async def given_plan(service: Service) -> list[str]:
    """A plan with a critical (30 days) and an ordinary (90 days) item; their ids by question."""
    await feed(
        service,
        assessment_events(
            FACTORY, "a-1", 1, REPORT_DATE, [("q1", True, False), ("q2", False, False)]
        ),
    )
    response = await service.client.get(
        f"/v1/improvement-plans/{FACTORY}/items", headers=service.token(Role.ASSESSOR)
    )
    items = sorted(response.json()["items"], key=lambda item: item["question_id"])
    return [item["item_id"] for item in items]


async def test_tenants_and_roles(service: Service) -> None:
    await given_plan(service)
    own = service.token(Role.FACTORY, FACTORY)
    other = service.token(Role.FACTORY, "f-2")
    buyer = {
        "Authorization": "Bearer "
        + mint_token(service.settings.jwt_secret, "b", Role.BUYER, buyer_id="buyer-1")
    }
    path = f"/v1/improvement-plans/{FACTORY}"
    assert (await service.client.get(path, headers=own)).status_code == 200
    assert (await service.client.get(path, headers=service.token(Role.ADMIN))).status_code == 200
    assert (await service.client.get(path, headers=other)).status_code == 404
    assert (await service.client.get(f"{path}/items", headers=other)).status_code == 404
    assert (await service.client.get(f"/v1/committees/{FACTORY}", headers=other)).status_code == 404
    assert (await service.client.get(path, headers=buyer)).status_code == 403
    assert (await service.client.get("/v1/improvement-plans", headers=buyer)).status_code == 403
    assert (await service.client.get(path)).status_code == 401
    listed = (await service.client.get("/v1/improvement-plans", headers=other)).json()
    assert listed["items"] == []
    listed = (await service.client.get("/v1/improvement-plans", headers=own)).json()
    assert [plan["factory_id"] for plan in listed["items"]] == [FACTORY]


async def test_item_lifecycle_through_the_api(service: Service) -> None:
    critical_item, _ = await given_plan(service)
    factory = service.token(Role.FACTORY, FACTORY, subject="factory-user")
    assessor = service.token(Role.ASSESSOR, subject="advisor")
    item_path = f"/v1/improvement-plans/{FACTORY}/items/{critical_item}"

    refused = await service.client.post(
        f"{item_path}/status", json={"status": "done"}, headers=factory
    )
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["allowed"] == ["in_progress"]

    too_late = await service.client.patch(
        item_path, json={"due_date": "2024-06-01"}, headers=factory
    )
    assert too_late.status_code == 422
    assert (
        await service.client.patch(item_path, json={"root_cause": "x"}, headers=assessor)
    ).status_code == 403

    filled = await service.client.patch(
        item_path,
        json={
            "root_cause": "exit key kept by one guard",
            "planned_action": "unlock exits at shift start",
            "responsible_person": "HR manager",
            "due_date": "2024-03-20",
        },
        headers=factory,
    )
    assert filled.status_code == 200, filled.text
    version = filled.headers["ETag"]
    stale = await service.client.post(
        f"{item_path}/status",
        json={"status": "in_progress"},
        headers={**factory, "If-Match": '"1"'},
    )
    assert stale.status_code == 412
    # the same problem type as every service's failed If-Match (it was version-mismatch here)
    assert stale.json()["type"].endswith("/precondition-failed")
    assert stale.json()["current_version"] == int(version.strip('"'))
    moved = await service.client.post(
        f"{item_path}/status",
        json={"status": "in_progress"},
        headers={**factory, "If-Match": version},
    )
    assert moved.status_code == 200 and moved.json()["status"] == "in_progress"
    done = await service.client.post(
        f"{item_path}/status", json={"status": "done"}, headers=factory
    )
    assert done.json()["status"] == "done"
    self_verified = await service.client.post(
        f"{item_path}/status", json={"status": "verified"}, headers=factory
    )
    assert self_verified.status_code == 409 and self_verified.json()["allowed"] == []
    no_reason = await service.client.post(
        f"{item_path}/status", json={"status": "open"}, headers=assessor
    )
    assert no_reason.status_code == 422
    verified = await service.client.post(
        f"{item_path}/status", json={"status": "verified"}, headers=assessor
    )
    assert verified.status_code == 200
    assert verified.json()["verified_by"] == "advisor"

    plan = (await service.client.get(f"/v1/improvement-plans/{FACTORY}", headers=factory)).json()
    assert plan["progress"]["by_status"] == {"open": 1, "in_progress": 0, "done": 0, "verified": 1}
    assert plan["progress"]["share_verified"] == 0.5
    verified_items = await service.client.get(
        f"/v1/improvement-plans/{FACTORY}/items",
        params={"status": "verified", "critical": "true"},
        headers=factory,
    )
    assert [item["item_id"] for item in verified_items.json()["items"]] == [critical_item]
    record = (
        await service.client.get(f"/v1/improvement-plans/{FACTORY}/record", headers=factory)
    ).json()
    assert (record["items_opened"], record["items_verified"]) == (2, 1)
    assert record["average_days_to_verification"] is not None

    # every change published its public summary, typed, with the plan's progress (the details
    # of an unpublished plan's item are a draft: they publish nothing)
    summaries = await published(service, "ImprovementPlanUpdated", 5)
    assert [summary["data"]["change"] for summary in summaries] == [
        "item_added",
        "item_added",
        "status_changed",
        "status_changed",
        "verified",
    ]
    last = summaries[-1]["data"]
    assert last["item"]["item_id"] == critical_item and last["item"]["status"] == "verified"
    assert last["progress"]["verified"] == 1 and last["progress"]["share_verified"] == 0.5
    assert "responsible_person" not in last["item"] and "verified_by" not in last["item"]
    [verification] = await published(service, "RemediationVerified", 1)
    assert verification["data"]["item_id"] == critical_item


async def test_committee_endorsement_and_publication(service: Service) -> None:
    await given_plan(service)
    factory = service.token(Role.FACTORY, FACTORY)
    committee_path = f"/v1/committees/{FACTORY}"
    unbalanced = await service.client.put(
        f"{committee_path}/members",
        json={
            "members": [{"name": "A", "side": "management"}, {"name": "B", "side": "management"}]
        },
        headers=factory,
    )
    assert unbalanced.status_code == 422
    members = await service.client.put(
        f"{committee_path}/members",
        json={"members": [{"name": "A", "side": "management"}, {"name": "B", "side": "worker"}]},
        headers=factory,
    )
    assert members.status_code == 200, members.text
    ids = {member["side"]: member["member_id"] for member in members.json()["members"]}

    publish_path = f"/v1/improvement-plans/{FACTORY}/publications"
    assert (await service.client.post(publish_path, headers=factory)).status_code == 409
    one_sided = await service.client.post(
        f"{committee_path}/meetings",
        json={"held_on": "2024-03-04", "attendees": [ids["management"]], "endorses_plan": True},
        headers=factory,
    )
    assert one_sided.status_code == 201
    assert (await service.client.post(publish_path, headers=factory)).status_code == 409
    endorsed = await service.client.post(
        f"{committee_path}/meetings",
        json={
            "held_on": "2024-03-05",
            "attendees": [ids["management"], ids["worker"]],
            "decisions": ["plan endorsed"],
            "endorses_plan": True,
        },
        headers=factory,
    )
    assert endorsed.status_code == 201
    published = await service.client.post(publish_path, headers=factory)
    assert published.status_code == 201, published.text
    assert published.json()["publication_late"] is False
    assert published.json()["first_published_at"] is not None
