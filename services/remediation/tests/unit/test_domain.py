"""Given / when / then tests of the improvement plan and committee rules (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from libs.events import DomainEvent
from services.remediation.domain import (
    AssessmentReportReceived,
    Committee,
    CommitteeMeeting,
    CommitteeMeetingHeld,
    CommitteeMember,
    CommitteeMembersChanged,
    CommitteeUnbalanced,
    CommitteeUpdated,
    DueDateOutsideWindow,
    DueDatePolicy,
    EndorsementRequired,
    ImprovementItemAdded,
    ImprovementItemDetailsChanged,
    ImprovementItemMarkedPersistent,
    ImprovementItemOverdue,
    ImprovementItemReopened,
    ImprovementItemStatusChanged,
    ImprovementPlan,
    ImprovementPlanPublicationOverdue,
    ImprovementPlanPublished,
    ImprovementPlanUpdated,
    ItemIncomplete,
    ItemNotEditable,
    ItemNotFound,
    ItemStatus,
    MeetingInFuture,
    NothingToPublish,
    ReasonRequired,
    RemediationVerified,
    Side,
    TransitionNotAllowed,
    UnknownAttendee,
    item_id_for,
)

POLICY = DueDatePolicy(zero_tolerance_days=7, critical_days=30, other_days=90, publication_days=30)
REPORT = date(2024, 3, 1)
NOW = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
FACTORY = "factory-1"


def finding(
    question_id: str = "q1", *, assessment_id: str = "a1", cycle: int = 1, **overrides: Any
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "assessment_id": assessment_id,
        "cycle": cycle,
        "report_date": REPORT if cycle == 1 else REPORT + timedelta(days=365 * (cycle - 1)),
        "cluster_id": "osh",
        "cluster_name": "Occupational Safety and Health",
        "compliance_point_id": "osh-emergency",
        "compliance_point_name": "Emergency preparedness",
        "question_id": question_id,
        "question_text": "Are exits unlocked?",
        "critical": False,
        "zero_tolerance": False,
        "evidence": "exit locked",
        "policy": POLICY,
    }
    values.update(overrides)
    return values


def history_of(*commands: dict[str, Any]) -> list[DomainEvent]:
    """The events the given findings leave in the plan's stream."""
    plan = ImprovementPlan(FACTORY)
    for command in commands:
        plan.add_item(**command)
    return plan.pending


def plan_given(*commands: dict[str, Any]) -> ImprovementPlan:
    """A plan folded from the events of the given findings, as the store would load it."""
    return ImprovementPlan.fold(FACTORY, history_of(*commands))


def facts(plan: ImprovementPlan) -> list[DomainEvent]:
    return [event for event in plan.pending if not isinstance(event, ImprovementPlanUpdated)]


def summaries(plan: ImprovementPlan) -> list[ImprovementPlanUpdated]:
    return [event for event in plan.pending if isinstance(event, ImprovementPlanUpdated)]


def fill_in(plan: ImprovementPlan, item_id: str) -> None:
    plan.change_details(
        item_id,
        root_cause="no fire warden",
        planned_action="appoint wardens, unlock exits daily",
        responsible_person="HR manager",
        due_date=None,
        changed_by="factory-user",
    )


