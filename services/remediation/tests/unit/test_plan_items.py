"""Given / when / then: the plan's items are added from findings (due dates by severity,
persistence across cycles) and filled in by the factory within their window (pure, no I/O)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.remediation.domain import plan as plans
from services.remediation.domain.plan_events import (
    AssessmentReportReceived,
    ImprovementItemAdded,
    ImprovementItemDetailsChanged,
    ImprovementItemMarkedPersistent,
    ItemStatus,
)
from services.remediation.domain.plan_state import PLAN
from services.remediation.errors import (
    DueDateOutsideWindow,
    ItemNotEditable,
    ItemNotFound,
)
from services.remediation.ids import item_id_for
from services.remediation.tests.unit.domain_givens import (
    FACTORY,
    POLICY,
    REPORT,
    done,
    fill_in,
    finding,
    move,
    plan_given,
    then,
)


class TestAddingItems:
    def test_a_non_compliance_adds_an_open_item_after_recording_the_report(self) -> None:
        events = plans.add_item(PLAN.initial, **finding("q1"))
        report, added = events
        assert isinstance(report, AssessmentReportReceived) and report.assessment_id == "a1"
        assert isinstance(added, ImprovementItemAdded)
        assert added.item_id == item_id_for("a1", "q1")
        assert added.persistent is False
        plan = then(PLAN.initial, events)
        assert plan.items[added.item_id].status == ItemStatus.OPEN
        assert plan.version == 2 and plan.factory_id == FACTORY
        assert plan.progress().by_status == {"open": 1, "in_progress": 0, "done": 0, "verified": 0}

    def test_the_same_finding_twice_adds_nothing(self) -> None:
        assert plans.add_item(plan_given(finding("q1")), **finding("q1")) == []

    @pytest.mark.parametrize(
        ("critical", "zero_tolerance", "days"),
        [(False, False, 90), (True, False, 30), (True, True, 7)],
    )
    def test_due_date_follows_severity(
        self, critical: bool, zero_tolerance: bool, days: int
    ) -> None:
        plan = plan_given(finding("q1", critical=critical, zero_tolerance=zero_tolerance))
        assert plan.items[item_id_for("a1", "q1")].due_date == REPORT + timedelta(days=days)

    def test_an_unverified_finding_found_again_next_cycle_is_persistent(self) -> None:
        plan = plan_given(
            finding("q1"),
            finding("q2"),
            finding("q1", assessment_id="a2", cycle=2),
            finding("q3", assessment_id="a2", cycle=2),
        )
        assert plan.items[item_id_for("a2", "q1")].persistent is True
        assert plan.items[item_id_for("a2", "q3")].persistent is False

    def test_a_verified_finding_found_again_is_not_persistent(self) -> None:
        item_id = item_id_for("a1", "q1")
        plan = move(done(plan_given(finding("q1")), item_id), item_id, ItemStatus.VERIFIED)
        plan = then(plan, plans.add_item(plan, **finding("q1", assessment_id="a2", cycle=2)))
        assert plan.items[item_id_for("a2", "q1")].persistent is False

    def test_a_late_previous_cycle_finding_marks_the_newer_item_persistent(self) -> None:
        plan = plan_given(finding("q1", assessment_id="a2", cycle=2))
        events = plans.add_item(plan, **finding("q1", assessment_id="a1", cycle=1))
        marked = [e for e in events if isinstance(e, ImprovementItemMarkedPersistent)]
        assert [event.item_id for event in marked] == [item_id_for("a2", "q1")]
        assert then(plan, events).items[item_id_for("a2", "q1")].persistent is True

    def test_an_assessment_report_is_recorded_once(self) -> None:
        report: dict[str, Any] = {
            "factory_id": FACTORY,
            "assessment_id": "a1",
            "cycle": 1,
            "report_date": REPORT,
            "non_compliance_count": 2,
        }
        plan = then(PLAN.initial, plans.record_assessment_report(PLAN.initial, **report))
        assert plans.record_assessment_report(plan, **report) == []
        assert plan.publication_due_date(POLICY) == REPORT + timedelta(days=30)


class TestEditingItems:
    def test_the_factory_fills_in_root_cause_action_person_and_an_earlier_due_date(self) -> None:
        plan = plan_given(finding("q1"))
        item_id = item_id_for("a1", "q1")
        events = plans.change_details(
            plan,
            item_id,
            root_cause="cause",
            planned_action="action",
            responsible_person="person",
            due_date=REPORT + timedelta(days=10),
            changed_by="f",
        )
        [event] = events
        assert isinstance(event, ImprovementItemDetailsChanged)
        item = then(plan, events).items[item_id]
        assert (item.root_cause, item.planned_action, item.responsible_person) == (
            "cause",
            "action",
            "person",
        )
        assert item.due_date == REPORT + timedelta(days=10)

    def test_partial_edits_keep_the_other_fields(self) -> None:
        item_id = item_id_for("a1", "q1")
        plan = fill_in(plan_given(finding("q1")), item_id)
        plan = then(
            plan,
            plans.change_details(
                plan,
                item_id,
                root_cause=None,
                planned_action="new action",
                responsible_person=None,
                due_date=None,
                changed_by="f",
            ),
        )
        assert plan.items[item_id].root_cause == "no fire warden"
        assert plan.items[item_id].planned_action == "new action"

    @pytest.mark.parametrize("offset", [-1, 91])
    def test_a_due_date_outside_the_window_is_refused(self, offset: int) -> None:
        plan = plan_given(finding("q1"))
        with pytest.raises(DueDateOutsideWindow):
            plans.change_details(
                plan,
                item_id_for("a1", "q1"),
                root_cause=None,
                planned_action=None,
                responsible_person=None,
                due_date=REPORT + timedelta(days=offset),
                changed_by="f",
            )

    def test_a_done_item_cannot_be_edited(self) -> None:
        item_id = item_id_for("a1", "q1")
        plan = done(plan_given(finding("q1")), item_id)
        with pytest.raises(ItemNotEditable):
            fill_in(plan, item_id)

    def test_an_unknown_item_is_not_found(self) -> None:
        with pytest.raises(ItemNotFound):
            plans.change_details(
                plan_given(finding("q1")),
                "nope",
                root_cause="x",
                planned_action=None,
                responsible_person=None,
                due_date=None,
                changed_by="f",
            )
