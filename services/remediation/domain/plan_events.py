"""The improvement plan's vocabulary: item statuses, who may move an item where, and the plan's
internal events (its history: frozen facts that must always decode, so no input constraints here)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from libs.domain.envelope import DomainEvent
from services.remediation.domain.finding import ReportedFinding


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


class AssessmentReportReceived(DomainEvent):
    """The report of a completed assessment (or of a finding that came before its completion,
    then recorded again with the country once the completion arrives). `country`: the factory's,
    as the report states it (None in histories from before it was kept). `imported_from`: the
    history bundle of an imported report, recorded here at `imported_at` (both None for a report
    of the live system)."""

    factory_id: str
    assessment_id: str
    cycle: int
    report_date: date
    non_compliance_count: int | None = None
    country: str | None = None
    imported_from: str | None = None
    imported_at: datetime | None = None


class ImprovementItemAdded(ReportedFinding, DomainEvent):
    """The item for a finding: the finding's fields, and what the plan made of it. An item of an
    imported assessment names its history bundle (`imported_from`) and when it was recorded here
    (`imported_at`): a deadline that had passed by then is history, not news."""

    factory_id: str
    item_id: str
    persistent: bool
    due_date: date
    evidence: str = ""
    imported_from: str | None = None
    imported_at: datetime | None = None


class ImprovementItemMarkedPersistent(DomainEvent):
    """An earlier cycle's finding arrived after this item: the same question is found again."""

    factory_id: str
    item_id: str
    previous_item_id: str


class ImprovementItemPersistenceRevised(DomainEvent):
    """An imported status history showed whether the previous cycle's item of the same question
    was still unverified on this item's report date (persistent) or verified before it: the item
    was added before that history arrived, so its `persistent` is set again by business time."""

    factory_id: str
    item_id: str
    persistent: bool
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
    """No longer decided: older histories hold these summaries of each plan change, so the class
    stays registered for them to decode. The plan ignores them (its facts are the other events);
    the public summary is computed by contract.translate."""

    factory_id: str
    plan_version: int
    change: str
    item: dict[str, Any]
    progress: dict[str, Any]


PLAN_EVENTS: tuple[type[DomainEvent], ...] = (
    AssessmentReportReceived,
    ImprovementItemAdded,
    ImprovementItemMarkedPersistent,
    ImprovementItemPersistenceRevised,
    ImprovementItemDetailsChanged,
    ImprovementItemStatusChanged,
    RemediationVerified,
    ImprovementItemReopened,
    ImprovementItemOverdue,
    ImprovementPlanPublished,
    ImprovementPlanPublicationOverdue,
    ImprovementPlanUpdated,
)