class TestAddingItems:
    def test_a_non_compliance_adds_an_open_item_with_a_summary(self) -> None:
        plan = ImprovementPlan(FACTORY)
        plan.add_item(**finding("q1"))
        added = [event for event in facts(plan) if isinstance(event, ImprovementItemAdded)]
        assert len(added) == 1
        assert added[0].item_id == item_id_for("a1", "q1")
        assert added[0].persistent is False
        assert isinstance(facts(plan)[0], AssessmentReportReceived)
        [summary] = summaries(plan)
        assert summary.change == "item_added"
        assert summary.item["status"] == "open"
        assert summary.plan_version == len(plan.pending)
        assert summary.progress == {
            "by_status": {"open": 1, "in_progress": 0, "done": 0, "verified": 0},
            "total": 1,
            "share_verified": 0.0,
            "overdue": 0,
        }

    def test_the_same_finding_twice_adds_nothing(self) -> None:
        plan = plan_given(finding("q1"))
        plan.add_item(**finding("q1"))
        assert plan.pending == []

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
        plan = plan_given(finding("q1"), finding("q2"))
        plan.add_item(**finding("q1", assessment_id="a2", cycle=2))
        plan.add_item(**finding("q3", assessment_id="a2", cycle=2))
        assert plan.items[item_id_for("a2", "q1")].persistent is True
        assert plan.items[item_id_for("a2", "q3")].persistent is False

    def test_a_verified_finding_found_again_is_not_persistent(self) -> None:
        plan = plan_given(finding("q1"))
        item_id = item_id_for("a1", "q1")
        fill_in(plan, item_id)
        plan.change_status(item_id, ItemStatus.IN_PROGRESS, actor="factory", by="f", now=NOW)
        plan.change_status(item_id, ItemStatus.DONE, actor="factory", by="f", now=NOW)
        plan.change_status(item_id, ItemStatus.VERIFIED, actor="assessor", by="a", now=NOW)
        plan.add_item(**finding("q1", assessment_id="a2", cycle=2))
        assert plan.items[item_id_for("a2", "q1")].persistent is False

    def test_a_late_previous_cycle_finding_marks_the_newer_item_persistent(self) -> None:
        plan = plan_given(finding("q1", assessment_id="a2", cycle=2))
        plan.add_item(**finding("q1", assessment_id="a1", cycle=1))
        marked = [e for e in facts(plan) if isinstance(e, ImprovementItemMarkedPersistent)]
        assert [event.item_id for event in marked] == [item_id_for("a2", "q1")]
        assert plan.items[item_id_for("a2", "q1")].persistent is True
        assert [summary.change for summary in summaries(plan)] == ["item_added", "item_updated"]

    def test_an_assessment_report_is_recorded_once(self) -> None:
        plan = ImprovementPlan(FACTORY)
        plan.record_assessment_report("a1", 1, REPORT, 2)
        plan = ImprovementPlan.fold(FACTORY, plan.pending)
        plan.record_assessment_report("a1", 1, REPORT, 2)
        assert plan.pending == []
        assert plan.publication_due_date(POLICY) == REPORT + timedelta(days=30)


class TestEditingItems:
    def test_the_factory_fills_in_root_cause_action_person_and_an_earlier_due_date(self) -> None:
        plan = plan_given(finding("q1"))
        item_id = item_id_for("a1", "q1")
        plan.change_details(
            item_id,
            root_cause="cause",
            planned_action="action",
            responsible_person="person",
            due_date=REPORT + timedelta(days=10),
            changed_by="f",
        )
        [event] = facts(plan)
        assert isinstance(event, ImprovementItemDetailsChanged)
        item = plan.items[item_id]
        assert (item.root_cause, item.planned_action, item.responsible_person) == (
            "cause",
            "action",
            "person",
        )
        assert item.due_date == REPORT + timedelta(days=10)
        assert summaries(plan)[0].change == "item_updated"

    def test_partial_edits_keep_the_other_fields(self) -> None:
        plan = plan_given(finding("q1"))
        item_id = item_id_for("a1", "q1")
        fill_in(plan, item_id)
        plan.change_details(
            item_id,
            root_cause=None,
            planned_action="new action",
            responsible_person=None,
            due_date=None,
            changed_by="f",
        )
        assert plan.items[item_id].root_cause == "no fire warden"
        assert plan.items[item_id].planned_action == "new action"

    @pytest.mark.parametrize("offset", [-1, 91])
    def test_a_due_date_outside_the_window_is_refused(self, offset: int) -> None:
        plan = plan_given(finding("q1"))
        with pytest.raises(DueDateOutsideWindow):
            plan.change_details(
                item_id_for("a1", "q1"),
                root_cause=None,
                planned_action=None,
                responsible_person=None,
                due_date=REPORT + timedelta(days=offset),
                changed_by="f",
            )
        assert plan.pending == []

    def test_a_done_item_cannot_be_edited(self) -> None:
        plan = plan_given(finding("q1"))
        item_id = item_id_for("a1", "q1")
        fill_in(plan, item_id)
        plan.change_status(item_id, ItemStatus.IN_PROGRESS, actor="factory", by="f", now=NOW)
        plan.change_status(item_id, ItemStatus.DONE, actor="factory", by="f", now=NOW)
        with pytest.raises(ItemNotEditable):
            fill_in(plan, item_id)

    def test_an_unknown_item_is_not_found(self) -> None:
        with pytest.raises(ItemNotFound):
            plan_given(finding("q1")).change_details(
                "nope",
                root_cause="x",
                planned_action=None,
                responsible_person=None,
                due_date=None,
                changed_by="f",
            )


