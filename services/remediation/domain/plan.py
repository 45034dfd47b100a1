"""The improvement plan's rules: the pure `decide` functions of its commands, which take the
plan's state and return new events or raise a domain error.

No I/O and no clock: callers pass `today` / `now` and the due-date policy.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from libs.domain.aggregate import Decided
from libs.domain.envelope import DomainEvent
from services.remediation.domain.committee import CommitteeMeeting
from services.remediation.domain.finding import Finding
from services.remediation.domain.plan_events import (
    TRANSITIONS,
    Actor,
    AssessmentReportReceived,
    ImprovementItemAdded,
    ImprovementItemDetailsChanged,
    ImprovementItemMarkedPersistent,
    ImprovementItemReopened,
    ImprovementItemStatusChanged,
    ImprovementPlanPublished,
    ItemStatus,
    RemediationVerified,
    allowed_transitions,
)
from services.remediation.domain.plan_state import Plan, evolve
from services.remediation.domain.policy import DueDatePolicy
from services.remediation.domain.publication import check_publication_fits
from services.remediation.errors import (
    DueDateOutsideWindow,
    EndorsementRequired,
    ItemIncomplete,
    ItemNotEditable,
    NothingToPublish,
    ReasonRequired,
    TransitionNotAllowed,
)
from services.remediation.ids import item_id_for


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
    country: str | None = None,
    imported_from: str | None = None,
    imported_at: datetime | None = None,
) -> list[DomainEvent]:
    """Record the report once; a report first known from one of its findings is recorded again
    when its completion brings the factory's country. `imported_from`: the history bundle of an
    imported report, recorded at `imported_at`."""
    known = plan.assessments.get(assessment_id)
    if known is not None and (country is None or known.country == country):
        return []  # already known: a redelivery
    return [
        AssessmentReportReceived(
            factory_id=factory_id,
            assessment_id=assessment_id,
            cycle=cycle,
            report_date=report_date,
            non_compliance_count=non_compliance_count,
            country=country,
            imported_from=imported_from,
            imported_at=imported_at if imported_from is not None else None,
        )
    ]


def add_item(
    plan: Plan,
    *,
    factory_id: str,
    finding: Finding,
    evidence: str,
    policy: DueDatePolicy,
    imported_from: str | None = None,
    imported_at: datetime | None = None,
) -> list[DomainEvent]:
    """Add the item for a non-compliance; a finding the plan already has changes nothing. The
    due date counts from the report date (business time: an imported report's is in the past);
    an item of an imported assessment names its bundle and when it was recorded here."""
    item_id = item_id_for(finding.assessment_id, finding.question_id)
    if item_id in plan.items:
        return []
    decision = _Decision(plan)
    for event in record_assessment_report(
        plan,
        factory_id=factory_id,
        assessment_id=finding.assessment_id,
        cycle=finding.cycle,
        report_date=finding.report_date,
        non_compliance_count=None,
        imported_from=imported_from,
        imported_at=imported_at,
    ):
        decision(event)
    previous = plan.item_for(finding.question_id, finding.cycle - 1)
    days = policy.days_for(critical=finding.critical, zero_tolerance=finding.zero_tolerance)
    decision(
        ImprovementItemAdded(
            **finding.finding_fields(),
            factory_id=factory_id,
            item_id=item_id,
            persistent=previous is not None and previous.status != ItemStatus.VERIFIED,
            due_date=finding.report_date + timedelta(days=days),
            evidence=evidence,
            imported_from=imported_from,
            imported_at=imported_at if imported_from is not None else None,
        )
    )
    # the next cycle's finding may have arrived first (out of order): it is persistent too
    following = plan.item_for(finding.question_id, finding.cycle + 1)
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


def publish(
    plan: Plan, endorsement: CommitteeMeeting | None, *, now: datetime, policy: DueDatePolicy
) -> list[DomainEvent]:
    """Publish to the factory's buyers, once a new meeting of both sides has endorsed the plan:
    the publication carries the content of its items (see `publication.carried_items`), which
    must fit one message."""
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
    check_publication_fits(plan, plan.version + 1)
    return [
        ImprovementPlanPublished(
            factory_id=plan.factory_id,
            plan_version=plan.version + 1,
            published_at=now,
            endorsed_at_meeting=endorsement.meeting_id,
            late=not plan.publications and now.date() > due,
        )
    ]
