"""The plan as its history folds: the same plan from the events, from a snapshot and with the
older summary events, and the kept tally equal to a recount after every event (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from libs.domain.envelope import DomainEvent
from services.remediation.domain import deadlines
from services.remediation.domain import plan as plans
from services.remediation.domain.plan_events import (
    ImprovementPlanUpdated,
    ItemStatus,
)
from services.remediation.domain.plan_state import PLAN, Plan
from services.remediation.ids import item_id_for
from services.remediation.tests.unit.domain_givens import (
    FACTORY,
    NOW,
    REPORT,
    done,
    finding,
    history_of,
    move,
    plan_given,
    then,
)


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
        lambda p: deadlines.flag_overdue(p, today=REPORT + timedelta(days=40), now=NOW),
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
    plan = then(plan, deadlines.flag_overdue(plan, today=REPORT + timedelta(days=40), now=NOW))
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