class TestStatusTransitions:
    def test_open_in_progress_done_verified(self) -> None:
        plan = plan_given(finding("q1"))
        item_id = item_id_for("a1", "q1")
        fill_in(plan, item_id)
        plan.change_status(item_id, ItemStatus.IN_PROGRESS, actor="factory", by="f", now=NOW)
        plan.change_status(item_id, ItemStatus.DONE, actor="factory", by="f", now=NOW)
        plan.change_status(item_id, ItemStatus.VERIFIED, actor="assessor", by="adv", now=NOW)
        changes = [e for e in facts(plan) if isinstance(e, ImprovementItemStatusChanged)]
        assert [(e.from_status, e.to_status) for e in changes] == [
            (ItemStatus.OPEN, ItemStatus.IN_PROGRESS),
            (ItemStatus.IN_PROGRESS, ItemStatus.DONE),
        ]
        verified = [e for e in facts(plan) if isinstance(e, RemediationVerified)]
        assert verified[0].verified_by == "adv"
        assert plan.items[item_id].status == ItemStatus.VERIFIED
        last = summaries(plan)[-1]
        assert last.change == "verified"
        assert last.progress["share_verified"] == 1.0
        assert last.plan_version == plan.next_version

    def test_a_skipped_step_is_refused_naming_the_allowed_ones(self) -> None:
        plan = plan_given(finding("q1"))
        with pytest.raises(TransitionNotAllowed) as refused:
            plan.change_status(
                item_id_for("a1", "q1"), ItemStatus.DONE, actor="factory", by="f", now=NOW
            )
        assert refused.value.allowed == [ItemStatus.IN_PROGRESS]
        assert "allowed: in_progress" in str(refused.value)

    def test_a_factory_cannot_verify(self) -> None:
        plan = plan_given(finding("q1"))
        item_id = item_id_for("a1", "q1")
        fill_in(plan, item_id)
        plan.change_status(item_id, ItemStatus.IN_PROGRESS, actor="factory", by="f", now=NOW)
        plan.change_status(item_id, ItemStatus.DONE, actor="factory", by="f", now=NOW)
        with pytest.raises(TransitionNotAllowed) as refused:
            plan.change_status(item_id, ItemStatus.VERIFIED, actor="factory", by="f", now=NOW)
        assert refused.value.allowed == []

    def test_an_assessor_cannot_verify_an_item_not_done(self) -> None:
        plan = plan_given(finding("q1"))
        with pytest.raises(TransitionNotAllowed):
            plan.change_status(
                item_id_for("a1", "q1"), ItemStatus.VERIFIED, actor="assessor", by="a", now=NOW
            )

    def test_done_needs_root_cause_action_and_person(self) -> None:
        plan = plan_given(finding("q1"))
        item_id = item_id_for("a1", "q1")
        plan.change_status(item_id, ItemStatus.IN_PROGRESS, actor="factory", by="f", now=NOW)
        with pytest.raises(ItemIncomplete) as refused:
            plan.change_status(item_id, ItemStatus.DONE, actor="factory", by="f", now=NOW)
        assert refused.value.missing == ["root_cause", "planned_action", "responsible_person"]

    @pytest.mark.parametrize("verify_first", [False, True])
    def test_an_assessor_reopens_a_done_or_verified_item_with_a_reason(
        self, verify_first: bool
    ) -> None:
        plan = plan_given(finding("q1"))
        item_id = item_id_for("a1", "q1")
        fill_in(plan, item_id)
        plan.change_status(item_id, ItemStatus.IN_PROGRESS, actor="factory", by="f", now=NOW)
        plan.change_status(item_id, ItemStatus.DONE, actor="factory", by="f", now=NOW)
        if verify_first:
            plan.change_status(item_id, ItemStatus.VERIFIED, actor="assessor", by="a", now=NOW)
        with pytest.raises(ReasonRequired):
            plan.change_status(
                item_id, ItemStatus.OPEN, actor="assessor", by="a", now=NOW, reason=" "
            )
        plan.change_status(
            item_id, ItemStatus.OPEN, actor="assessor", by="a", now=NOW, reason="exit locked again"
        )
        reopened = [e for e in facts(plan) if isinstance(e, ImprovementItemReopened)]
        assert reopened[0].reason == "exit locked again"
        item = plan.items[item_id]
        assert (item.status, item.verified_at, item.reopen_reason) == (
            ItemStatus.OPEN,
            None,
            "exit locked again",
        )
        assert summaries(plan)[-1].change == "reopened"


