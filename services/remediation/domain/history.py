"""A programme's history, imported (pure): an improvement item's plan details and status history,
and a committee with its meetings, as steps. Each step is what the plan's or the committee's own
rules decide, at the business time it happened (`Step.at`); the import's handlers append each
step's events at that time, attributed to the record, and a step the rules refuse names the
record's field it came from.

No I/O and no clock: callers pass `today` / `now`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from libs.domain.envelope import DomainEvent
from libs.domain.history.bundle import at_noon
from libs.domain.types import EARLIEST_DATE
from services.remediation.domain import plan as plans
from services.remediation.domain.committee import (
    MAX_DECISION_LENGTH,
    MAX_DECISIONS,
    MAX_MEMBERS,
    Committee,
    CommitteeMember,
    log_meeting,
    set_members,
)
from services.remediation.domain.deadlines import flag_item_overdue
from services.remediation.domain.plan_events import (
    Actor,
    ImprovementItemPersistenceRevised,
    ItemStatus,
)
from services.remediation.domain.plan_state import Plan
from services.remediation.errors import CommitteeExists, DueDateOutsideWindow, HistoryEntryRefused

Decide = Callable[[Any], Sequence[DomainEvent]]


@dataclass(frozen=True)
class Step:
    """One fact of a history: when it happened, the record's field a refusal names, and the
    decision that makes it (on the aggregate as the steps before it left it)."""

    at: datetime
    field: str
    decide: Decide


def changed_by(actor: str) -> str:
    """Who an imported change names: the role the history gives (its people are not known)."""
    return f"history:{actor}"


# an improvement item ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusEntry:
    status: ItemStatus
    on: date
    actor: Actor
    reason: str | None = None


@dataclass(frozen=True)
class ItemHistory:
    """An item's imported plan details and status history, with what is known of the item: the
    day it opened (its report date), the due date it is held to (the programme's deadline, or the
    factory's own once a publication carried it), and the day the same question's item of the
    next cycle opened, if there is one."""

    item_id: str
    opened_on: date
    binding_due_date: date
    root_cause: str | None = None
    planned_action: str | None = None
    responsible_person: str | None = None
    due_date: date | None = None
    changes: tuple[StatusEntry, ...] = ()
    next_cycle_opened_on: date | None = None

    @property
    def has_details(self) -> bool:
        return any(
            value is not None
            for value in (self.root_cause, self.planned_action, self.responsible_person)
        ) or (self.due_date is not None)


def item_steps(history: ItemHistory, *, today: date, now: datetime) -> list[Step]:
    """The item's history in the order it happened: its details on the day it opened, each status
    change on its day (an overdue flag before the first change after the deadline, or at the end
    while it is still unverified), and, when the next cycle found the question again, whether
    that item is persistent by this history. Raises HistoryEntryRefused for a change dated
    before the item opened or in the future."""
    for index, change in enumerate(history.changes):
        if change.on < history.opened_on:
            raise HistoryEntryRefused(
                f"status_history.{index}.on",
                f"{change.on} is before the item opened (its report date, {history.opened_on})",
            )
        if change.on > today:
            raise HistoryEntryRefused(f"status_history.{index}.on", f"{change.on} is in the future")
    item_id = history.item_id
    steps: list[Step] = []
    if history.has_details:
        # refused otherwise only when the item moved on in this system already (not editable)
        steps.append(Step(at_noon(history.opened_on), "record", _details(history)))
    late_from = history.binding_due_date + timedelta(days=1)
    last = history.opened_on
    for index, change in enumerate(history.changes):
        field = f"status_history.{index}"
        if history.binding_due_date < change.on:
            flagged_at = at_noon(max(late_from, last))
            steps.append(Step(flagged_at, field, _overdue(item_id, change.on, flagged_at)))
        steps.append(Step(at_noon(change.on), field, _status(item_id, change)))
        last = change.on
    if history.binding_due_date < today:
        flagged_at = min(at_noon(max(late_from, last)), now)
        steps.append(Step(flagged_at, "status_history", _overdue(item_id, today, flagged_at)))
    if history.next_cycle_opened_on is not None:
        steps.append(
            Step(
                at_noon(history.next_cycle_opened_on),
                "status_history",
                lambda plan: revise_persistence(plan, item_id, history.changes),
            )
        )
    return steps


def _details(history: ItemHistory) -> Decide:
    def decide(plan: Plan) -> list[DomainEvent]:
        try:
            return plans.change_details(
                plan,
                history.item_id,
                root_cause=history.root_cause,
                planned_action=history.planned_action,
                responsible_person=history.responsible_person,
                due_date=history.due_date,
                changed_by=changed_by("factory"),
            )
        except DueDateOutsideWindow as error:
            raise HistoryEntryRefused("due_date", error.detail) from error

    return decide


def _overdue(item_id: str, before: date, flagged_at: datetime) -> Decide:
    return lambda plan: flag_item_overdue(plan, item_id, today=before, now=flagged_at)


def _status(item_id: str, change: StatusEntry) -> Decide:
    def decide(plan: Plan) -> list[DomainEvent]:
        if change.status is ItemStatus.OPEN and plan.item(item_id).status is ItemStatus.OPEN:
            return []  # the item's opening, stated: no change
        return plans.change_status(
            plan,
            item_id,
            change.status,
            actor=change.actor,
            by=changed_by(change.actor),
            now=at_noon(change.on),
            reason=change.reason,
        )

    return decide


def status_before(changes: Sequence[StatusEntry], day: date) -> ItemStatus:
    """The status a history gives its item before `day` (an item opens open)."""
    status = ItemStatus.OPEN
    for change in changes:
        if change.on >= day:
            break
        status = change.status
    return status


def revise_persistence(
    plan: Plan, item_id: str, changes: Sequence[StatusEntry]
) -> list[DomainEvent]:
    """The same question's item of the next cycle is persistent when this item was not verified
    before that item's report date, by this item's history (the consumer added it before the
    history arrived, when this item looked open)."""
    item = plan.items.get(item_id)
    following = None if item is None else plan.item_for(item.question_id, item.cycle + 1)
    if following is None:
        return []
    persistent = status_before(changes, following.report_date) is not ItemStatus.VERIFIED
    if following.persistent == persistent:
        return []
    return [
        ImprovementItemPersistenceRevised(
            factory_id=plan.factory_id,
            item_id=following.item_id,
            persistent=persistent,
            previous_item_id=item_id,
        )
    ]


# a committee ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingHistory:
    meeting_id: str
    held_on: date
    decisions: tuple[str, ...] = ()
    endorses_plan: bool = False


def committee_steps(
    factory_id: str,
    members: Sequence[CommitteeMember],
    established_on: date,
    meetings: Sequence[MeetingHistory],
    *,
    today: date,
) -> list[Step]:
    """The committee established with its members, then each meeting on its day, attended by
    its members (a history names no attendees; both sides were there, as an endorsement needs).
    A factory whose committee this system already keeps is refused (its members would be
    replaced with past ones). Raises HistoryEntryRefused for what the record cannot hold."""
    if not EARLIEST_DATE <= established_on <= today:
        raise HistoryEntryRefused(
            "established_on", f"{established_on} is not between {EARLIEST_DATE} and today"
        )
    if len(members) > MAX_MEMBERS:
        raise HistoryEntryRefused("members", f"a committee has at most {MAX_MEMBERS} members")
    for index, meeting in enumerate(meetings):
        if len(meeting.decisions) > MAX_DECISIONS or any(
            len(decision) > MAX_DECISION_LENGTH for decision in meeting.decisions
        ):
            raise HistoryEntryRefused(
                f"meetings.{index}.decisions",
                f"a meeting has at most {MAX_DECISIONS} decisions of at most "
                f"{MAX_DECISION_LENGTH} characters",
            )
    steps = [Step(at_noon(established_on), "members", _establish(factory_id, members))]
    attendees = [member.member_id for member in members]
    for index, meeting in enumerate(meetings):
        steps.append(
            Step(
                at_noon(meeting.held_on),
                f"meetings.{index}",
                _meeting(factory_id, meeting, attendees, today),
            )
        )
    return steps


def _establish(factory_id: str, members: Sequence[CommitteeMember]) -> Decide:
    def decide(committee: Committee) -> list[DomainEvent]:
        if committee.version > 0:
            error = CommitteeExists()
            raise HistoryEntryRefused("factory", error.detail) from error
        return set_members(
            committee, factory_id=factory_id, members=list(members), changed_by=changed_by("import")
        )

    return decide


def _meeting(factory_id: str, meeting: MeetingHistory, attendees: list[str], today: date) -> Decide:
    return lambda committee: log_meeting(
        committee,
        factory_id=factory_id,
        meeting_id=meeting.meeting_id,
        held_on=meeting.held_on,
        attendees=attendees,
        decisions=list(meeting.decisions),
        endorses_plan=meeting.endorses_plan,
        logged_by=changed_by("import"),
        today=today,
    )
