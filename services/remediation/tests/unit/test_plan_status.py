"""Given / when / then: an item moves open → in progress → done → verified (or is reopened), each
step by whoever may make it, and deadlines past are flagged once (pure, no I/O)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from libs.domain.envelope import DomainEvent
from services.remediation.domain import deadlines
from services.remediation.domain import plan as plans
from services.remediation.domain.plan_events import (
    ImprovementItemOverdue,
    ImprovementItemReopened,
    ImprovementItemStatusChanged,
    ImprovementPlanPublicationOverdue,
    ItemStatus,
    RemediationVerified,
)
from services.remediation.errors import (
    ItemIncomplete,
    ReasonRequired,
    TransitionNotAllowed,
)
from services.remediation.ids import item_id_for
from services.remediation.tests.unit.domain_givens import (
    NOW,
    POLICY,
    REPORT,
    done,
    fill_in,
    finding,
    move,
    plan_given,
    then,
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
        events = deadlines.flag_overdue(plan, today=REPORT + timedelta(days=31), now=NOW)
        overdue = [e.item_id for e in events if isinstance(e, ImprovementItemOverdue)]
        assert len(events) == 1 and overdue == [item_id_for("a1", "q1")]
        plan = then(plan, events)
        assert plan.progress().overdue == 1
        assert deadlines.flag_overdue(plan, today=REPORT + timedelta(days=32), now=NOW) == []

    def test_not_overdue_on_the_due_date_itself(self) -> None:
        plan = plan_given(finding("q1", critical=True))
        assert deadlines.flag_overdue(plan, today=REPORT + timedelta(days=30), now=NOW) == []

    def test_publication_late_is_flagged_once(self) -> None:
        plan = plan_given(finding("q1"))

        def flag(days: int) -> list[DomainEvent]:
            return deadlines.flag_publication_overdue(
                plan, today=REPORT + timedelta(days=days), now=NOW, policy=POLICY
            )

        assert flag(30) == []
        events = flag(31)
        assert [type(e) for e in events] == [ImprovementPlanPublicationOverdue]
        plan = then(plan, events)
        assert flag(32) == [] and plan.publication_late

    def test_the_deadline_pass_flags_items_and_the_publication(self) -> None:
        plan = plan_given(finding("q1", critical=True))
        events = deadlines.flag_deadlines(
            plan, today=REPORT + timedelta(days=31), now=NOW, policy=POLICY
        )
        assert [type(e) for e in events] == [
            ImprovementItemOverdue,
            ImprovementPlanPublicationOverdue,
        ]