class TestOverdue:
    def test_items_past_due_and_unverified_are_flagged_once(self) -> None:
        plan = plan_given(finding("q1", critical=True), finding("q2"))
        plan.flag_overdue(REPORT + timedelta(days=31), NOW)
        overdue = [e for e in facts(plan) if isinstance(e, ImprovementItemOverdue)]
        assert [e.item_id for e in overdue] == [item_id_for("a1", "q1")]
        assert summaries(plan)[-1].progress["overdue"] == 1
        plan = ImprovementPlan.fold(
            FACTORY, [*history_of(finding("q1", critical=True), finding("q2")), *plan.pending]
        )
        plan.flag_overdue(REPORT + timedelta(days=32), NOW)
        assert plan.pending == []

    def test_not_overdue_on_the_due_date_itself(self) -> None:
        plan = plan_given(finding("q1", critical=True))
        plan.flag_overdue(REPORT + timedelta(days=30), NOW)
        assert plan.pending == []

    def test_publication_late_is_flagged_once(self) -> None:
        plan = plan_given(finding("q1"))
        plan.flag_publication_overdue(REPORT + timedelta(days=30), NOW, POLICY)
        assert plan.pending == []
        plan.flag_publication_overdue(REPORT + timedelta(days=31), NOW, POLICY)
        assert [type(e) for e in plan.pending] == [ImprovementPlanPublicationOverdue]
        plan.flag_publication_overdue(REPORT + timedelta(days=32), NOW, POLICY)
        assert len(plan.pending) == 1


def committee_given() -> Committee:
    committee = Committee(FACTORY)
    committee.set_members(
        [
            CommitteeMember(member_id="m1", name="Ms Manager", side=Side.MANAGEMENT),
            CommitteeMember(member_id="w1", name="Mr Worker", side=Side.WORKER),
        ],
        "f",
    )
    return Committee.fold(FACTORY, committee.pending)


class TestCommittee:
    def test_equal_sides_are_accepted_with_a_summary(self) -> None:
        committee = Committee(FACTORY)
        members = [
            CommitteeMember(member_id="m1", name="Ms Manager", side=Side.MANAGEMENT),
            CommitteeMember(member_id="w1", name="Mr Worker", side=Side.WORKER),
        ]
        committee.set_members(members, "f")
        changed, summary = committee.pending
        assert isinstance(changed, CommitteeMembersChanged) and changed.members == members
        assert isinstance(summary, CommitteeUpdated) and summary.change == "members_changed"
        committee = Committee.fold(FACTORY, committee.pending)
        assert committee.version == 2
        assert [m.member_id for m in committee.members] == ["m1", "w1"]

    @pytest.mark.parametrize(
        "sides", [[Side.MANAGEMENT, Side.MANAGEMENT, Side.WORKER], [], [Side.WORKER]]
    )
    def test_unequal_or_empty_sides_are_refused(self, sides: list[Side]) -> None:
        members = [
            CommitteeMember(member_id=f"m{i}", name="x", side=s) for i, s in enumerate(sides)
        ]
        with pytest.raises(CommitteeUnbalanced):
            Committee(FACTORY).set_members(members, "f")

    def test_a_meeting_is_logged_with_attendees_and_decisions(self) -> None:
        committee = committee_given()
        committee.log_meeting(
            meeting_id="mt1",
            held_on=REPORT,
            attendees=["m1", "w1", "w1"],
            decisions=["endorse the plan"],
            endorses_plan=True,
            logged_by="f",
            today=REPORT,
        )
        held, summary = committee.pending
        assert isinstance(held, CommitteeMeetingHeld) and isinstance(summary, CommitteeUpdated)
        assert held.meeting.attendees == ["m1", "w1"]
        assert held.meeting.both_sides_present
        assert summary.change == "meeting_held" and summary.committee_version == 4
        assert committee.latest_endorsement is not None

    def test_unknown_attendees_and_future_meetings_are_refused(self) -> None:
        committee = committee_given()
        with pytest.raises(UnknownAttendee):
            committee.log_meeting(
                meeting_id="mt1",
                held_on=REPORT,
                attendees=["m1", "x"],
                decisions=[],
                endorses_plan=False,
                logged_by="f",
                today=REPORT,
            )
        with pytest.raises(MeetingInFuture):
            committee.log_meeting(
                meeting_id="mt1",
                held_on=REPORT + timedelta(days=1),
                attendees=["m1"],
                decisions=[],
                endorses_plan=False,
                logged_by="f",
                today=REPORT,
            )

    def test_a_one_sided_endorsement_does_not_count(self) -> None:
        committee = committee_given()
        committee.log_meeting(
            meeting_id="mt1",
            held_on=REPORT,
            attendees=["m1"],
            decisions=["ok"],
            endorses_plan=True,
            logged_by="f",
            today=REPORT,
        )
        assert committee.latest_endorsement is None


