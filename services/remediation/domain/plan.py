"""The improvement plan aggregate: its state folded from its events (`evolve`) and the pure
`decide` functions of its commands, which return new events or raise a domain error.

No I/O and no clock: callers pass `today` / `now` and the due-date policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from libs.domain.aggregate import AggregateType, Decided, Snapshots
from libs.domain.envelope import DomainEvent
from services.remediation.domain.committee import CommitteeMeeting
from services.remediation.domain.plan_events import (
    TRANSITIONS,
    Actor,
    AssessmentReportReceived,
    ImprovementItemAdded,
    ImprovementItemDetailsChanged,
    ImprovementItemMarkedPersistent,
    ImprovementItemOverdue,
    ImprovementItemReopened,
    ImprovementItemStatusChanged,
    ImprovementPlanPublicationOverdue,
    ImprovementPlanPublished,
    ItemStatus,
    RemediationVerified,
    allowed_transitions,
)
from services.remediation.domain.policy import DueDatePolicy
from services.remediation.errors import (
    DueDateOutsideWindow,
    EndorsementRequired,
    ItemIncomplete,
    ItemNotEditable,
    ItemNotFound,
    NothingToPublish,
    ReasonRequired,
    TransitionNotAllowed,
)
from services.remediation.ids import PLAN_STREAM_PREFIX, item_id_for

# state -------------------------------------------------------------------------------------------


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ImprovementItem(Frozen):
    """One item of the plan as it stands now."""

    item_id: str
    factory_id: str
    assessment_id: str
    cycle: int
    report_date: date
    cluster_id: str
    cluster_name: str
    compliance_point_id: str
    compliance_point_name: str
    question_id: str
    question_text: str
    critical: bool
    zero_tolerance: bool
    persistent: bool
    evidence: str
    status: ItemStatus = ItemStatus.OPEN
    due_date: date
    latest_due_date: date
    root_cause: str | None = None
    planned_action: str | None = None
    responsible_person: str | None = None
    overdue: bool = False
    verified_by: str | None = None
    verified_at: datetime | None = None
    reopen_reason: str | None = None

    @property
    def overdue_now(self) -> bool:
        """Flagged overdue and not verified since."""
        return self.overdue and self.status != ItemStatus.VERIFIED


class AssessmentReport(Frozen):
    assessment_id: str
    cycle: int
    report_date: date


class Publication(Frozen):
    plan_version: int
    published_at: datetime
    endorsed_at_meeting: str
    late: bool


@dataclass(frozen=True)
class Progress:
    open: int
    in_progress: int
    done: int
    verified: int
    total: int
    overdue: int
    share_verified: float

    @property
    def by_status(self) -> dict[str, int]:
        return {status.value: getattr(self, status.value) for status in ItemStatus}


class Tally(Frozen):
    """What the plan's progress and publication due date need, kept up to date by `evolve` so that
    neither passes over every item (the public ImprovementPlanUpdated carries the progress after
    every event: recounting made a plan's history quadratic in its items)."""

    open: int = 0
    in_progress: int = 0
    done: int = 0
    verified: int = 0
    overdue: int = 0
    first_report_date: date | None = None
    # "question_id/cycle" -> item_id, to find the same question's item of another cycle
    slots: dict[str, str] = {}

    def replacing(self, old: ImprovementItem | None, new: ImprovementItem) -> Tally:
        """The tally after `old` (None: a new item) became `new`."""
        counts = {
            ItemStatus.OPEN: self.open,
            ItemStatus.IN_PROGRESS: self.in_progress,
            ItemStatus.DONE: self.done,
            ItemStatus.VERIFIED: self.verified,
        }
        overdue = self.overdue
        slots = self.slots
        if old is None:
            # the first item of a question and cycle is the one found (as a scan in order would)
            slots = {_slot(new.question_id, new.cycle): new.item_id, **slots}
        else:
            counts[old.status] -= 1
            overdue -= old.overdue_now
        counts[new.status] += 1
        overdue += new.overdue_now
        return Tally(
            open=counts[ItemStatus.OPEN],
            in_progress=counts[ItemStatus.IN_PROGRESS],
            done=counts[ItemStatus.DONE],
            verified=counts[ItemStatus.VERIFIED],
            overdue=overdue,
            first_report_date=_earliest(self.first_report_date, new.report_date),
            slots=slots,
        )

    def reporting(self, report_date: date) -> Tally:
        return self.model_copy(
            update={"first_report_date": _earliest(self.first_report_date, report_date)}
        )


def _slot(question_id: str, cycle: int) -> str:
    return f"{question_id}/{cycle}"


def _earliest(first: date | None, other: date) -> date:
    return other if first is None or other < first else first


class Plan(Frozen):
    """A factory's living improvement plan. `version` counts the events folded into it, so it is
    the stream's version (the public summaries carry it)."""

    factory_id: str = ""
    version: int = 0
    items: dict[str, ImprovementItem] = {}
    assessments: dict[str, AssessmentReport] = {}
    publications: tuple[Publication, ...] = ()
    publication_overdue_flagged: bool = False
    tally: Tally = Tally()

    @property
    def exists(self) -> bool:
        return self.version > 0

    @property
    def first_report_date(self) -> date | None:
        return self.tally.first_report_date

    def publication_due_date(self, policy: DueDatePolicy) -> date | None:
        first = self.first_report_date
        return first + timedelta(days=policy.publication_days) if first else None

    @property
    def publication_late(self) -> bool:
        """First published late, or flagged unpublished past due."""
        first = self.publications[0] if self.publications else None
        return bool((first is not None and first.late) or self.publication_overdue_flagged)

    def progress(self) -> Progress:
        tally = self.tally
        total = len(self.items)
        return Progress(
            open=tally.open,
            in_progress=tally.in_progress,
            done=tally.done,
            verified=tally.verified,
            total=total,
            overdue=tally.overdue,
            share_verified=round(tally.verified / total, 4) if total else 0.0,
        )

    def item(self, item_id: str) -> ImprovementItem:
        try:
            return self.items[item_id]
        except KeyError:
            raise ItemNotFound(item_id) from None

    def item_for(self, question_id: str, cycle: int) -> ImprovementItem | None:
        item_id = self.tally.slots.get(_slot(question_id, cycle))
        return None if item_id is None else self.items.get(item_id)


def _with_item(plan: Plan, changes: dict[str, Any], item_id: str, **fields: Any) -> None:
    """Set the changed item, and the tally it moves, in `changes`."""
    old = plan.items[item_id]
    new = old.model_copy(update=fields)
    changes["items"] = {**plan.items, item_id: new}
    changes["tally"] = plan.tally.replacing(old, new)


def evolve(plan: Plan, event: DomainEvent) -> Plan:
    """The plan after one more event; every event counts towards the version, including the
    summaries older histories hold, which change nothing else."""
    changes: dict[str, Any] = {"version": plan.version + 1}
    if factory_id := getattr(event, "factory_id", ""):
        changes["factory_id"] = factory_id
    match event:
        case AssessmentReportReceived():
            report = AssessmentReport(
                assessment_id=event.assessment_id, cycle=event.cycle, report_date=event.report_date
            )
            changes["assessments"] = {**plan.assessments, event.assessment_id: report}
            changes["tally"] = plan.tally.reporting(event.report_date)
        case ImprovementItemAdded():
            item = ImprovementItem(
                **event.model_dump(exclude={"due_date"}),
                due_date=event.due_date,
                latest_due_date=event.due_date,
            )
            changes["items"] = {**plan.items, event.item_id: item}
            changes["tally"] = plan.tally.replacing(plan.items.get(event.item_id), item)
        case ImprovementItemMarkedPersistent():
            _with_item(plan, changes, event.item_id, persistent=True)
        case ImprovementItemDetailsChanged():
            _with_item(
                plan,
                changes,
                event.item_id,
                root_cause=event.root_cause,
                planned_action=event.planned_action,
                responsible_person=event.responsible_person,
                due_date=event.due_date,
            )
        case ImprovementItemStatusChanged():
            _with_item(plan, changes, event.item_id, status=event.to_status)
        case RemediationVerified():
            _with_item(
                plan,
                changes,
                event.item_id,
                status=ItemStatus.VERIFIED,
                verified_by=event.verified_by,
                verified_at=event.verified_at,
            )
        case ImprovementItemReopened():
            _with_item(
                plan,
                changes,
                event.item_id,
                status=ItemStatus.OPEN,
                reopen_reason=event.reason,
                verified_by=None,
                verified_at=None,
            )
        case ImprovementItemOverdue():
            _with_item(plan, changes, event.item_id, overdue=True)
        case ImprovementPlanPublished():
            publication = Publication(
                plan_version=event.plan_version,
                published_at=event.published_at,
                endorsed_at_meeting=event.endorsed_at_meeting,
                late=event.late,
            )
            changes["publications"] = (*plan.publications, publication)
        case ImprovementPlanPublicationOverdue():
            changes["publication_overdue_flagged"] = True
        case _:
            pass  # ImprovementPlanUpdated: a summary of the facts above, from older histories
    return plan.model_copy(update=changes)


PLAN = AggregateType(
    stream_type="ImprovementPlan",
    stream_prefix=PLAN_STREAM_PREFIX,
    initial=Plan(),
    evolve=evolve,
    # a plan of a long-assessed factory gathers thousands of events over the years; every item
    # command loads it, so the tail folded per request is kept short (every 200: up to 199 events
    # decoded and folded per request, remediation's largest CPU share while a programme is seeded)
    snapshots=Snapshots(
        every=25,
        dump=lambda plan: plan.model_dump(mode="json"),
        restore=Plan.model_validate,
        version=2,  # 2: with the tally
    ),
)


class _Decision:
    """The events one command decides, folded as they are decided, so a later rule of the same
    command sees the earlier events' effect (the repository reuses the folded states)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.events: Decided[Plan] = Decided()

    def __call__(self, event: DomainEvent) -> None:
        self.plan = evolve(self.plan, event)
        self.events.add(event, self.plan)


# commands ----------------------------------------------------------------------------------------


def record_assessment_report(
    plan: Plan,
    *,
    factory_id: str,
    assessment_id: str,
    cycle: int,
    report_date: date,
    non_compliance_count: int | None,
) -> list[DomainEvent]:
    if assessment_id in plan.assessments:
        return []  # already known: a redelivery
    return [
        AssessmentReportReceived(
            factory_id=factory_id,
            assessment_id=assessment_id,
            cycle=cycle,
            report_date=report_date,
            non_compliance_count=non_compliance_count,
        )
    ]


def add_item(
    plan: Plan,
    *,
    factory_id: str,
    assessment_id: str,
    cycle: int,
    report_date: date,
    cluster_id: str,
    cluster_name: str,
    compliance_point_id: str,
    compliance_point_name: str,
    question_id: str,
    question_text: str,
    critical: bool,
    zero_tolerance: bool,
    evidence: str,
    policy: DueDatePolicy,
) -> list[DomainEvent]:
    """Add the item for a non-compliance; a finding the plan already has changes nothing."""
    item_id = item_id_for(assessment_id, question_id)
    if item_id in plan.items:
        return []
    decision = _Decision(plan)
    for event in record_assessment_report(
        plan,
        factory_id=factory_id,
        assessment_id=assessment_id,
        cycle=cycle,
        report_date=report_date,
        non_compliance_count=None,
    ):
        decision(event)
    previous = plan.item_for(question_id, cycle - 1)
    days = policy.days_for(critical=critical, zero_tolerance=zero_tolerance)
    decision(
        ImprovementItemAdded(
            factory_id=factory_id,
            item_id=item_id,
            assessment_id=assessment_id,
            cycle=cycle,
            report_date=report_date,
            cluster_id=cluster_id,
            cluster_name=cluster_name,
            compliance_point_id=compliance_point_id,
            compliance_point_name=compliance_point_name,
            question_id=question_id,
            question_text=question_text,
            critical=critical,
            zero_tolerance=zero_tolerance,
            persistent=previous is not None and previous.status != ItemStatus.VERIFIED,
            due_date=report_date + timedelta(days=days),
            evidence=evidence,
        )
    )
    # the next cycle's finding may have arrived first (out of order): it is persistent too
    following = plan.item_for(question_id, cycle + 1)
    if following is not None and not following.persistent:
        decision(
            ImprovementItemMarkedPersistent(
                factory_id=factory_id, item_id=following.item_id, previous_item_id=item_id
            )
        )
    return decision.events


def change_details(
    plan: Plan,
    item_id: str,
    *,
    root_cause: str | None,
    planned_action: str | None,
    responsible_person: str | None,
    due_date: date | None,
    changed_by: str,
) -> list[DomainEvent]:
    """Fill in an open or in-progress item; a field left None keeps its value."""
    item = plan.item(item_id)
    if item.status not in (ItemStatus.OPEN, ItemStatus.IN_PROGRESS):
        raise ItemNotEditable(item.status)
    new_due_date = due_date or item.due_date
    if not item.report_date <= new_due_date <= item.latest_due_date:
        raise DueDateOutsideWindow(item.report_date, item.latest_due_date)
    return [
        ImprovementItemDetailsChanged(
            factory_id=plan.factory_id,
            item_id=item_id,
            root_cause=_kept(root_cause, item.root_cause),
            planned_action=_kept(planned_action, item.planned_action),
            responsible_person=_kept(responsible_person, item.responsible_person),
            due_date=new_due_date,
            changed_by=changed_by,
        )
    ]


def _kept(new: str | None, old: str | None) -> str | None:
    return new if new is not None else old


def change_status(
    plan: Plan,
    item_id: str,
    to: ItemStatus,
    *,
    actor: Actor,
    by: str,
    now: datetime,
    reason: str | None = None,
) -> list[DomainEvent]:
    """Move an item along open → in progress → done → verified, or reopen it (assessor)."""
    item = plan.item(item_id)
    if TRANSITIONS.get((item.status, to)) != actor:
        raise TransitionNotAllowed(item.status, to, allowed_transitions(item.status, actor))
    if to == ItemStatus.DONE:
        missing = [
            name
            for name in ("root_cause", "planned_action", "responsible_person")
            if not getattr(item, name)
        ]
        if missing:
            raise ItemIncomplete(missing)
    factory_id = plan.factory_id
    if to == ItemStatus.VERIFIED:
        return [
            RemediationVerified(
                factory_id=factory_id, item_id=item_id, verified_by=by, verified_at=now
            )
        ]
    if to == ItemStatus.OPEN:
        if not reason or not reason.strip():
            raise ReasonRequired()
        return [
            ImprovementItemReopened(
                factory_id=factory_id,
                item_id=item_id,
                reopened_by=by,
                reason=reason.strip(),
                reopened_at=now,
            )
        ]
    return [
        ImprovementItemStatusChanged(
            factory_id=factory_id,
            item_id=item_id,
            from_status=item.status,
            to_status=to,
            changed_by=by,
            changed_at=now,
        )
    ]


def flag_overdue(plan: Plan, *, today: date, now: datetime) -> list[DomainEvent]:
    """Flag, once each, the items whose due date has passed without verification."""
    return [
        ImprovementItemOverdue(
            factory_id=plan.factory_id,
            item_id=item.item_id,
            due_date=item.due_date,
            detected_at=now,
        )
        for item in sorted(plan.items.values(), key=lambda item: (item.due_date, item.item_id))
        if not item.overdue and item.status != ItemStatus.VERIFIED and item.due_date < today
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


def flag_deadlines(
    plan: Plan, *, today: date, now: datetime, policy: DueDatePolicy
) -> list[DomainEvent]:
    """The scheduler's pass over one plan: overdue items, then a late first publication."""
    return [
        *flag_overdue(plan, today=today, now=now),
        *flag_publication_overdue(plan, today=today, now=now, policy=policy),
    ]


def publish(
    plan: Plan, endorsement: CommitteeMeeting | None, *, now: datetime, policy: DueDatePolicy
) -> list[DomainEvent]:
    """Publish to the factory's buyers, once a new meeting of both sides has endorsed the plan."""
    due = plan.publication_due_date(policy)
    if due is None:
        raise NothingToPublish()
    used = {publication.endorsed_at_meeting for publication in plan.publications}
    if (
        endorsement is None
        or not endorsement.endorses_plan
        or endorsement.meeting_id in used
        or not endorsement.both_sides_present
    ):
        raise EndorsementRequired()
    return [
        ImprovementPlanPublished(
            factory_id=plan.factory_id,
            plan_version=plan.version + 1,
            published_at=now,
            endorsed_at_meeting=endorsement.meeting_id,
            late=not plan.publications and now.date() > due,
        )
    ]
