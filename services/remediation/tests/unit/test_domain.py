"""Given / when / then tests of the improvement plan and committee rules (pure functions, no I/O):
given the events of a stream, when a command is decided, then these events (or this error)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from libs.domain.envelope import DomainEvent
from services.remediation.domain import committee as committees
from services.remediation.domain import plan as plans
from services.remediation.domain.committee import (
    COMMITTEE,
    Committee,
    CommitteeMeeting,
    CommitteeMeetingHeld,
    CommitteeMember,
    CommitteeMembersChanged,
    CommitteeUpdated,
    Side,
)
from services.remediation.domain.plan import PLAN, Plan
from services.remediation.domain.plan_events import (
    AssessmentReportReceived,
    ImprovementItemAdded,
    ImprovementItemDetailsChanged,
    ImprovementItemMarkedPersistent,
    ImprovementItemOverdue,
    ImprovementItemReopened,
    ImprovementItemStatusChanged,
    ImprovementPlanPublicationOverdue,
    ImprovementPlanPublished,
    ImprovementPlanUpdated,
    ItemStatus,
    RemediationVerified,
)
from services.remediation.domain.policy import DueDatePolicy
from services.remediation.errors import (
    MAX_MEETINGS,
    CommitteeUnbalanced,
    DueDateOutsideWindow,
    EndorsementRequired,
    ItemIncomplete,
    ItemNotEditable,
    ItemNotFound,
    MeetingInFuture,
    MeetingLimitReached,
    NothingToPublish,
    ReasonRequired,
    TransitionNotAllowed,
    UnknownAttendee,
)
from services.remediation.ids import item_id_for

POLICY = DueDatePolicy(zero_tolerance_days=7, critical_days=30, other_days=90, publication_days=30)
REPORT = date(2024, 3, 1)
NOW = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
FACTORY = "factory-1"


def finding(
    question_id: str = "q1", *, assessment_id: str = "a1", cycle: int = 1, **overrides: Any
) -> dict[str, Any]:
    """The arguments of `add_item` for one non-compliance."""
    values: dict[str, Any] = {
        "factory_id": FACTORY,
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


def history_of(*findings: dict[str, Any]) -> list[DomainEvent]:
    """The events the given findings leave in the plan's stream."""
    plan, history = PLAN.initial, list[DomainEvent]()
    for arguments in findings:
        events = plans.add_item(plan, **arguments)
        plan, history = PLAN.fold(events, plan), [*history, *events]
    return history


def plan_given(*findings: dict[str, Any]) -> Plan:
    """A plan folded from the events of the given findings, as the repository would load it."""
    return PLAN.fold(history_of(*findings))


def then(plan: Plan, events: list[DomainEvent]) -> Plan:
    """The plan after the decided events."""
    return PLAN.fold(events, plan)


def fill_in(plan: Plan, item_id: str) -> Plan:
    return then(
        plan,
        plans.change_details(
            plan,
            item_id,
            root_cause="no fire warden",
            planned_action="appoint wardens, unlock exits daily",
            responsible_person="HR manager",
            due_date=None,
            changed_by="factory-user",
        ),
    )


def move(plan: Plan, item_id: str, *path: ItemStatus) -> Plan:
    """Move the item along `path`, each step by whoever may make it."""
    for status in path:
        actor: Any = "assessor" if status == ItemStatus.VERIFIED else "factory"
        plan = then(plan, plans.change_status(plan, item_id, status, actor=actor, by="u", now=NOW))
    return plan


def done(plan: Plan, item_id: str) -> Plan:
    return move(fill_in(plan, item_id), item_id, ItemStatus.IN_PROGRESS, ItemStatus.DONE)


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


