"""The publication gate (issue 22, finding 2) against real PostgreSQL and NATS: before the factory
publishes its plan, nothing of its drafts (root causes, actions, owners, its own due dates) leaves
the service; the publication is one event that carries the published plan; changes of a
published item follow as they happen, and an item added later is a draft until the next one."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from libs.servicekit.auth import Role
from services.remediation.scheduler import DeadlineScheduler
from services.remediation.tests.integration.conftest import (
    Service,
    assessment_events,
    public_events,
)
from services.remediation.tests.integration.test_api import FACTORY, given_plan
from services.remediation.tests.integration.test_bad_input import given_committee
from services.remediation.tests.integration.test_consuming import feed

pytestmark = pytest.mark.integration

PLANS = f"/v1/improvement-plans/{FACTORY}"
DRAFT = {
    "root_cause": "DRAFT-supervisor shouts at workers",
    "planned_action": "DRAFT-train supervisors",
    "responsible_person": "DRAFT-HR manager",
    "due_date": "2024-03-20",  # the critical item's programme deadline is 2024-03-31
}


async def edit(service: Service, item_id: str, **details: Any) -> dict[str, Any]:
    response = await service.client.patch(
        f"{PLANS}/items/{item_id}", json=details, headers=service.token(Role.FACTORY, FACTORY)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def endorse_and_publish(service: Service, held_on: str = "2024-03-04") -> None:
    factory = service.token(Role.FACTORY, FACTORY)
    ids = await given_committee(service)
    meeting = await service.client.post(
        f"/v1/committees/{FACTORY}/meetings",
        json={"held_on": held_on, "attendees": list(ids.values()), "endorses_plan": True},
        headers=factory,
    )
    assert meeting.status_code == 201, meeting.text
    published = await service.client.post(f"{PLANS}/publications", headers=factory)
    assert published.status_code == 201, published.text


def of_type(envelopes: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [envelope["data"] for envelope in envelopes if envelope["type"].split(".")[-2] == name]


async def test_a_draft_reaches_no_buyer_before_publication(service: Service) -> None:
    critical, _ = await given_plan(service)
    await edit(service, critical, **DRAFT)
    moved = await service.client.post(
        f"{PLANS}/items/{critical}/status",
        json={"status": "in_progress"},
        headers=service.token(Role.FACTORY, FACTORY),
    )
    assert moved.status_code == 200, moved.text

    envelopes = await public_events(service)
    assert "DRAFT-" not in json.dumps(envelopes)
    updates = of_type(envelopes, "ImprovementPlanUpdated")
    # progress still reaches buyer sharing: the items, their status and the counts
    assert [update["change"] for update in updates] == [
        "item_added",
        "item_added",
        "status_changed",
    ]
    assert updates[-1]["progress"]["in_progress"] == 1
    assert updates[-1]["progress"]["published"] is False
    for update in updates:
        item = update["item"]
        assert item.get("root_cause") is None and item.get("planned_action") is None
        assert item["published"] is False
        if item["item_id"] == critical:
            assert item["due_date"] == "2024-03-31"  # the programme's deadline, not the draft's
    # the factory itself sees its draft
    own = await service.client.get(
        f"{PLANS}/items/{critical}", headers=service.token(Role.FACTORY, FACTORY)
    )
    assert own.json()["root_cause"] == DRAFT["root_cause"] and own.json()["published"] is False


async def test_the_publication_carries_the_published_plan_and_later_edits_follow(
    service: Service,
) -> None:
    critical, ordinary = await given_plan(service)
    await edit(service, critical, **DRAFT)
    await endorse_and_publish(service)

    envelopes = await public_events(service)
    [publication] = of_type(envelopes, "ImprovementPlanPublished")
    items = {item["item_id"]: item for item in publication["items"]}
    assert set(items) == {critical, ordinary}
    assert items[critical]["root_cause"] == DRAFT["root_cause"]
    assert items[critical]["planned_action"] == DRAFT["planned_action"]
    assert items[critical]["owner_assigned"] is True
    assert items[critical]["due_date"] == "2024-03-20"  # the factory's own, now published
    assert items[critical]["published"] is True
    assert items[ordinary]["root_cause"] is None and items[ordinary]["owner_assigned"] is False
    assert "responsible_person" not in items[critical]  # a person's name stays here
    assert publication["progress"]["published"] is True and publication["progress"]["total"] == 2
    assert "DRAFT-HR manager" not in json.dumps(envelopes)

    await edit(service, critical, planned_action="train supervisors, then survey workers")
    updates = of_type(await public_events(service), "ImprovementPlanUpdated")
    last = updates[-1]
    assert last["change"] == "item_updated" and last["item"]["item_id"] == critical
    assert last["item"]["planned_action"] == "train supervisors, then survey workers"
    assert last["item"]["root_cause"] == DRAFT["root_cause"]
    assert last["item"]["published"] is True and last["progress"]["published"] is True


async def test_an_item_added_after_publication_is_a_draft_until_the_next_one(
    service: Service,
) -> None:
    await given_plan(service)
    await endorse_and_publish(service)
    await feed(
        service, assessment_events(FACTORY, "a-2", 2, date(2024, 3, 2), [("q9", False, False)])
    )
    items = await service.client.get(f"{PLANS}/items", headers=service.token(Role.ADMIN))
    [added] = [item for item in items.json()["items"] if item["question_id"] == "q9"]
    assert added["published"] is False
    await edit(service, added["item_id"], root_cause="NEXT-draft cause")
    assert "NEXT-draft" not in json.dumps(await public_events(service))

    await endorse_and_publish(service, held_on="2024-03-05")  # a later endorsement
    publications = of_type(await public_events(service), "ImprovementPlanPublished")
    assert len(publications) == 2
    [carried] = [item for item in publications[-1]["items"] if item["item_id"] == added["item_id"]]
    assert carried["root_cause"] == "NEXT-draft cause"


async def test_a_draft_due_date_binds_only_once_published(service: Service) -> None:
    """The factory's own earlier due date is a draft too: an item is overdue by the programme's
    deadline until a publication carries the factory's date."""
    critical, _ = await given_plan(service)
    await edit(service, critical, due_date="2024-03-20")
    service.clock.now = datetime(2024, 3, 25, 9, 0, tzinfo=UTC)
    scheduler = DeadlineScheduler(service.deps, interval_seconds=60)
    await scheduler.run_once()
    assert of_type(await public_events(service), "ImprovementItemOverdue") == []
    await endorse_and_publish(service, held_on="2024-03-25")
    await scheduler.run_once()
    [overdue] = of_type(await public_events(service), "ImprovementItemOverdue")
    assert overdue["item_id"] == critical and overdue["due_date"] == "2024-03-20"
