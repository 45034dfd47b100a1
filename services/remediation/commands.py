"""What callers ask the remediation service to do (imperative names): from the API, from the
reactions to assessment and advisory events, and from the deadline scheduler."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from libs.domain.envelope import ImportOrigin
from services.remediation.domain.capacity import Activity
from services.remediation.domain.committee import CommitteeMember, Side
from services.remediation.domain.finding import Finding
from services.remediation.domain.history import ItemHistory, MeetingHistory
from services.remediation.domain.plan_events import Actor, ItemStatus


@dataclass(frozen=True)
class RecordAssessmentReport:
    """`imported_from`: the history bundle of an imported report, recorded at `imported_at`."""

    factory_id: str
    assessment_id: str
    cycle: int
    report_date: date
    non_compliance_count: int | None = None
    country: str | None = None
    imported_from: str | None = None
    imported_at: datetime | None = None


@dataclass(frozen=True)
class AddImprovementItem:
    """`imported_from`: the history bundle of an imported finding, recorded at `imported_at`."""

    factory_id: str
    finding: Finding
    evidence: str
    imported_from: str | None = None
    imported_at: datetime | None = None


@dataclass(frozen=True)
class RecordCapacityBuilding:
    """Record a training session or advisory visit the advisory service reported for the
    factory's plan items (the reaction to its public events)."""

    factory_id: str
    activity: Activity


@dataclass(frozen=True)
class ChangeItemDetails:
    factory_id: str
    item_id: str
    root_cause: str | None
    planned_action: str | None
    responsible_person: str | None
    due_date: date | None
    changed_by: str
    expected_version: int | None = None


@dataclass(frozen=True)
class ChangeItemStatus:
    factory_id: str
    item_id: str
    status: ItemStatus
    actor: Actor
    changed_by: str
    reason: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True)
class PublishPlan:
    factory_id: str
    published_by: str
    expected_version: int | None = None


@dataclass(frozen=True)
class FlagDeadlines:
    """Flag the plan's items past due and a late first publication (the scheduler's command)."""

    factory_id: str


@dataclass(frozen=True)
class NewMember:
    member_id: str | None
    name: str
    side: Side
    position: str | None = None


@dataclass(frozen=True)
class SetCommitteeMembers:
    factory_id: str
    members: list[NewMember]
    changed_by: str
    expected_version: int | None = None


@dataclass(frozen=True)
class LogCommitteeMeeting:
    factory_id: str
    held_on: date
    attendees: list[str]
    decisions: list[str]
    endorses_plan: bool
    logged_by: str
    expected_version: int | None = None


@dataclass(frozen=True)
class ImportItemHistories:
    """Import the plan details and status histories of a factory's items from a programme's
    history, each fact at its business time and attributed to its record (`origins`, one per
    history)."""

    factory_id: str
    histories: tuple[ItemHistory, ...]
    origins: tuple[ImportOrigin, ...]


@dataclass(frozen=True)
class ImportCommittee:
    """Import a factory's committee from a programme's history: its members (with their ids) as
    of `established_on`, and its meetings."""

    factory_id: str
    members: tuple[CommitteeMember, ...]
    established_on: date
    meetings: tuple[MeetingHistory, ...]
    origin: ImportOrigin
