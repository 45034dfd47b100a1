"""The remediation service's public events: its contract with other services (buyer sharing,
notifications) and with buyers' webhooks, typed, versioned and documented (docs/asyncapi.yaml).

Translated from the internal events in one place (`translate`), with the plan's or committee's
state after each event. Committee members are workers' and managers' representatives: their names
never leave the service, only the committee's make-up and meetings. The person responsible for an
item is not published either (only whether the item has one).

The publication gate (docs/remediation.md, "Publication"): an item's content (root cause, planned
action, whether it has an owner, the factory's own due date) leaves the service only with the
publication that first carries it, `ImprovementPlanPublished`, which holds the published plan;
from then on that item's changes follow in `ImprovementPlanUpdated`. Before it, the item's public
summary carries its finding, status and the programme's deadline only, and an edit of its details
publishes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.domain.contract import PublicContract
from libs.domain.envelope import DomainEvent
from services.remediation.domain import committee as committee_events
from services.remediation.domain import plan_events
from services.remediation.domain.capacity import CapacityBuilding
from services.remediation.domain.committee import Committee, Side
from services.remediation.domain.finding import Finding
from services.remediation.domain.plan_state import ImprovementItem, Plan
from services.remediation.domain.policy import DueDatePolicy
from services.remediation.domain.publication import carried_items

SERVICE = "remediation"

ItemStatus = Literal["open", "in_progress", "done", "verified"]
# A publication changes no item: it is ImprovementPlanPublished alone.
PlanChange = Literal[
    "item_added", "item_updated", "status_changed", "verified", "reopened", "overdue"
]


class PublicModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _PlanItemKey(PublicModel):
    item_id: str


class PlanItem(Finding, _PlanItemKey):
    """One item of a factory's improvement plan, as it stands after the change. Its content (root
    cause, planned action, owner, the factory's own due date) is null or the programme's until a
    publication of the plan carried the item (`published`)."""

    # the item's id first, then the finding's fields, two of them documented or bounded here
    assessment_id: str = Field(description="The assessment whose non-compliance it remedies.")
    cycle: int = Field(ge=1)
    persistent: bool = Field(description="Found again in a later cycle.")
    status: ItemStatus
    due_date: date = Field(
        description="The date the item is held to: the factory's own once published, until then "
        "the programme's deadline (report date plus the days for its severity)."
    )
    overdue: bool = Field(description="Past its due date and not verified.")
    published: bool = Field(
        False,
        description="A publication of the plan carried the item: its content is public from then "
        "(absent in events published before the publication gate).",
    )
    root_cause: str | None = Field(description="Null until published (or not filled in).")
    planned_action: str | None = Field(description="Null until published (or not filled in).")
    owner_assigned: bool | None = Field(
        None,
        description="Whether someone is responsible for the item (never who); null until published.",
    )
    verified_at: datetime | None


class PlanProgress(PublicModel):
    """The plan's progress after the change."""

    total: int = Field(ge=0, description="Items in the plan.")
    open: int = Field(ge=0)
    in_progress: int = Field(ge=0)
    done: int = Field(ge=0, description="Done by the factory, awaiting verification.")
    verified: int = Field(ge=0, description="Verified by an enterprise advisor.")
    overdue: int = Field(ge=0, description="Past their due date and not verified.")
    share_verified: float = Field(ge=0, le=1)
    published: bool = Field(description="The plan was published to buyers at least once.")
    publication_due_date: date | None = Field(
        description="When the first publication is due (30 days after the first report)."
    )
    publication_late: bool = Field(
        description="First published late, or still unpublished past due."
    )


class ImprovementPlanUpdated(DomainEvent):
    """A factory's improvement plan changed: the changed item and the plan's progress.

    Before a publication carried the item, it names the item's finding, status and the
    programme's deadline only (`item.published` false: no root cause, action or owner), and an
    edit of the item's details publishes nothing; once published, every change of the item
    follows with its content. Buyers receive it only for a published plan
    (`progress.published`)."""

    factory_id: str
    plan_version: int = Field(ge=1, description="The plan's version after the change.")
    change: PlanChange
    item: PlanItem
    progress: PlanProgress


