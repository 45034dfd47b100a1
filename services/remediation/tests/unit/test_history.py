"""Given / when / then of a programme's imported history (pure, no I/O): which deadlines are news
and which history, an item's details and status history as steps through the plan's own rules
(overdue flagged where it fell, persistence by business time), and a committee's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from libs.domain.envelope import DomainEvent
from libs.domain.history.bundle import at_noon
from services.remediation.domain import deadlines
from services.remediation.domain.committee import COMMITTEE, CommitteeMember, Side
from services.remediation.domain.history import (
    ItemHistory,
    MeetingHistory,
    StatusEntry,
    Step,
    committee_steps,
    item_steps,
    status_before,
)
from services.remediation.domain.plan_events import (
    ImprovementItemDetailsChanged,
    ImprovementItemOverdue,
    ImprovementItemPersistenceRevised,
    ImprovementItemStatusChanged,
    ImprovementPlanPublicationOverdue,
    ItemStatus,
    RemediationVerified,
)
from services.remediation.domain.plan_state import PLAN, Plan
from services.remediation.errors import (
    CommitteeUnbalanced,
    HistoryEntryRefused,
    MeetingInFuture,
    TransitionNotAllowed,
)
from services.remediation.ids import item_id_for
from services.remediation.tests.unit.domain_givens import POLICY, REPORT, finding, plan_given

BUNDLE = "kh-history"
RECORDED = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
TODAY = RECORDED.date()
ITEM = item_id_for("a1", "q1")


def imported(*findings: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**f, "imported_from": BUNDLE, "imported_at": RECORDED} for f in findings]


def run(state: Any, steps: Sequence[Step]) -> tuple[Any, list[tuple[datetime, DomainEvent]]]:
    """Every step decided on the state the ones before it left, as the import's handler does."""
    happened: list[tuple[datetime, DomainEvent]] = []
    aggregate = PLAN if isinstance(state, Plan) else COMMITTEE
    for step in steps:
        events = list(step.decide(state))
        state = aggregate.fold(events, state)
        happened += [(step.at, event) for event in events]
    return state, happened


class TestDeadlinesOfThePast:
    def test_a_deadline_passed_before_the_item_was_recorded_is_history_once_settled(self) -> None:
        plan = plan_given(*imported(finding("q1", critical=True)))  # due 2024-03-31
        later = datetime(2024, 5, 1, 9, tzinfo=UTC)
        # recorded on 2024-03-05: its deadline (and the publication's) passed after: news
        assert [(d.item_id, d.history_of) for d in self.past(plan, later)] == [
            (ITEM, None),
            (None, None),
        ]
        old = plan_given(*imported(finding("q1", critical=True, report_date=date(2019, 3, 1))))
        assert self.past(old, RECORDED + timedelta(minutes=59)) == []  # its history may follow
        settled = RECORDED + deadlines.HISTORY_SETTLING
        past = self.past(old, settled)
        assert [(d.item_id, d.due_date, d.history_of) for d in past] == [
            (ITEM, date(2019, 3, 31), BUNDLE),
            (None, date(2019, 3, 31), BUNDLE),
        ]
        assert {d.flagged_at(settled) for d in past} == {at_noon(date(2019, 4, 1))}
        events = [
            e
            for d in past
            for e in deadlines.flag_deadline(old, d, today=TODAY, now=settled, policy=POLICY)
        ]
        assert [type(e) for e in events] == [
            ImprovementItemOverdue,
            ImprovementPlanPublicationOverdue,
        ]
        assert {e.detected_at for e in events} == {at_noon(date(2019, 4, 1))}  # type: ignore[attr-defined]
        flagged = PLAN.fold(events, old)
        assert self.past(flagged, settled) == []

    def test_a_live_plan_s_deadlines_are_news(self) -> None:
        plan = plan_given(finding("q1", critical=True, report_date=date(2019, 3, 1)))
        past = self.past(plan, RECORDED)
        assert [d.history_of for d in past] == [None, None]
        assert {d.flagged_at(RECORDED) for d in past} == {RECORDED}

    @staticmethod
    def past(plan: Plan, now: datetime) -> list[deadlines.Deadline]:
        return deadlines.deadlines_past(plan, today=now.date(), now=now, policy=POLICY)


