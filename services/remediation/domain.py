"""Improvement plans and bipartite committees (PICC): the aggregates, their events and their rules.

Pure and synchronous: no I/O, no clock (callers pass `today` / `now`). An aggregate is folded from its
stream; a command method checks the rules, applies the new events to itself and keeps them in
`pending` for the caller to append with `expected_version=version`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from libs.events import DomainEvent

ITEM_NAMESPACE = uuid.UUID("6f1c1a52-3c0e-4c55-9a43-2b7f1c0d9e21")

# Bounds on what grows with use (docs/remediation.md). A committee meets about monthly: 600
# meetings are fifty years of them, and the stream of a committee stays small enough to fold.
MAX_MEMBERS = 100
MAX_MEETINGS = 600
MAX_ATTENDEES = MAX_MEMBERS
MAX_DECISIONS = 50
MAX_DECISION_LENGTH = 2_000


def plan_stream_id(factory_id: str) -> str:
    return f"improvement-plan-{factory_id}"


def committee_stream_id(factory_id: str) -> str:
    return f"committee-{factory_id}"


def item_id_for(assessment_id: str, question_id: str) -> str:
    """Deterministic, so a redelivered or reordered finding always names the same item."""
    return str(uuid.uuid5(ITEM_NAMESPACE, f"{assessment_id}/{question_id}"))


class ItemStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    VERIFIED = "verified"


Actor = Literal["factory", "assessor"]

# (from, to) -> who may make the move; reopening (to open) needs a reason
TRANSITIONS: dict[tuple[ItemStatus, ItemStatus], Actor] = {
    (ItemStatus.OPEN, ItemStatus.IN_PROGRESS): "factory",
    (ItemStatus.IN_PROGRESS, ItemStatus.DONE): "factory",
    (ItemStatus.DONE, ItemStatus.VERIFIED): "assessor",
    (ItemStatus.DONE, ItemStatus.OPEN): "assessor",
    (ItemStatus.VERIFIED, ItemStatus.OPEN): "assessor",
}


def allowed_transitions(current: ItemStatus, actor: Actor | None = None) -> list[ItemStatus]:
    return [
        to
        for (source, to), who in TRANSITIONS.items()
        if source == current and (actor is None or who == actor)
    ]


@dataclass(frozen=True)
class DueDatePolicy:
    """Days from the assessment report to an item's deadline, by severity, and to first publication."""

    zero_tolerance_days: int = 7
    critical_days: int = 30
    other_days: int = 90
    publication_days: int = 30

    def days_for(self, *, critical: bool, zero_tolerance: bool) -> int:
        if zero_tolerance:
            return self.zero_tolerance_days
        return self.critical_days if critical else self.other_days


# errors --------------------------------------------------------------------------------------------


class RemediationError(Exception):
    """A rule of the domain refused the command."""


class ItemNotFound(RemediationError):
    def __init__(self, item_id: str) -> None:
        super().__init__(f"improvement item {item_id} not found")


class TransitionNotAllowed(RemediationError):
    def __init__(self, current: ItemStatus, requested: ItemStatus, allowed: list[ItemStatus]):
        self.current, self.requested, self.allowed = current, requested, allowed
        names = ", ".join(status.value for status in allowed) or "none"
        super().__init__(
            f"cannot move an item from {current.value} to {requested.value}; allowed: {names}"
        )


class ItemNotEditable(RemediationError):
    def __init__(self, status: ItemStatus) -> None:
        super().__init__(f"an item that is {status.value} cannot be edited; reopen it first")


class ItemIncomplete(RemediationError):
    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(f"fill in {', '.join(missing)} before marking the item done")


class ReasonRequired(RemediationError):
    def __init__(self) -> None:
        super().__init__("reopening an item needs a reason")


class DueDateOutsideWindow(RemediationError):
    def __init__(self, earliest: date, latest: date) -> None:
        super().__init__(
            f"the due date must be between {earliest.isoformat()} and {latest.isoformat()}"
        )


class NothingToPublish(RemediationError):
    def __init__(self) -> None:
        super().__init__("the plan has no assessment report yet")


class EndorsementRequired(RemediationError):
    def __init__(self) -> None:
        super().__init__(
            "publishing needs a new committee meeting, with both management and workers present, "
            "that endorsed the plan"
        )


class CommitteeUnbalanced(RemediationError):
    def __init__(self, management: int, workers: int) -> None:
        super().__init__(
            "a committee needs equal, non-zero numbers of management and worker members "
            f"(got {management} management, {workers} worker)"
        )