class RemediationVerified(DomainEvent):
    """An enterprise advisor verified that an item was remedied."""

    factory_id: str
    item_id: str
    assessment_id: str
    question_id: str
    verified_at: datetime


class ImprovementItemOverdue(DomainEvent):
    """An item passed its due date without being verified (published once per item and due date)."""

    factory_id: str
    item_id: str
    question_id: str
    critical: bool
    due_date: date
    detected_at: datetime


class ImprovementPlanPublished(DomainEvent):
    """The factory published its plan to its buyers, endorsed by its committee: the one event that
    carries the published plan's content.

    `items` holds every item still to verify and every item whose content this publication makes
    public first, with root cause, planned action, owner and the factory's due dates; verified
    items an earlier publication carried are left out (their content was published then). Added
    to version 1 (additive: events published before it have neither `items` nor `progress`)."""

    factory_id: str
    plan_version: int = Field(ge=1)
    published_at: datetime
    late: bool = Field(description="The first publication came after its due date.")
    items: tuple[PlanItem, ...] = Field(
        default=(), description="The published items, by due date (see the description)."
    )
    progress: PlanProgress | None = Field(
        default=None, description="The plan's progress as published."
    )


class ImprovementPlanPublicationOverdue(DomainEvent):
    """The plan's first publication is past due."""

    factory_id: str
    due_date: date
    detected_at: datetime


class CommitteeUpdated(DomainEvent):
    """The factory's bipartite committee (PICC) changed its make-up or met."""

    factory_id: str
    committee_version: int = Field(ge=1)
    change: Literal["members_changed", "meeting_held"]
    management_members: int = Field(ge=0)
    worker_members: int = Field(ge=0)
    balanced: bool = Field(description="Equal numbers of management and worker members.")
    meetings: int = Field(ge=0, description="Meetings logged so far.")
    last_meeting_on: date | None
    plan_endorsed_on: date | None = Field(
        description="The latest meeting, with both sides present, that endorsed the plan."
    )


PUBLIC_EVENTS: tuple[type[DomainEvent], ...] = (
    ImprovementPlanUpdated,
    RemediationVerified,
    ImprovementItemOverdue,
    ImprovementPlanPublished,
    ImprovementPlanPublicationOverdue,
    CommitteeUpdated,
)


def _item(item: ImprovementItem) -> PlanItem:
    """The item's public summary: its content only once a publication carried it."""
    published = item.published
    return PlanItem(
        item_id=item.item_id,
        **item.finding_fields(),
        persistent=item.persistent,
        status=item.status.value,
        due_date=item.binding_due_date,
        overdue=item.overdue_now,
        published=published,
        root_cause=item.root_cause if published else None,
        planned_action=item.planned_action if published else None,
        owner_assigned=bool(item.responsible_person) if published else None,
        verified_at=item.verified_at,
    )


def _progress(plan: Plan, policy: DueDatePolicy) -> PlanProgress:
    progress = plan.progress()
    return PlanProgress(
        total=progress.total,
        open=progress.open,
        in_progress=progress.in_progress,
        done=progress.done,
        verified=progress.verified,
        overdue=progress.overdue,
        share_verified=progress.share_verified,
        published=bool(plan.publications),
        publication_due_date=plan.publication_due_date(policy),
        publication_late=plan.publication_late,
    )


def _plan_updated(
    plan: Plan, change: PlanChange, item_id: str, policy: DueDatePolicy
) -> ImprovementPlanUpdated:
    return ImprovementPlanUpdated(
        factory_id=plan.factory_id,
        plan_version=plan.version,
        change=change,
        item=_item(plan.items[item_id]),
        progress=_progress(plan, policy),
    )


# Each plan fact that changes an item, and how its public summary names the change.
ITEM_CHANGES: dict[type[DomainEvent], PlanChange] = {
    plan_events.ImprovementItemAdded: "item_added",
    plan_events.ImprovementItemMarkedPersistent: "item_updated",
    plan_events.ImprovementItemPersistenceRevised: "item_updated",
    plan_events.ImprovementItemDetailsChanged: "item_updated",
    plan_events.ImprovementItemStatusChanged: "status_changed",
    plan_events.RemediationVerified: "verified",
    plan_events.ImprovementItemReopened: "reopened",
    plan_events.ImprovementItemOverdue: "overdue",
}