class TestStatusTransitions:
    def test_open_in_progress_done_verified(self) -> None:
        item_id = item_id_for("a1", "q1")
        plan = fill_in(plan_given(finding("q1")), item_id)
        started = plans.change_status(
            plan, item_id, ItemStatus.IN_PROGRESS, actor="factory", by="f", now=NOW
        )
        plan = then(plan, started)
        finished = plans.change_status(
            plan, item_id, ItemStatus.DONE, actor="factory", by="f", now=NOW
        )
        plan = then(plan, finished)
        verified = plans.change_status(
            plan, item_id, ItemStatus.VERIFIED, actor="assessor", by="adv", now=NOW
        )
        plan = then(plan, verified)
        changes = [e for e in [*started, *finished] if isinstance(e, ImprovementItemStatusChanged)]
        assert [(e.from_status, e.to_status) for e in changes] == [
            (ItemStatus.OPEN, ItemStatus.IN_PROGRESS),
            (ItemStatus.IN_PROGRESS, ItemStatus.DONE),
        ]
        [verification] = verified
        assert isinstance(verification, RemediationVerified)
        assert verification.verified_by == "adv"
        assert plan.items[item_id].status == ItemStatus.VERIFIED
        assert plan.progress().share_verified == 1.0

    def test_a_skipped_step_is_refused_naming_the_allowed_ones(self) -> None:
        plan = plan_given(finding("q1"))
        with pytest.raises(TransitionNotAllowed) as refused:
            plans.change_status(
                plan, item_id_for("a1", "q1"), ItemStatus.DONE, actor="factory", by="f", now=NOW
            )
        assert refused.value.allowed == [ItemStatus.IN_PROGRESS]
        assert "allowed: in_progress" in str(refused.value)
        assert refused.value.extensions == {
            "current_status": "open",
            "requested_status": "done",
            "allowed": ["in_progress"],
        }

    def test_a_factory_cannot_verify(self) -> None:
        item_id = item_id_for("a1", "q1")
        plan = done(plan_given(finding("q1")), item_id)
        with pytest.raises(TransitionNotAllowed) as refused:
            plans.change_status(
                plan, item_id, ItemStatus.VERIFIED, actor="factory", by="f", now=NOW
            )
        assert refused.value.allowed == []

    def test_an_assessor_cannot_verify_an_item_not_done(self) -> None:
        plan = plan_given(finding("q1"))
        with pytest.raises(TransitionNotAllowed):
            plans.change_status(
                plan,
                item_id_for("a1", "q1"),
                ItemStatus.VERIFIED,
                actor="assessor",
                by="a",
                now=NOW,
            )

    def test_done_needs_root_cause_action_and_person(self) -> None:
        item_id = item_id_for("a1", "q1")
        plan = move(plan_given(finding("q1")), item_id, ItemStatus.IN_PROGRESS)
        with pytest.raises(ItemIncomplete) as refused:
            plans.change_status(plan, item_id, ItemStatus.DONE, actor="factory", by="f", now=NOW)
        assert refused.value.missing == ["root_cause", "planned_action", "responsible_person"]

    @pytest.mark.parametrize("verify_first", [False, True])
    def test_an_assessor_reopens_a_done_or_verified_item_with_a_reason(
        self, verify_first: bool
    ) -> None:
        item_id = item_id_for("a1", "q1")
        plan = done(plan_given(finding("q1")), item_id)
        if verify_first:
            plan = move(plan, item_id, ItemStatus.VERIFIED)
        with pytest.raises(ReasonRequired):
            plans.change_status(
                plan, item_id, ItemStatus.OPEN, actor="assessor", by="a", now=NOW, reason=" "
            )
        events = plans.change_status(
            plan,
            item_id,
            ItemStatus.OPEN,
            actor="assessor",
            by="a",
            now=NOW,
            reason="exit locked again",
        )
        [reopened] = events
        assert isinstance(reopened, ImprovementItemReopened)
        assert reopened.reason == "exit locked again"
        item = then(plan, events).items[item_id]
        assert (item.status, item.verified_at, item.reopen_reason) == (
            ItemStatus.OPEN,
            None,
            "exit locked again",
        )