def meeting(
    meeting_id: str = "mt1",
    *,
    sides: tuple[Side, ...] = (Side.MANAGEMENT, Side.WORKER),
    endorses: bool = True,
) -> CommitteeMeeting:
    return CommitteeMeeting(
        meeting_id=meeting_id,
        held_on=REPORT,
        attendees=["m1", "w1"],
        attendee_sides=list(sides),
        decisions=["endorsed"],
        endorses_plan=endorses,
    )


class TestPublication:
    def test_published_on_time_after_a_two_sided_endorsement(self) -> None:
        plan = plan_given(finding("q1"))
        plan.publish(meeting(), NOW, POLICY)
        [published] = plan.pending
        assert isinstance(published, ImprovementPlanPublished)
        assert published.late is False
        assert published.endorsed_at_meeting == "mt1"
        assert published.plan_version == plan.version + 1

    def test_first_publication_after_thirty_days_is_late(self) -> None:
        plan = plan_given(finding("q1"))
        plan.publish(meeting(), datetime(2024, 4, 1, tzinfo=UTC), POLICY)
        assert isinstance(plan.pending[0], ImprovementPlanPublished) and plan.pending[0].late

    @pytest.mark.parametrize(
        "endorsement", [None, meeting(endorses=False), meeting(sides=(Side.WORKER,))]
    )
    def test_publication_needs_a_two_sided_endorsement(
        self, endorsement: CommitteeMeeting | None
    ) -> None:
        with pytest.raises(EndorsementRequired):
            plan_given(finding("q1")).publish(endorsement, NOW, POLICY)

    def test_each_publication_needs_a_new_endorsement(self) -> None:
        plan = plan_given(finding("q1"))
        plan.publish(meeting(), NOW, POLICY)
        with pytest.raises(EndorsementRequired):
            plan.publish(meeting(), NOW, POLICY)
        plan.publish(meeting("mt2"), datetime(2024, 6, 1, tzinfo=UTC), POLICY)
        assert isinstance(plan.pending[-1], ImprovementPlanPublished)
        assert plan.pending[-1].late is False  # only the first publication has a deadline

    def test_an_empty_plan_cannot_be_published(self) -> None:
        with pytest.raises(NothingToPublish):
            ImprovementPlan(FACTORY).publish(meeting(), NOW, POLICY)


def test_folding_the_pending_events_rebuilds_the_same_plan() -> None:
    plan = plan_given(finding("q1"), finding("q2", critical=True))
    item_id = item_id_for("a1", "q1")
    fill_in(plan, item_id)
    plan.change_status(item_id, ItemStatus.IN_PROGRESS, actor="factory", by="f", now=NOW)
    plan.flag_overdue(REPORT + timedelta(days=40), NOW)
    history = history_of(finding("q1"), finding("q2", critical=True))
    rebuilt = ImprovementPlan.fold(FACTORY, [*history, *plan.pending])
    assert rebuilt.items == plan.items
    assert rebuilt.version == plan.next_version


class TestCommitteeLimits:
    def test_a_full_committee_logs_no_more_meetings(self) -> None:
        from services.remediation.domain import (
            MAX_MEETINGS,
            CommitteeMeeting,
            CommitteeMember,
            MeetingLimitReached,
            Side,
        )

        committee = Committee(FACTORY)
        committee.members = [CommitteeMember(member_id="m", name="M", side=Side.MANAGEMENT)]
        meeting = CommitteeMeeting(
            meeting_id="x",
            held_on=date(2024, 1, 1),
            attendees=["m"],
            attendee_sides=[Side.MANAGEMENT],
            decisions=[],
            endorses_plan=False,
        )
        committee.meetings = [meeting] * MAX_MEETINGS
        with pytest.raises(MeetingLimitReached):
            committee.log_meeting(
                meeting_id="y",
                held_on=date(2024, 1, 2),
                attendees=["m"],
                decisions=[],
                endorses_plan=False,
                logged_by="u",
                today=date(2024, 2, 1),
            )
        assert committee.pending == []