class UnknownAttendee(RemediationError):
    def __init__(self, member_ids: list[str]) -> None:
        super().__init__(f"not committee members: {', '.join(member_ids)}")


class MeetingInFuture(RemediationError):
    def __init__(self) -> None:
        super().__init__("a meeting can only be logged once it has taken place")


class MeetingLimitReached(RemediationError):
    def __init__(self) -> None:
        super().__init__(f"a committee keeps at most {MAX_MEETINGS} meetings")


# plan events ---------------------------------------------------------------------------------------


class AssessmentReportReceived(DomainEvent):
    factory_id: str
    assessment_id: str
    cycle: int
    report_date: date
    non_compliance_count: int | None = None


class ImprovementItemAdded(DomainEvent):
    factory_id: str
    item_id: str
    assessment_id: str
    cycle: int
    report_date: date
    cluster_id: str
    cluster_name: str = ""
    compliance_point_id: str
    compliance_point_name: str = ""
    question_id: str
    question_text: str = ""
    critical: bool
    zero_tolerance: bool
    persistent: bool
    due_date: date
    evidence: str = ""


class ImprovementItemMarkedPersistent(DomainEvent):
    """An earlier cycle's finding arrived after this item: the same question is found again."""

    factory_id: str
    item_id: str
    previous_item_id: str


class ImprovementItemDetailsChanged(DomainEvent):
    factory_id: str
    item_id: str
    root_cause: str | None
    planned_action: str | None
    responsible_person: str | None
    due_date: date
    changed_by: str


class ImprovementItemStatusChanged(DomainEvent):
    factory_id: str
    item_id: str
    from_status: ItemStatus
    to_status: ItemStatus
    changed_by: str
    changed_at: datetime


class RemediationVerified(DomainEvent):
    factory_id: str
    item_id: str
    verified_by: str
    verified_at: datetime


class ImprovementItemReopened(DomainEvent):
    factory_id: str
    item_id: str
    reopened_by: str
    reason: str
    reopened_at: datetime


class ImprovementItemOverdue(DomainEvent):
    factory_id: str
    item_id: str
    due_date: date
    detected_at: datetime


class ImprovementPlanPublished(DomainEvent):
    factory_id: str
    plan_version: int
    published_at: datetime
    endorsed_at_meeting: str
    late: bool


class ImprovementPlanPublicationOverdue(DomainEvent):
    """The first publication was due and has not happened."""

    factory_id: str
    due_date: date
    detected_at: datetime


class ImprovementPlanUpdated(DomainEvent):
    """The public summary of every plan change: the changed item and the plan's progress."""

    factory_id: str
    plan_version: int
    change: str
    item: dict[str, Any]
    progress: dict[str, Any]


PLAN_EVENTS: tuple[type[DomainEvent], ...] = (
    AssessmentReportReceived,
    ImprovementItemAdded,
    ImprovementItemMarkedPersistent,
    ImprovementItemDetailsChanged,
    ImprovementItemStatusChanged,
    RemediationVerified,
    ImprovementItemReopened,
    ImprovementItemOverdue,
    ImprovementPlanPublished,
    ImprovementPlanPublicationOverdue,
    ImprovementPlanUpdated,
)


# the plan ------------------------------------------------------------------------------------------


class ImprovementItem(BaseModel):
    """One item of the plan as it stands now (also the `item` of ImprovementPlanUpdated)."""

    model_config = ConfigDict(validate_assignment=False)

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


class AssessmentReport(BaseModel):
    assessment_id: str
    cycle: int
    report_date: date


class Publication(BaseModel):
    plan_version: int
    published_at: datetime
    endorsed_at_meeting: str
    late: bool


