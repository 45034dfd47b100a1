"""The plan's deadlines (pure): items past their binding due date and a late first publication,
flagged once each, and which of them are news and which a programme's imported history (a
deadline that had passed before its item or report was recorded here).

No I/O and no clock: callers pass `today` / `now` and the due-date policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from libs.domain.envelope import DomainEvent
from libs.domain.history.bundle import at_noon
from services.remediation.domain.plan_events import (
    ImprovementItemOverdue,
    ImprovementPlanPublicationOverdue,
    ItemStatus,
)
from services.remediation.domain.plan_state import Plan
from services.remediation.domain.policy import DueDatePolicy


def flag_item_overdue(plan: Plan, item_id: str, *, today: date, now: datetime) -> list[DomainEvent]:
    """Flag the item once if its binding due date (the factory's own once published, the
    programme's deadline before) passed before `today` without verification; `now` is when it
    was detected."""
    item = plan.items.get(item_id)
    if (
        item is None
        or item.overdue
        or item.status == ItemStatus.VERIFIED
        or item.binding_due_date >= today
    ):
        return []
    return [
        ImprovementItemOverdue(
            factory_id=plan.factory_id,
            item_id=item_id,
            due_date=item.binding_due_date,
            detected_at=now,
        )
    ]


def flag_overdue(plan: Plan, *, today: date, now: datetime) -> list[DomainEvent]:
    """Flag, once each, the items whose binding due date has passed without verification."""
    return [
        event
        for item in sorted(
            plan.items.values(), key=lambda item: (item.binding_due_date, item.item_id)
        )
        for event in flag_item_overdue(plan, item.item_id, today=today, now=now)
    ]


def flag_publication_overdue(
    plan: Plan, *, today: date, now: datetime, policy: DueDatePolicy
) -> list[DomainEvent]:
    due = plan.publication_due_date(policy)
    if due is None or plan.publications or plan.publication_overdue_flagged or due >= today:
        return []
    return [
        ImprovementPlanPublicationOverdue(factory_id=plan.factory_id, due_date=due, detected_at=now)
    ]


# A deadline that had passed when its imported item (or report) was recorded is flagged as
# history only once the import has had this long to bring the rest of that history: the items'
# status histories come in the bundle's next phase, and an item verified in time was never late.
HISTORY_SETTLING = timedelta(hours=1)


@dataclass(frozen=True)
class Deadline:
    """A deadline past and not flagged yet: an item's (`item_id`) or the plan's first
    publication's (None). `history_of`: the history bundle it belongs to (it had passed before
    the imported item or report was recorded: flagged at the day after it, as an imported fact);
    None: news, flagged now."""

    item_id: str | None
    due_date: date
    history_of: str | None = None

    def flagged_at(self, now: datetime) -> datetime:
        """The business time of its flag: the day after the deadline for history, else now."""
        if self.history_of is None:
            return now
        return min(at_noon(self.due_date + timedelta(days=1)), now)


def _deadline(
    item_id: str | None,
    due: date,
    imported_from: str | None,
    imported_at: datetime | None,
    now: datetime,
) -> Deadline | None:
    if imported_from is None or imported_at is None or due >= imported_at.date():
        return Deadline(item_id, due)  # it passed after the fact was recorded: news
    if now < imported_at + HISTORY_SETTLING:
        return None  # history, once the rest of it has had time to arrive
    return Deadline(item_id, due, imported_from)


def deadlines_past(
    plan: Plan, *, today: date, now: datetime, policy: DueDatePolicy
) -> list[Deadline]:
    """The deadlines past and not flagged, items by due date, then the first publication's."""
    found: list[Deadline] = []
    for item in sorted(plan.items.values(), key=lambda item: (item.binding_due_date, item.item_id)):
        if item.overdue or item.status == ItemStatus.VERIFIED or item.binding_due_date >= today:
            continue
        deadline = _deadline(
            item.item_id, item.binding_due_date, item.imported_from, item.imported_at, now
        )
        if deadline is not None:
            found.append(deadline)
    if flag_publication_overdue(plan, today=today, now=now, policy=policy):
        first = min(plan.assessments.values(), key=lambda r: (r.report_date, r.cycle))
        due = plan.publication_due_date(policy)
        assert due is not None  # there is a report
        deadline = _deadline(None, due, first.imported_from, first.imported_at, now)
        if deadline is not None:
            found.append(deadline)
    return found


def flag_deadline(
    plan: Plan, deadline: Deadline, *, today: date, now: datetime, policy: DueDatePolicy
) -> list[DomainEvent]:
    """Flag one deadline (if it is still past and unflagged in `plan`), detected at its
    business time."""
    detected_at = deadline.flagged_at(now)
    if deadline.item_id is None:
        return flag_publication_overdue(plan, today=today, now=detected_at, policy=policy)
    return flag_item_overdue(plan, deadline.item_id, today=today, now=detected_at)


def flag_deadlines(
    plan: Plan, *, today: date, now: datetime, policy: DueDatePolicy
) -> list[DomainEvent]:
    """Every deadline past flagged now: overdue items, then a late first publication (the
    scheduler tells history from news with `deadlines_past` and flags each with
    `flag_deadline`)."""
    return [
        *flag_overdue(plan, today=today, now=now),
        *flag_publication_overdue(plan, today=today, now=now, policy=policy),
    ]
