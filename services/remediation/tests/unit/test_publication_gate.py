"""Given / when / then: the publication gate (issue 22, finding 2), pure. An item's content stays a
draft until a publication carries it; the publication's one public event carries the published
plan and always fits one message; the factory's own due date binds from its publication; the
plan knows its factory's country from the reports (finding 7)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from libs.domain.envelope import DomainEvent
from services.remediation.contract import translate
from services.remediation.domain import deadlines
from services.remediation.domain import plan as plans
from services.remediation.domain.plan_events import ItemStatus
from services.remediation.domain.plan_state import Plan
from services.remediation.domain.publication import (
    PUBLICATION_BUDGET_BYTES,
    carried_items,
    publication_size,
)
from services.remediation.errors import PublicationTooLarge
from services.remediation.ids import item_id_for
from services.remediation.tests.unit.domain_givens import (
    FACTORY,
    NOW,
    POLICY,
    REPORT,
    done,
    fill_in,
    finding,
    meeting,
    move,
    plan_given,
    then,
)

FIRST = item_id_for("a1", "q1")
SECOND = item_id_for("a1", "q2")


def public(events: list[DomainEvent], plan: Plan) -> tuple[Plan, list[dict[str, Any]]]:
    """The plan after the events and the public events' data they publish, in order."""
    found: list[dict[str, Any]] = []
    for event in events:
        plan = then(plan, [event])
        found += [
            {"event": published.event_name, **published.model_dump(mode="json")}
            for published in translate(event, plan)
        ]
    return plan, found


def published_plan(plan: Plan, meeting_id: str = "mt1") -> tuple[Plan, dict[str, Any]]:
    plan, [publication] = public(
        plans.publish(plan, meeting(meeting_id), now=NOW, policy=POLICY), plan
    )
    return plan, publication


class TestDrafts:
    def test_a_draft_s_details_publish_nothing(self) -> None:
        plan = plan_given(finding("q1", critical=True))
        events = plans.change_details(
            plan,
            FIRST,
            root_cause="DRAFT",
            planned_action="DRAFT",
            responsible_person="DRAFT",
            due_date=REPORT + timedelta(days=5),
            changed_by="f",
        )
        assert public(events, plan)[1] == []

    def test_a_draft_s_status_publishes_progress_without_content(self) -> None:
        plan = fill_in(plan_given(finding("q1", critical=True)), FIRST)
        _, [summary] = public(
            plans.change_status(
                plan, FIRST, ItemStatus.IN_PROGRESS, actor="factory", by="f", now=NOW
            ),
            plan,
        )
        item = summary["item"]
        assert (item["root_cause"], item["planned_action"], item["owner_assigned"]) == (
            None,
            None,
            None,
        )
        assert item["published"] is False and item["due_date"] == "2024-03-31"
        assert summary["progress"]["in_progress"] == 1


class TestPublication:
    def test_the_publication_carries_every_item_s_content(self) -> None:
        plan = fill_in(plan_given(finding("q1"), finding("q2")), FIRST)
        plan, publication = published_plan(plan)
        items = {item["item_id"]: item for item in publication["items"]}
        assert items[FIRST]["root_cause"] == "no fire warden" and items[FIRST]["owner_assigned"]
        assert items[SECOND]["root_cause"] is None and items[SECOND]["owner_assigned"] is False
        assert all(item["published"] for item in items.values())
        assert plan.items[FIRST].published_in == publication["plan_version"]

    def test_after_it_an_item_s_changes_follow_with_their_content(self) -> None:
        plan, _ = published_plan(plan_given(finding("q1")))
        _, [summary] = public(
            plans.change_details(
                plan,
                FIRST,
                root_cause="cause",
                planned_action=None,
                responsible_person=None,
                due_date=None,
                changed_by="f",
            ),
            plan,
        )
        assert summary["change"] == "item_updated" and summary["item"]["root_cause"] == "cause"

    def test_a_verified_item_an_earlier_publication_carried_is_left_out(self) -> None:
        plan, _ = published_plan(plan_given(finding("q1"), finding("q2")))
        plan = move(done(plan, FIRST), FIRST, ItemStatus.VERIFIED)
        plan, again = published_plan(plan, "mt2")
        assert [item["item_id"] for item in again["items"]] == [SECOND]

    def test_a_verified_item_never_published_is_carried_once(self) -> None:
        plan = move(
            done(plan_given(finding("q1"), finding("q2")), FIRST), FIRST, ItemStatus.VERIFIED
        )
        plan, publication = published_plan(plan)
        assert {item["item_id"] for item in publication["items"]} == {FIRST, SECOND}