@dataclass
class ImprovementPlan:
    """A factory's living improvement plan."""

    factory_id: str
    version: int = 0
    items: dict[str, ImprovementItem] = field(default_factory=dict)
    assessments: dict[str, AssessmentReport] = field(default_factory=dict)
    publications: list[Publication] = field(default_factory=list)
    publication_overdue_flagged: bool = False
    pending: list[DomainEvent] = field(default_factory=list)

    @classmethod
    def fold(cls, factory_id: str, events: list[DomainEvent]) -> ImprovementPlan:
        plan = cls(factory_id)
        for event in events:
            plan.apply(event)
        plan.version = len(events)
        return plan

    # derived facts -----------------------------------------------------------------------------

    @property
    def next_version(self) -> int:
        return self.version + len(self.pending)

    @property
    def first_report_date(self) -> date | None:
        dates = [report.report_date for report in self.assessments.values()]
        dates += [item.report_date for item in self.items.values()]
        return min(dates, default=None)

    def publication_due_date(self, policy: DueDatePolicy) -> date | None:
        first = self.first_report_date
        return first + timedelta(days=policy.publication_days) if first else None

    def progress(self) -> dict[str, Any]:
        by_status = {status.value: 0 for status in ItemStatus}
        overdue = 0
        for item in self.items.values():
            by_status[item.status.value] += 1
            if item.overdue and item.status != ItemStatus.VERIFIED:
                overdue += 1
        total = len(self.items)
        verified = by_status[ItemStatus.VERIFIED.value]
        return {
            "by_status": by_status,
            "total": total,
            "share_verified": round(verified / total, 4) if total else 0.0,
            "overdue": overdue,
        }

    def item(self, item_id: str) -> ImprovementItem:
        try:
            return self.items[item_id]
        except KeyError:
            raise ItemNotFound(item_id) from None

    def has_item_for(self, assessment_id: str, question_id: str) -> bool:
        return item_id_for(assessment_id, question_id) in self.items

    # commands ----------------------------------------------------------------------------------

    def record_assessment_report(
        self, assessment_id: str, cycle: int, report_date: date, non_compliance_count: int | None
    ) -> None:
        if assessment_id in self.assessments:
            return  # already known: a redelivery
        self._trigger(
            AssessmentReportReceived(
                factory_id=self.factory_id,
                assessment_id=assessment_id,
                cycle=cycle,
                report_date=report_date,
                non_compliance_count=non_compliance_count,
            )
        )

    def add_item(
        self,
        *,
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
    ) -> None:
        """Add the item for a non-compliance; a finding the plan already has changes nothing."""
        item_id = item_id_for(assessment_id, question_id)
        if item_id in self.items:
            return
        self.record_assessment_report(assessment_id, cycle, report_date, None)
        previous = self._unverified_item(question_id, cycle - 1)
        days = policy.days_for(critical=critical, zero_tolerance=zero_tolerance)
        self._trigger(
            ImprovementItemAdded(
                factory_id=self.factory_id,
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
                persistent=previous is not None,
                due_date=report_date + timedelta(days=days),
                evidence=evidence,
            )
        )
        self._announce("item_added", item_id)
        # the next cycle's finding may have arrived first (out of order): it is persistent too
        following = self._item_for(question_id, cycle + 1)
        if following is not None and not following.persistent:
            self._trigger(
                ImprovementItemMarkedPersistent(
                    factory_id=self.factory_id,
                    item_id=following.item_id,
                    previous_item_id=item_id,
                )
            )
            self._announce("item_updated", following.item_id)

    def change_details(
        self,
        item_id: str,
        *,
        root_cause: str | None,
        planned_action: str | None,
        responsible_person: str | None,
        due_date: date | None,
        changed_by: str,
    ) -> None:
        item = self.item(item_id)
        if item.status not in (ItemStatus.OPEN, ItemStatus.IN_PROGRESS):
            raise ItemNotEditable(item.status)
        new_due_date = due_date or item.due_date
        if not item.report_date <= new_due_date <= item.latest_due_date:
            raise DueDateOutsideWindow(item.report_date, item.latest_due_date)
        self._trigger(
            ImprovementItemDetailsChanged(
                factory_id=self.factory_id,
                item_id=item_id,
                root_cause=root_cause if root_cause is not None else item.root_cause,
                planned_action=planned_action
                if planned_action is not None
                else item.planned_action,
                responsible_person=(
                    responsible_person
                    if responsible_person is not None
                    else item.responsible_person
                ),
                due_date=new_due_date,
                changed_by=changed_by,
            )
        )
        self._announce("item_updated", item_id)

    def change_status(
        self,
        item_id: str,
        to: ItemStatus,
        *,
        actor: Actor,
        by: str,
        now: datetime,
        reason: str | None = None,
    ) -> None:
        """Move an item along open → in progress → done → verified, or reopen it (assessor)."""
        item = self.item(item_id)
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
        if to == ItemStatus.VERIFIED:
            self._trigger(
                RemediationVerified(
                    factory_id=self.factory_id, item_id=item_id, verified_by=by, verified_at=now
                )
            )
            self._announce("verified", item_id)
        elif to == ItemStatus.OPEN:
            if not reason or not reason.strip():
                raise ReasonRequired()
            self._trigger(
                ImprovementItemReopened(
                    factory_id=self.factory_id,
                    item_id=item_id,
                    reopened_by=by,
                    reason=reason.strip(),
                    reopened_at=now,
                )
            )
            self._announce("reopened", item_id)
        else:
            self._trigger(
                ImprovementItemStatusChanged(
                    factory_id=self.factory_id,
                    item_id=item_id,
                    from_status=item.status,
                    to_status=to,
                    changed_by=by,
                    changed_at=now,
                )
            )
            self._announce("status_changed", item_id)

    def flag_overdue(self, today: date, now: datetime) -> None:
        """Flag, once each, the items whose due date has passed without verification."""
        for item in sorted(self.items.values(), key=lambda item: (item.due_date, item.item_id)):
            if item.overdue or item.status == ItemStatus.VERIFIED or item.due_date >= today:
                continue
            self._trigger(
                ImprovementItemOverdue(
                    factory_id=self.factory_id,
                    item_id=item.item_id,
                    due_date=item.due_date,
                    detected_at=now,
                )
            )
            self._announce("overdue", item.item_id)

    def flag_publication_overdue(self, today: date, now: datetime, policy: DueDatePolicy) -> None:
        due = self.publication_due_date(policy)
        if due is None or self.publications or self.publication_overdue_flagged or due >= today:
            return
        self._trigger(
            ImprovementPlanPublicationOverdue(
                factory_id=self.factory_id, due_date=due, detected_at=now
            )
        )

    def publish(
        self, endorsement: CommitteeMeeting | None, now: datetime, policy: DueDatePolicy
    ) -> None:
        """Publish to the factory's buyers, once a new meeting of both sides has endorsed the plan."""
        due = self.publication_due_date(policy)
        if due is None:
            raise NothingToPublish()
        used = {publication.endorsed_at_meeting for publication in self.publications}
        if (
            endorsement is None
            or not endorsement.endorses_plan
            or endorsement.meeting_id in used
            or not endorsement.both_sides_present
        ):
            raise EndorsementRequired()
        self._trigger(
            ImprovementPlanPublished(
                factory_id=self.factory_id,
                plan_version=self.next_version + 1,
                published_at=now,
                endorsed_at_meeting=endorsement.meeting_id,
                late=not self.publications and now.date() > due,
            )
        )

    # folding -----------------------------------------------------------------------------------

    def apply(self, event: DomainEvent) -> None:
        match event:
            case AssessmentReportReceived():
                self.assessments[event.assessment_id] = AssessmentReport(
                    assessment_id=event.assessment_id,
                    cycle=event.cycle,
                    report_date=event.report_date,
                )
            case ImprovementItemAdded():
                self.items[event.item_id] = ImprovementItem(
                    **event.model_dump(exclude={"due_date"}),
                    due_date=event.due_date,
                    latest_due_date=event.due_date,
                )
            case ImprovementItemMarkedPersistent():
                self.items[event.item_id].persistent = True
            case ImprovementItemDetailsChanged():
                item = self.items[event.item_id]
                item.root_cause = event.root_cause
                item.planned_action = event.planned_action
                item.responsible_person = event.responsible_person
                item.due_date = event.due_date
            case ImprovementItemStatusChanged():
                self.items[event.item_id].status = event.to_status
            case RemediationVerified():
                item = self.items[event.item_id]
                item.status = ItemStatus.VERIFIED
                item.verified_by = event.verified_by
                item.verified_at = event.verified_at
            case ImprovementItemReopened():
                item = self.items[event.item_id]
                item.status = ItemStatus.OPEN
                item.reopen_reason = event.reason
                item.verified_by = item.verified_at = None
            case ImprovementItemOverdue():
                self.items[event.item_id].overdue = True
            case ImprovementPlanPublished():
                self.publications.append(
                    Publication(
                        plan_version=event.plan_version,
                        published_at=event.published_at,
                        endorsed_at_meeting=event.endorsed_at_meeting,
                        late=event.late,
                    )
                )
            case ImprovementPlanPublicationOverdue():
                self.publication_overdue_flagged = True
            case _:
                pass  # ImprovementPlanUpdated is a summary of the facts above

    def _trigger(self, event: DomainEvent) -> None:
        self.apply(event)
        self.pending.append(event)

    def _announce(self, change: str, item_id: str) -> None:
        self.pending.append(
            ImprovementPlanUpdated(
                factory_id=self.factory_id,
                plan_version=self.next_version + 1,
                change=change,
                item=self.items[item_id].model_dump(mode="json"),
                progress=self.progress(),
            )
        )

    def _item_for(self, question_id: str, cycle: int) -> ImprovementItem | None:
        for item in self.items.values():
            if item.question_id == question_id and item.cycle == cycle:
                return item
        return None

    def _unverified_item(self, question_id: str, cycle: int) -> ImprovementItem | None:
        item = self._item_for(question_id, cycle)
        return item if item is not None and item.status != ItemStatus.VERIFIED else None