def history(**fields: Any) -> ItemHistory:
    defaults: dict[str, Any] = {
        "item_id": ITEM,
        "opened_on": REPORT,
        "binding_due_date": REPORT + timedelta(days=30),
    }
    return ItemHistory(**{**defaults, **fields})


class TestAnItemsHistory:
    def test_details_then_each_change_at_its_day_with_the_overdue_flag_where_it_fell(
        self,
    ) -> None:
        plan = plan_given(*imported(finding("q1", critical=True)))
        steps = item_steps(
            history(
                root_cause="no warden",
                planned_action="train",
                responsible_person="HR",
                changes=(
                    StatusEntry(ItemStatus.OPEN, REPORT, "assessor"),
                    StatusEntry(ItemStatus.IN_PROGRESS, date(2024, 3, 10), "factory"),
                    StatusEntry(ItemStatus.DONE, date(2024, 4, 20), "factory"),
                    StatusEntry(ItemStatus.VERIFIED, date(2024, 5, 2), "assessor"),
                ),
            ),
            today=date(2024, 6, 1),
            now=datetime(2024, 6, 1, 9, tzinfo=UTC),
        )
        plan, happened = run(plan, steps)
        assert [(at.date(), type(event)) for at, event in happened] == [
            (REPORT, ImprovementItemDetailsChanged),
            (date(2024, 3, 10), ImprovementItemStatusChanged),
            (date(2024, 4, 1), ImprovementItemOverdue),  # due 03-31, done only on 04-20
            (date(2024, 4, 20), ImprovementItemStatusChanged),
            (date(2024, 5, 2), RemediationVerified),
        ]
        item = plan.items[ITEM]
        assert (item.status, item.verified_at, item.verified_by) == (
            ItemStatus.VERIFIED,
            at_noon(date(2024, 5, 2)),
            "history:assessor",
        )

    def test_an_item_still_unverified_is_flagged_at_the_day_after_its_deadline(self) -> None:
        plan = plan_given(*imported(finding("q1", critical=True)))
        later = RECORDED + timedelta(days=60)
        _, happened = run(plan, item_steps(history(), today=later.date(), now=later))
        assert [(at, type(e)) for at, e in happened] == [
            (at_noon(date(2024, 4, 1)), ImprovementItemOverdue)
        ]

    def test_a_transition_the_plan_refuses_is_the_plan_s_refusal(self) -> None:
        plan = plan_given(*imported(finding("q1")))
        [step] = item_steps(
            history(changes=(StatusEntry(ItemStatus.DONE, REPORT, "factory"),)),
            today=TODAY,
            now=RECORDED,
        )
        assert step.field == "status_history.0"
        with pytest.raises(TransitionNotAllowed):
            step.decide(plan)

    @pytest.mark.parametrize(
        ("day", "reason"),
        [
            (REPORT - timedelta(days=1), "before the item opened"),
            (TODAY + timedelta(days=1), "future"),
        ],
    )
    def test_a_change_the_item_cannot_have_had_is_refused(self, day: date, reason: str) -> None:
        with pytest.raises(HistoryEntryRefused, match=reason) as refused:
            item_steps(
                history(changes=(StatusEntry(ItemStatus.IN_PROGRESS, day, "factory"),)),
                today=TODAY,
                now=RECORDED,
            )
        assert refused.value.field == "status_history.0.on"

    def test_a_due_date_outside_the_window_names_the_due_date(self) -> None:
        plan = plan_given(*imported(finding("q1")))
        [step] = item_steps(history(due_date=date(2025, 1, 1)), today=TODAY, now=RECORDED)
        with pytest.raises(HistoryEntryRefused) as refused:
            step.decide(plan)
        assert refused.value.field == "due_date"