def _translate_plan(event: DomainEvent, plan: Plan, policy: DueDatePolicy) -> list[DomainEvent]:
    published: list[DomainEvent] = []
    item_id = getattr(event, "item_id", None)
    item = plan.items.get(item_id) if isinstance(item_id, str) else None
    if isinstance(event, plan_events.RemediationVerified) and item is not None:
        published.append(
            RemediationVerified(
                factory_id=event.factory_id,
                item_id=event.item_id,
                assessment_id=item.assessment_id,
                question_id=item.question_id,
                verified_at=event.verified_at,
            )
        )
    elif isinstance(event, plan_events.ImprovementItemOverdue) and item is not None:
        published.append(
            ImprovementItemOverdue(
                factory_id=event.factory_id,
                item_id=event.item_id,
                question_id=item.question_id,
                critical=item.critical,
                due_date=event.due_date,
                detected_at=event.detected_at,
            )
        )
    elif isinstance(event, plan_events.ImprovementPlanPublished):
        published.append(
            ImprovementPlanPublished(
                factory_id=event.factory_id,
                plan_version=event.plan_version,
                published_at=event.published_at,
                late=event.late,
                items=tuple(_item(item) for item in carried_items(plan, event.plan_version)),
                progress=_progress(plan, policy),
            )
        )
    elif isinstance(event, plan_events.ImprovementPlanPublicationOverdue):
        published.append(
            ImprovementPlanPublicationOverdue(
                factory_id=event.factory_id, due_date=event.due_date, detected_at=event.detected_at
            )
        )
    change = ITEM_CHANGES.get(type(event))
    if change is not None and item is not None:
        if isinstance(event, plan_events.ImprovementItemDetailsChanged) and not item.published:
            return published  # a draft's details: nothing public changed
        published.append(_plan_updated(plan, change, item.item_id, policy))
    return published


def _committee_updated(
    committee: Committee, change: Literal["members_changed", "meeting_held"]
) -> CommitteeUpdated:
    management = committee.count(Side.MANAGEMENT)
    workers = committee.count(Side.WORKER)
    endorsement = committee.latest_endorsement
    return CommitteeUpdated(
        factory_id=committee.factory_id,
        committee_version=committee.version,
        change=change,
        management_members=management,
        worker_members=workers,
        balanced=management == workers and management > 0,
        meetings=len(committee.meetings),
        last_meeting_on=max((m.held_on for m in committee.meetings), default=None),
        plan_endorsed_on=endorsement.held_on if endorsement is not None else None,
    )


def translator(policy: DueDatePolicy) -> Callable[[DomainEvent, Any], Sequence[DomainEvent]]:
    """`translate` for a deployment's due-date policy (the progress names the publication's due
    date, which the policy sets)."""

    def translate_with_policy(event: DomainEvent, state: Any) -> Sequence[DomainEvent]:
        """The public events an internal event publishes, given the aggregate's state right after
        it; every field is mapped by name here, so an internal change cannot silently change the
        contract. The report's arrival, the older stored summaries and the capacity building
        recorded from the advisory service's events (already public there) publish nothing."""
        if isinstance(state, Plan):
            return _translate_plan(event, state, policy)
        if isinstance(state, Committee):
            if isinstance(event, committee_events.CommitteeMembersChanged):
                return [_committee_updated(state, "members_changed")]
            if isinstance(event, committee_events.CommitteeMeetingHeld):
                return [_committee_updated(state, "meeting_held")]
            return []
        if isinstance(state, CapacityBuilding):
            return []
        # Every remediation event is appended by the aggregate repository, which passes the state.
        raise TypeError(f"{event.event_name} needs the aggregate's state to be translated")

    return translate_with_policy


translate = translator(DueDatePolicy())


def contract(policy: DueDatePolicy) -> PublicContract:
    return PublicContract.of(SERVICE, PUBLIC_EVENTS, translator(policy))


CONTRACT = contract(DueDatePolicy())