# the committee -------------------------------------------------------------------------------------


class Side(StrEnum):
    MANAGEMENT = "management"
    WORKER = "worker"


class CommitteeMember(BaseModel):
    model_config = ConfigDict(frozen=True)

    member_id: str
    name: str
    side: Side
    position: str | None = None


class CommitteeMeeting(BaseModel):
    model_config = ConfigDict(frozen=True)

    meeting_id: str
    held_on: date
    attendees: list[str]
    attendee_sides: list[Side]
    decisions: list[str]
    endorses_plan: bool

    @property
    def both_sides_present(self) -> bool:
        return Side.MANAGEMENT in self.attendee_sides and Side.WORKER in self.attendee_sides


class CommitteeMembersChanged(DomainEvent):
    factory_id: str
    members: list[CommitteeMember]
    changed_by: str


class CommitteeMeetingHeld(DomainEvent):
    factory_id: str
    meeting: CommitteeMeeting
    logged_by: str


class CommitteeUpdated(DomainEvent):
    """The public summary of every committee change."""

    factory_id: str
    committee_version: int
    change: str
    members: list[CommitteeMember]
    meeting: CommitteeMeeting | None = None


COMMITTEE_EVENTS: tuple[type[DomainEvent], ...] = (
    CommitteeMembersChanged,
    CommitteeMeetingHeld,
    CommitteeUpdated,
)