class TestOverdue:
    def test_items_past_due_and_unverified_are_flagged_once(self) -> None:
        plan = plan_given(finding("q1", critical=True), finding("q2"))
        events = plans.flag_overdue(plan, today=REPORT + timedelta(days=31), now=NOW)
        overdue = [e.item_id for e in events if isinstance(e, ImprovementItemOverdue)]
        assert len(events) == 1 and overdue == [item_id_for("a1", "q1")]
        plan = then(plan, events)
        assert plan.progress().overdue == 1
        assert plans.flag_overdue(plan, today=REPORT + timedelta(days=32), now=NOW) == []

    def test_not_overdue_on_the_due_date_itself(self) -> None:
        plan = plan_given(finding("q1", critical=True))
        assert plans.flag_overdue(plan, today=REPORT + timedelta(days=30), now=NOW) == []

    def test_publication_late_is_flagged_once(self) -> None:
        plan = plan_given(finding("q1"))

        def flag(days: int) -> list[DomainEvent]:
            return plans.flag_publication_overdue(
                plan, today=REPORT + timedelta(days=days), now=NOW, policy=POLICY
            )

        assert flag(30) == []
        events = flag(31)
        assert [type(e) for e in events] == [ImprovementPlanPublicationOverdue]
        plan = then(plan, events)
        assert flag(32) == [] and plan.publication_late

    def test_the_deadline_pass_flags_items_and_the_publication(self) -> None:
        plan = plan_given(finding("q1", critical=True))
        events = plans.flag_deadlines(
            plan, today=REPORT + timedelta(days=31), now=NOW, policy=POLICY
        )
        assert [type(e) for e in events] == [
            ImprovementItemOverdue,
            ImprovementPlanPublicationOverdue,
        ]


def committee_given() -> Committee:
    members = [
        CommitteeMember(member_id="m1", name="Ms Manager", side=Side.MANAGEMENT),
        CommitteeMember(member_id="w1", name="Mr Worker", side=Side.WORKER),
    ]
    return COMMITTEE.fold(
        committees.set_members(
            COMMITTEE.initial, factory_id=FACTORY, members=members, changed_by="f"
        )
    )


def log(committee: Committee, **overrides: Any) -> list[DomainEvent]:
    arguments: dict[str, Any] = {
        "factory_id": FACTORY,
        "meeting_id": "mt1",
        "held_on": REPORT,
        "attendees": ["m1", "w1"],
        "decisions": [],
        "endorses_plan": False,
        "logged_by": "f",
        "today": REPORT,
    }
    return committees.log_meeting(committee, **{**arguments, **overrides})