class TestPersistenceByBusinessTime:
    """The next cycle's item was added (persistent) before this item's history arrived."""

    def given(self) -> Plan:
        plan = plan_given(*imported(finding("q1"), finding("q1", assessment_id="a2", cycle=2)))
        assert plan.items[item_id_for("a2", "q1")].persistent
        return plan

    def steps(self, *changes: StatusEntry) -> list[Step]:
        return item_steps(
            history(
                root_cause="cause",
                planned_action="action",
                responsible_person="HR",
                changes=changes,
                next_cycle_opened_on=REPORT + timedelta(days=365),
            ),
            today=date(2026, 1, 1),
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )

    def test_verified_before_the_next_report_it_was_not_persistent(self) -> None:
        plan, happened = run(
            self.given(),
            self.steps(
                StatusEntry(ItemStatus.IN_PROGRESS, date(2024, 3, 5), "factory"),
                StatusEntry(ItemStatus.DONE, date(2024, 3, 20), "factory"),
                StatusEntry(ItemStatus.VERIFIED, date(2024, 3, 25), "assessor"),
            ),
        )
        [(at, revised)] = [
            (at, e) for at, e in happened if isinstance(e, ImprovementItemPersistenceRevised)
        ]
        assert at == at_noon(REPORT + timedelta(days=365)) and revised.persistent is False
        assert not plan.items[item_id_for("a2", "q1")].persistent

    def test_verified_only_after_the_next_report_it_stays_persistent(self) -> None:
        _, happened = run(
            self.given(),
            self.steps(
                StatusEntry(ItemStatus.IN_PROGRESS, date(2024, 3, 5), "factory"),
                StatusEntry(ItemStatus.DONE, date(2025, 3, 20), "factory"),
                StatusEntry(ItemStatus.VERIFIED, date(2025, 3, 25), "assessor"),
            ),
        )
        assert not any(isinstance(e, ImprovementItemPersistenceRevised) for _, e in happened)

    def test_the_status_before_a_day(self) -> None:
        changes = (
            StatusEntry(ItemStatus.IN_PROGRESS, date(2024, 3, 5), "factory"),
            StatusEntry(ItemStatus.DONE, date(2024, 3, 20), "factory"),
        )
        assert status_before(changes, date(2024, 3, 5)) is ItemStatus.OPEN
        assert status_before(changes, date(2024, 3, 6)) is ItemStatus.IN_PROGRESS
        assert status_before(changes, date(2025, 1, 1)) is ItemStatus.DONE


MEMBERS = (
    CommitteeMember(member_id="m1", name="Ms Manager", side=Side.MANAGEMENT),
    CommitteeMember(member_id="w1", name="Mr Worker", side=Side.WORKER),
)


class TestACommitteesHistory:
    def test_members_on_the_day_it_was_established_and_meetings_on_theirs(self) -> None:
        steps = committee_steps(
            "factory-1",
            MEMBERS,
            date(2018, 5, 1),
            (MeetingHistory("mt1", date(2019, 3, 20), ("endorsed",), True),),
            today=TODAY,
        )
        committee, happened = run(COMMITTEE.initial, steps)
        assert [at for at, _ in happened] == [at_noon(date(2018, 5, 1)), at_noon(date(2019, 3, 20))]
        endorsement = committee.latest_endorsement
        assert endorsement is not None and endorsement.attendees == ["m1", "w1"]

    def test_a_committee_kept_here_already_is_not_replaced(self) -> None:
        [establish] = committee_steps("factory-1", MEMBERS, date(2018, 5, 1), (), today=TODAY)
        existing, _ = run(COMMITTEE.initial, [establish])
        with pytest.raises(HistoryEntryRefused) as refused:
            establish.decide(existing)
        assert refused.value.field == "factory"

    def test_the_committee_s_rules_refuse_what_they_refuse(self) -> None:
        unbalanced = (*MEMBERS, CommitteeMember(member_id="m2", name="X", side=Side.MANAGEMENT))
        [establish] = committee_steps("factory-1", unbalanced, date(2018, 5, 1), (), today=TODAY)
        with pytest.raises(CommitteeUnbalanced):
            establish.decide(COMMITTEE.initial)
        steps = committee_steps(
            "factory-1",
            MEMBERS,
            date(2018, 5, 1),
            (MeetingHistory("mt1", TODAY + timedelta(days=1)),),
            today=TODAY,
        )
        committee, _ = run(COMMITTEE.initial, steps[:1])
        assert steps[1].field == "meetings.0"
        with pytest.raises(MeetingInFuture):
            steps[1].decide(committee)

    @pytest.mark.parametrize("day", [date(1999, 12, 31), TODAY + timedelta(days=1)])
    def test_an_establishment_date_out_of_range_is_refused(self, day: date) -> None:
        with pytest.raises(HistoryEntryRefused) as refused:
            committee_steps("factory-1", MEMBERS, day, (), today=TODAY)
        assert refused.value.field == "established_on"
