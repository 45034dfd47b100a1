"""The import of a programme's history on real PostgreSQL and NATS: plan items' details and status
histories and committees through `POST /v1/imports/<kind>`, each fact at its business time,
attributed to its record and run through the aggregates' own rules; importing again changes
nothing; a bad record (an unknown factory or non-compliance, a refused transition, an end before
its start) rejects the request and writes nothing; only admins of the factory's programme import;
the rebuild gives the same read models."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from libs.servicekit.auth import Role
from libs.servicekit.service import RebuildContext
from services.remediation.rebuild import rebuild
from services.remediation.scheduler import DeadlineScheduler
from services.remediation.service import SERVICE
from services.remediation.tests.integration.conftest import Service, public_events
from services.remediation.tests.integration.history_givens import (
    BUNDLE,
    CHECKSUM,
    event_count,
    factory_of,
    import_records,
    imported_assessment,
    items_of,
    ledger,
    noon,
    publish,
    stored,
)
from services.remediation.tests.integration.test_rebuild import rows

pytestmark = pytest.mark.integration

FACTORY = "KH-F-001"
FIRST, SECOND = date(2019, 3, 1), date(2020, 3, 1)


async def given_imported_plan(service: Service) -> str:
    """Two imported cycles of one factory: q1 (critical), q2, q3 in 2019, q1 and q2 found again
    in 2020 (persistent, as far as the consumer could tell)."""
    await publish(
        service,
        [
            *imported_assessment(
                FACTORY,
                "KH-A-2019",
                1,
                FIRST,
                [("q1", True, False), ("q2", False, False), ("q3", False, False)],
            ),
            *imported_assessment(
                FACTORY, "KH-A-2020", 2, SECOND, [("q1", True, False), ("q2", False, False)]
            ),
        ],
    )
    factory_id = factory_of(FACTORY)
    items = await items_of(service, factory_id, 5)
    assert [(i["cycle"], i["question_id"]) for i in items if i["persistent"]] == [
        (2, "q1"),
        (2, "q2"),
    ]
    return factory_id


def change(status: str, on: str, by: str, reason: str | None = None) -> dict[str, Any]:
    return {"status": status, "on": on, "by": by, **({"reason": reason} if reason else {})}


PLAN_ITEMS = [
    {
        "source_id": "PI-1",
        "assessment": "KH-A-2019",
        "question_id": "q1",
        "root_cause": "no fire warden",
        "planned_action": "train wardens",
        "responsible_person": "HR manager",
        "due_date": "2019-03-20",
        "status_history": [
            change("in_progress", "2019-03-10", "factory"),
            change("done", "2019-04-15", "factory"),
            change("verified", "2019-05-02", "assessor"),
        ],
    },
    {
        "source_id": "PI-2",
        "assessment": "KH-A-2019",
        "question_id": "q2",
        "status_history": [
            change("open", "2019-03-01", "assessor"),
            change("in_progress", "2019-06-01", "factory"),
        ],
    },
]

COMMITTEE = {
    "source_id": "C-1",
    "factory": FACTORY,
    "established_on": "2018-05-01",
    "members": [
        {"name": "Sok Dara", "side": "management", "position": "HR manager"},
        {"name": "Chan Sophea", "side": "worker", "position": "union representative"},
    ],
    "meetings": [
        {"held_on": "2019-03-20", "decisions": ["endorse the plan"], "endorses_plan": True},
        {"held_on": "2019-06-20"},
    ],
}


async def test_plan_items_are_imported_at_their_business_time(service: Service) -> None:
    factory_id = await given_imported_plan(service)

    response = await import_records(service, "plan-items", PLAN_ITEMS)

    assert response.status_code == 200, response.text
    report = response.json()
    # PI-1: details, overdue (before it was done), three changes, cycle 2's q1 not persistent
    # after all; PI-2: overdue (before it was taken up), a change (its "open" is its opening)
    assert (report["imported"], report["unchanged"], report["events"]) == (2, 0, 8)
    items = {(i["cycle"], i["question_id"]): i for i in await items_of(service, factory_id, 5)}
    verified = items[(1, "q1")]
    assert (verified["status"], verified["verified_at"], verified["verified_by"]) == (
        "verified",
        "2019-05-02T12:00:00Z",
        "history:assessor",
    )
    assert (verified["root_cause"], verified["due_date"]) == ("no fire warden", "2019-03-20")
    assert (items[(1, "q2")]["status"], items[(1, "q2")]["overdue"]) == ("in_progress", True)
    assert (items[(2, "q1")]["persistent"], items[(2, "q2")]["persistent"]) == (False, True)
    # each fact at its day, attributed to its record, the bundle and the importer
    changes = await stored(service, "ImprovementItemStatusChanged")
    assert [(c["data"]["to_status"], c["occurred_at"]) for c in changes] == [
        ("in_progress", noon(date(2019, 3, 10))),
        ("done", noon(date(2019, 4, 15))),
        ("in_progress", noon(date(2019, 6, 1))),
    ]
    assert changes[0]["imported"] == {
        "bundle": BUNDLE,
        "checksum": CHECKSUM,
        "kind": "plan-items",
        "source_id": "PI-1",
        "imported_by": "importer",
    }
    overdue = await stored(service, "ImprovementItemOverdue")
    assert [(o["data"]["due_date"], o["occurred_at"]) for o in overdue] == [
        ("2019-03-31", noon(date(2019, 4, 1))),
        ("2019-05-30", noon(date(2019, 5, 31))),
    ]
    revised = await stored(service, "ImprovementItemPersistenceRevised")
    assert [(r["data"]["persistent"], r["occurred_at"]) for r in revised] == [(False, noon(SECOND))]
    record = (
        await service.client.get(
            f"/v1/improvement-plans/{factory_id}/record", headers=service.token(Role.ADMIN)
        )
    ).json()
    assert record["items_verified"] == 1
    assert record["average_days_to_verification"] == 62.5  # 2019-03-01 to 2019-05-02 noon
    published = [e for e in await public_events(service) if e["time"].startswith("2019-0")]
    assert published and {e.get("importedfrom") for e in published} == {BUNDLE}

    # the same records again: nothing changes
    before = await event_count(service)
    again = await import_records(service, "plan-items", PLAN_ITEMS)
    assert again.status_code == 200
    assert (again.json()["imported"], again.json()["unchanged"], again.json()["events"]) == (
        0,
        2,
        0,
    )
    assert await event_count(service) == before
    assert await ledger(service) == [("plan-items", "PI-1"), ("plan-items", "PI-2")]


async def test_a_committee_is_imported_and_its_endorsement_counts_as_a_live_one(
    service: Service,
) -> None:
    factory_id = await given_imported_plan(service)

    response = await import_records(service, "committees", [COMMITTEE])

    assert response.status_code == 200, response.text
    assert (response.json()["imported"], response.json()["events"]) == (1, 3)
    committee = (
        await service.client.get(f"/v1/committees/{factory_id}", headers=service.token(Role.ADMIN))
    ).json()
    assert [(m["name"], m["side"]) for m in committee["members"]] == [
        ("Sok Dara", "management"),
        ("Chan Sophea", "worker"),
    ]
    assert [(m["held_on"], m["endorses_plan"]) for m in committee["meetings"]] == [
        ("2019-03-20", True),
        ("2019-06-20", False),
    ]
    members = await stored(service, "CommitteeMembersChanged")
    meetings = await stored(service, "CommitteeMeetingHeld")
    assert [fact["occurred_at"] for fact in [*members, *meetings]] == [
        noon(date(2018, 5, 1)),
        noon(date(2019, 3, 20)),
        noon(date(2019, 6, 20)),
    ]
    assert {fact["imported"]["kind"] for fact in [*members, *meetings]} == {"committees"}
    # the factory publishes its plan today on the imported endorsement (late: due in 2019)
    published = await service.client.post(
        f"/v1/improvement-plans/{factory_id}/publications",
        headers=service.token(Role.FACTORY, factory_id),
    )
    assert published.status_code == 201, published.text
    assert published.json()["publication_late"] is True
    [publication] = await stored(service, "ImprovementPlanPublished")
    assert (publication["occurred_at"], publication["imported"]) == (None, None)
    again = await import_records(service, "committees", [COMMITTEE])
    assert (again.status_code, again.json()["unchanged"]) == (200, 1)


async def test_bad_committees_reject_the_request_and_write_nothing(service: Service) -> None:
    factory_id = await given_imported_plan(service)
    before = await event_count(service)
    unbalanced = [*COMMITTEE["members"], {"name": "Lim", "side": "management"}]

    response = await import_records(
        service,
        "committees",
        [
            {**COMMITTEE, "source_id": "C-2", "factory": "KH-F-404"},
            {**COMMITTEE, "source_id": "C-3", "established_on": "2019-04-01"},  # after a meeting
            {**COMMITTEE, "source_id": "C-4", "members": unbalanced},
            {**COMMITTEE, "source_id": "C-5", "meetings": [{"held_on": "2099-01-01"}]},
            COMMITTEE,
            {**COMMITTEE, "source_id": "C-6"},  # a second committee of the factory
        ],
    )

    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("import-rejected")
    errors = {(e["line"], e["field"]): e["reason"] for e in problem["errors"]}
    assert set(errors) == {
        (1, "factory"),
        (2, "record"),
        (3, "members"),
        (4, "meetings.0"),
        (6, "factory"),
    }
    assert errors[(1, "factory")].startswith("unknown factory")
    assert "before the committee was established" in errors[(2, "record")]
    assert "equal" in errors[(3, "members")]
    assert "taken place" in errors[(4, "meetings.0")]
    assert "already has a committee" in errors[(6, "factory")]
    assert await event_count(service) == before
    assert await ledger(service) == []
    missing = await service.client.get(
        f"/v1/committees/{factory_id}", headers=service.token(Role.ADMIN)
    )
    assert missing.status_code == 404


async def test_bad_plan_items_reject_the_request_and_write_nothing(service: Service) -> None:
    factory_id = await given_imported_plan(service)
    before = await event_count(service)

    response = await import_records(
        service,
        "plan-items",
        [
            PLAN_ITEMS[0],
            {"source_id": "PI-3", "assessment": "KH-A-2019", "question_id": "q9"},
            {"source_id": "PI-4", "assessment": "KH-A-404", "question_id": "q1"},
            {  # open → done skips in progress: the plan's rules refuse it
                "source_id": "PI-5",
                "assessment": "KH-A-2019",
                "question_id": "q3",
                "status_history": [change("done", "2019-04-01", "factory")],
            },
            {  # taken up before the report that found it
                "source_id": "PI-6",
                "assessment": "KH-A-2020",
                "question_id": "q1",
                "status_history": [change("in_progress", "2020-02-01", "factory")],
            },
            {  # later than the programme's deadline for it
                "source_id": "PI-7",
                "assessment": "KH-A-2019",
                "question_id": "q2",
                "due_date": "2019-12-31",
            },
            {
                "source_id": "PI-8",
                "assessment": "KH-A-2020",
                "question_id": "q2",
                "root_cause": "a\u0000b",
            },
            {**PLAN_ITEMS[0], "source_id": "PI-9"},  # PI-1's item again
        ],
    )

    assert response.status_code == 422
    errors = {(e["line"], e["field"]): e["reason"] for e in response.json()["errors"]}
    assert set(errors) == {
        (2, "question_id"),
        (3, "assessment"),
        (4, "status_history.0"),
        (5, "status_history.0.on"),
        (6, "due_date"),
        (7, "root_cause"),
        (8, "question_id"),
    }
    assert "not yet received from the assessment service" in errors[(2, "question_id")]
    assert errors[(2, "question_id")] == errors[(3, "assessment")]
    assert "cannot move an item from open to done" in errors[(4, "status_history.0")]
    assert "before the item opened" in errors[(5, "status_history.0.on")]
    assert "between 2019-03-01 and 2019-05-30" in errors[(6, "due_date")]
    assert "the same non-compliance as line 1" in errors[(8, "question_id")]
    assert await event_count(service) == before
    assert await ledger(service) == []
    items = await items_of(service, factory_id, 5)
    assert {item["status"] for item in items} == {"open"}


async def test_only_admins_of_the_factory_s_programme_import(service: Service) -> None:
    await given_imported_plan(service)
    before = await event_count(service)
    for role, factory_id in ((Role.ASSESSOR, None), (Role.FACTORY, factory_of(FACTORY))):
        headers = service.token(role, factory_id, countries=["KH"] if factory_id is None else None)
        for kind, records in (("plan-items", PLAN_ITEMS), ("committees", [COMMITTEE])):
            response = await import_records(service, kind, records, headers)
            assert response.status_code == 403, (role, kind)
    # another programme's admin learns nothing of this one's factories
    elsewhere = service.token(Role.ADMIN, subject="vn-admin", countries=["VN"])
    items = await import_records(service, "plan-items", PLAN_ITEMS, elsewhere)
    committees = await import_records(service, "committees", [COMMITTEE], elsewhere)
    assert (items.status_code, committees.status_code) == (422, 422)
    assert {e["field"] for e in items.json()["errors"]} == {"assessment"}
    assert {e["field"] for e in committees.json()["errors"]} == {"factory"}
    assert await event_count(service) == before and await ledger(service) == []
    # the headquarters imports every programme's
    everywhere = service.token(Role.ADMIN, subject="hq", countries="*")
    assert (await import_records(service, "committees", [COMMITTEE], everywhere)).status_code == 200


async def test_the_rebuild_gives_the_imported_read_models_again(service: Service) -> None:
    await given_imported_plan(service)
    for kind, records in (("plan-items", PLAN_ITEMS), ("committees", [COMMITTEE])):
        assert (await import_records(service, kind, records)).status_code == 200
    service.clock.now = service.clock.now.replace(year=2025)
    await DeadlineScheduler(service.deps, interval_seconds=60).run_once()
    engine = service.deps.store.engine
    live = await rows(engine)
    assert {row["imported_from"] for row in live["item"]} == {BUNDLE}

    await rebuild(RebuildContext(service.settings, engine, SERVICE.events(), lambda *_: None))

    assert await rows(engine) == live