class TestCommittee:
    def test_equal_sides_are_accepted(self) -> None:
        members = [
            CommitteeMember(member_id="m1", name="Ms Manager", side=Side.MANAGEMENT),
            CommitteeMember(member_id="w1", name="Mr Worker", side=Side.WORKER),
        ]
        events = committees.set_members(
            COMMITTEE.initial, factory_id=FACTORY, members=members, changed_by="f"
        )
        [changed] = events
        assert isinstance(changed, CommitteeMembersChanged) and changed.members == members
        committee = COMMITTEE.fold(events)
        assert committee.version == 1
        assert [m.member_id for m in committee.members] == ["m1", "w1"]

    @pytest.mark.parametrize(
        "sides", [[Side.MANAGEMENT, Side.MANAGEMENT, Side.WORKER], [], [Side.WORKER]]
    )
    def test_unequal_or_empty_sides_are_refused(self, sides: list[Side]) -> None:
        members = [
            CommitteeMember(member_id=f"m{i}", name="x", side=s) for i, s in enumerate(sides)
        ]
        with pytest.raises(CommitteeUnbalanced):
            committees.set_members(
                COMMITTEE.initial, factory_id=FACTORY, members=members, changed_by="f"
            )

    def test_a_meeting_is_logged_with_attendees_and_decisions(self) -> None:
        committee = committee_given()
        events = log(
            committee,
            attendees=["m1", "w1", "w1"],
            decisions=["endorse the plan"],
            endorses_plan=True,
        )
        [held] = events
        assert isinstance(held, CommitteeMeetingHeld)
        assert held.meeting.attendees == ["m1", "w1"]
        assert held.meeting.both_sides_present
        committee = COMMITTEE.fold(events, committee)
        assert committee.version == 2
        assert committee.latest_endorsement == held.meeting

    def test_unknown_attendees_and_future_meetings_are_refused(self) -> None:
        committee = committee_given()
        with pytest.raises(UnknownAttendee):
            log(committee, attendees=["m1", "x"])
        with pytest.raises(MeetingInFuture):
            log(committee, attendees=["m1"], held_on=REPORT + timedelta(days=1))

    def test_a_one_sided_endorsement_does_not_count(self) -> None:
        committee = committee_given()
        committee = COMMITTEE.fold(
            log(committee, attendees=["m1"], decisions=["ok"], endorses_plan=True), committee
        )
        assert committee.latest_endorsement is None

    def test_older_summary_events_still_decode_and_change_nothing_but_the_version(self) -> None:
        committee = committee_given()
        summary = CommitteeUpdated(
            factory_id=FACTORY, committee_version=2, change="members_changed", members=[]
        )
        after = COMMITTEE.fold([summary], committee)
        assert after.members == committee.members and after.version == committee.version + 1


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
        [published] = plans.publish(plan, meeting(), now=NOW, policy=POLICY)
        assert isinstance(published, ImprovementPlanPublished)
        assert published.late is False
        assert published.endorsed_at_meeting == "mt1"
        assert published.plan_version == plan.version + 1

    def test_first_publication_after_thirty_days_is_late(self) -> None:
        plan = plan_given(finding("q1"))
        [published] = plans.publish(
            plan, meeting(), now=datetime(2024, 4, 1, tzinfo=UTC), policy=POLICY
        )
        assert isinstance(published, ImprovementPlanPublished) and published.late

    @pytest.mark.parametrize(
        "endorsement", [None, meeting(endorses=False), meeting(sides=(Side.WORKER,))]
    )
    def test_publication_needs_a_two_sided_endorsement(
        self, endorsement: CommitteeMeeting | None
    ) -> None:
        with pytest.raises(EndorsementRequired):
            plans.publish(plan_given(finding("q1")), endorsement, now=NOW, policy=POLICY)

    def test_each_publication_needs_a_new_endorsement(self) -> None:
        plan = plan_given(finding("q1"))
        plan = then(plan, plans.publish(plan, meeting(), now=NOW, policy=POLICY))
        with pytest.raises(EndorsementRequired):
            plans.publish(plan, meeting(), now=NOW, policy=POLICY)
        [again] = plans.publish(
            plan, meeting("mt2"), now=datetime(2024, 6, 1, tzinfo=UTC), policy=POLICY
        )
        assert isinstance(again, ImprovementPlanPublished)
        assert again.late is False  # only the first publication has a deadline

    def test_an_empty_plan_cannot_be_published(self) -> None:
        with pytest.raises(NothingToPublish):
            plans.publish(PLAN.initial, meeting(), now=NOW, policy=POLICY)