class TestPublicationSize:
    @staticmethod
    def long_plan(items: int, text: str) -> Plan:
        plan = plan_given(*(finding(f"q{n}", question_text=text) for n in range(items)))
        for item_id in list(plan.items):
            plan = then(
                plan,
                plans.change_details(
                    plan,
                    item_id,
                    root_cause=text,
                    planned_action=text,
                    responsible_person="p",
                    due_date=None,
                    changed_by="f",
                ),
            )
        return plan

    def test_the_estimate_bounds_the_public_event(self) -> None:
        # quotes, backslashes, line breaks and four-byte characters: the most JSON makes of text
        plan = self.long_plan(5, '"\\\n\t😀é' * 600)
        [decided] = plans.publish(plan, meeting(), now=NOW, policy=POLICY)
        [event] = translate(decided, then(plan, [decided]))
        estimate = publication_size(carried_items(plan, plan.version + 1))
        # the rest of the event (ids, time, progress) is well under a kilobyte
        assert len(event.model_dump_json().encode()) <= estimate + 1024

    def test_a_plan_too_large_for_one_message_is_refused(self) -> None:
        plan = self.long_plan(30, "x" * 4000 + "😀" * 2000)
        assert publication_size(carried_items(plan, plan.version + 1)) > PUBLICATION_BUDGET_BYTES
        with pytest.raises(PublicationTooLarge):
            plans.publish(plan, meeting(), now=NOW, policy=POLICY)


class TestBindingDueDate:
    def test_a_draft_due_date_does_not_make_an_item_overdue(self) -> None:
        plan = plan_given(finding("q1", critical=True))  # the programme's deadline: 2024-03-31
        plan = then(
            plan,
            plans.change_details(
                plan,
                FIRST,
                root_cause=None,
                planned_action=None,
                responsible_person=None,
                due_date=date(2024, 3, 10),
                changed_by="f",
            ),
        )
        assert deadlines.flag_overdue(plan, today=date(2024, 3, 20), now=NOW) == []
        plan, _ = published_plan(plan)
        [overdue] = deadlines.flag_overdue(plan, today=date(2024, 3, 20), now=NOW)
        assert overdue.due_date == date(2024, 3, 10)  # type: ignore[attr-defined]


class TestCountry:
    def test_the_completion_after_its_findings_brings_the_country(self) -> None:
        plan = plan_given(finding("q1"))
        assert plan.country is None
        arguments: dict[str, Any] = {
            "factory_id": FACTORY,
            "assessment_id": "a1",
            "cycle": 1,
            "report_date": REPORT,
            "non_compliance_count": 1,
        }
        events = plans.record_assessment_report(plan, **arguments, country="BD")
        plan = then(plan, events)
        assert plan.country == "BD"
        assert plans.record_assessment_report(plan, **arguments, country="BD") == []
        assert plans.record_assessment_report(plan, **arguments, country=None) == []

    def test_the_latest_report_names_the_country(self) -> None:
        later: dict[str, Any] = {"factory_id": FACTORY, "cycle": 2, "non_compliance_count": 0}
        plan = then(
            Plan(),
            plans.record_assessment_report(
                Plan(), **later, assessment_id="a2", report_date=date(2025, 3, 1), country="KH"
            ),
        )
        plan = then(
            plan,
            plans.record_assessment_report(
                plan,
                factory_id=FACTORY,
                assessment_id="a1",
                cycle=1,
                report_date=REPORT,
                non_compliance_count=0,
                country="TH",
            ),
        )
        assert plan.country == "KH"