@dataclass
class Committee:
    """A factory's performance improvement consultative committee."""

    factory_id: str
    version: int = 0
    members: list[CommitteeMember] = field(default_factory=list)
    meetings: list[CommitteeMeeting] = field(default_factory=list)
    pending: list[DomainEvent] = field(default_factory=list)

    @classmethod
    def fold(cls, factory_id: str, events: list[DomainEvent]) -> Committee:
        committee = cls(factory_id)
        for event in events:
            committee.apply(event)
        committee.version = len(events)
        return committee

    @property
    def latest_endorsement(self) -> CommitteeMeeting | None:
        """The most recent meeting where both sides endorsed the plan."""
        endorsing = [m for m in self.meetings if m.endorses_plan and m.both_sides_present]
        return max(endorsing, key=lambda meeting: meeting.held_on, default=None)

    def set_members(self, members: list[CommitteeMember], changed_by: str) -> None:
        management = sum(1 for member in members if member.side == Side.MANAGEMENT)
        workers = len(members) - management
        if management == 0 or management != workers:
            raise CommitteeUnbalanced(management, workers)
        self._trigger(
            CommitteeMembersChanged(
                factory_id=self.factory_id, members=members, changed_by=changed_by
            )
        )
        self._announce("members_changed", None)

    def log_meeting(
        self,
        *,
        meeting_id: str,
        held_on: date,
        attendees: list[str],
        decisions: list[str],
        endorses_plan: bool,
        logged_by: str,
        today: date,
    ) -> None:
        if held_on > today:
            raise MeetingInFuture()
        if len(self.meetings) >= MAX_MEETINGS:
            raise MeetingLimitReached()
        sides = {member.member_id: member.side for member in self.members}
        unknown = [member_id for member_id in attendees if member_id not in sides]
        if unknown or not attendees:
            raise UnknownAttendee(unknown or ["(no attendees)"])
        unique_attendees = list(dict.fromkeys(attendees))
        meeting = CommitteeMeeting(
            meeting_id=meeting_id,
            held_on=held_on,
            attendees=unique_attendees,
            attendee_sides=sorted({sides[member_id] for member_id in unique_attendees}),
            decisions=decisions,
            endorses_plan=endorses_plan,
        )
        self._trigger(
            CommitteeMeetingHeld(factory_id=self.factory_id, meeting=meeting, logged_by=logged_by)
        )
        self._announce("meeting_held", meeting)

    def apply(self, event: DomainEvent) -> None:
        match event:
            case CommitteeMembersChanged():
                self.members = list(event.members)
            case CommitteeMeetingHeld():
                self.meetings.append(event.meeting)
            case _:
                pass

    def _trigger(self, event: DomainEvent) -> None:
        self.apply(event)
        self.pending.append(event)

    def _announce(self, change: str, meeting: CommitteeMeeting | None) -> None:
        self.pending.append(
            CommitteeUpdated(
                factory_id=self.factory_id,
                committee_version=self.version + len(self.pending) + 1,
                change=change,
                members=self.members,
                meeting=meeting,
            )
        )