def test_folding_the_history_rebuilds_the_same_plan() -> None:
    item_id = item_id_for("a1", "q1")
    history = history_of(finding("q1"), finding("q2", critical=True))
    plan = PLAN.fold(history)
    steps: list[Callable[[Plan], list[DomainEvent]]] = [
        lambda p: plans.change_details(
            p,
            item_id,
            root_cause="c",
            planned_action="a",
            responsible_person="p",
            due_date=None,
            changed_by="f",
        ),
        lambda p: plans.change_status(
            p, item_id, ItemStatus.IN_PROGRESS, actor="factory", by="f", now=NOW
        ),
        lambda p: plans.flag_overdue(p, today=REPORT + timedelta(days=40), now=NOW),
    ]
    for decide in steps:
        events = decide(plan)
        plan, history = then(plan, events), [*history, *events]
    rebuilt = PLAN.fold(history)
    assert rebuilt == plan
    assert rebuilt.version == len(history)


def test_a_snapshot_restores_the_same_plan() -> None:
    plan = done(plan_given(finding("q1"), finding("q2")), item_id_for("a1", "q1"))
    snapshots = PLAN.snapshots
    assert snapshots is not None
    assert snapshots.restore(snapshots.dump(plan)) == plan


def test_older_plan_summaries_still_decode_and_change_nothing_but_the_version() -> None:
    plan = plan_given(finding("q1"))
    summary = ImprovementPlanUpdated(
        factory_id=FACTORY, plan_version=3, change="item_added", item={}, progress={}
    )
    after = then(plan, [summary])
    assert after.items == plan.items and after.version == plan.version + 1


class TestCommitteeLimits:
    def test_a_full_committee_logs_no_more_meetings(self) -> None:
        held = meeting("x", sides=(Side.MANAGEMENT,), endorses=False)
        committee = committee_given().model_copy(update={"meetings": (held,) * MAX_MEETINGS})
        with pytest.raises(MeetingLimitReached):
            log(committee, meeting_id="y", attendees=["m1"], today=date(2024, 3, 2))


def recounted(plan: Plan) -> tuple[dict[str, int], int, date | None]:
    """The progress and first report date counted over every item, as the plan once did."""
    counts = {status.value: 0 for status in ItemStatus}
    for item in plan.items.values():
        counts[item.status.value] += 1
    dates = [report.report_date for report in plan.assessments.values()]
    dates += [item.report_date for item in plan.items.values()]
    overdue = sum(1 for item in plan.items.values() if item.overdue_now)
    return counts, overdue, min(dates, default=None)


def test_the_kept_tally_equals_a_recount_after_every_event() -> None:
    """The progress is kept incrementally (not recounted per event): after each event of a
    history that adds, edits, moves, verifies, reopens and flags items over two cycles, arriving
    out of order, it equals a count over every item."""
    q1, q2, q3 = (item_id_for("a1", q) for q in ("q1", "q2", "q3"))
    history = history_of(
        finding("q1", assessment_id="a2", cycle=2),  # the later cycle first
        finding("q1"),
        finding("q2", critical=True),
        finding("q3", zero_tolerance=True),
    )
    plan = PLAN.initial
    for event in history:
        plan = then(plan, [event])
        progress = plan.progress()
        assert (progress.by_status, progress.overdue, plan.first_report_date) == recounted(plan)
    plan = done(plan, q1)
    plan = move(plan, q1, ItemStatus.VERIFIED)
    plan = then(plan, plans.flag_overdue(plan, today=REPORT + timedelta(days=40), now=NOW))
    plan = move(plan, q2, ItemStatus.IN_PROGRESS)
    plan = then(
        plan,
        plans.change_status(
            plan, q1, ItemStatus.OPEN, actor="assessor", by="a", now=NOW, reason="r"
        ),
    )
    plan = done(plan, q3)
    progress = plan.progress()
    counts, overdue, first = recounted(plan)
    assert (progress.by_status, progress.overdue, plan.first_report_date) == (
        counts,
        overdue,
        first,
    )
    assert counts == {"open": 2, "in_progress": 1, "done": 1, "verified": 0}
    assert overdue == 2 and first == REPORT  # q2 (critical, 30 days) and q3 (7 days)
    assert plan.item_for("q1", 1) == plan.items[q1]
    assert plan.items[item_id_for("a2", "q1")].persistent
