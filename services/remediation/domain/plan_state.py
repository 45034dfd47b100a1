"""The improvement plan's state: its items, reports and publications, folded from the plan's
events by `evolve`, with the tally that keeps its progress without passing over every item, and
the `AggregateType` the repository loads it with (snapshots included)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from libs.domain.aggregate import AggregateType, Snapshots
from libs.domain.envelope import DomainEvent
from services.remediation.domain.finding import Finding
from services.remediation.domain.plan_events import (
    AssessmentReportReceived,
    ImprovementItemAdded,
    ImprovementItemDetailsChanged,
    ImprovementItemMarkedPersistent,
    ImprovementItemOverdue,
    ImprovementItemPersistenceRevised,
    ImprovementItemReopened,
    ImprovementItemStatusChanged,
    ImprovementPlanPublicationOverdue,
    ImprovementPlanPublished,
    ItemStatus,
    RemediationVerified,
)
from services.remediation.domain.policy import DueDatePolicy
from services.remediation.errors import ItemNotFound
from services.remediation.ids import PLAN_STREAM_PREFIX


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ImprovementItem(Finding):
    """One item of the plan as it stands now: its finding, and what was done about it."""

    item_id: str
    factory_id: str
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
    # the plan version of the publication that first carried the item's content to buyers; None:
    # a draft (its root cause, action, owner and the factory's own due date stay here)
    published_in: int | None = None
    # an item of an imported assessment: its history bundle, and when it was recorded here
    imported_from: str | None = None
    imported_at: datetime | None = None

    @property
    def overdue_now(self) -> bool:
        """Flagged overdue and not verified since."""
        return self.overdue and self.status != ItemStatus.VERIFIED

    @property
    def published(self) -> bool:
        return self.published_in is not None

    @property
    def binding_due_date(self) -> date:
        """The due date the item is held to: the factory's own once a publication carried it,
        until then the programme's deadline (a draft commits no one)."""
        return self.due_date if self.published else self.latest_due_date


def carried_by_publication(item: ImprovementItem, plan_version: int) -> bool:
    """Whether the publication at `plan_version` carries the item: every item still to verify,
    and every item whose content it makes public first. A verified item that an earlier
    publication carried is left out: buyers have its content, and a plan of many cycles would
    otherwise outgrow one message."""
    return item.status != ItemStatus.VERIFIED or item.published_in in (None, plan_version)


class AssessmentReport(Frozen):
    assessment_id: str
    cycle: int
    report_date: date
    country: str | None = None
    # an imported report: its history bundle, and when it was recorded here
    imported_from: str | None = None
    imported_at: datetime | None = None


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
        # built from counts and the slots already validated: validating the slots again on every
        # item change made each change cost in proportion to the plan's items
        return Tally.model_construct(
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

    @property
    def country(self) -> str | None:
        """The factory's country as its latest report that states one says (None: no report
        stated it yet; only the headquarters' staff then reach the plan)."""
        stated = [report for report in self.assessments.values() if report.country]
        if not stated:
            return None
        latest = max(stated, key=lambda report: (report.report_date, report.cycle))
        return latest.country

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
            known = plan.assessments.get(event.assessment_id)
            report = AssessmentReport(
                assessment_id=event.assessment_id,
                cycle=event.cycle,
                report_date=event.report_date,
                country=event.country or (known.country if known else None),
                imported_from=event.imported_from or (known.imported_from if known else None),
                imported_at=event.imported_at or (known.imported_at if known else None),
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
        case ImprovementItemPersistenceRevised():
            _with_item(plan, changes, event.item_id, persistent=event.persistent)
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
            # the publication carries every draft item's content: from now on its changes follow
            changes["items"] = {
                item_id: item
                if item.published
                else item.model_copy(update={"published_in": event.plan_version})
                for item_id, item in plan.items.items()
            }
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
        version=3,  # 2: with the tally; 3: with the items' publication and the reports' country
    ),
)
