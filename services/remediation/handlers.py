"""Command handlers, reactions to the assessment service's events, and the deadline pass; the
registries at the end are read by app.py.

Handlers own the unit of work: each runs its aggregate's repository (`Repository.execute`), which
loads, authorizes, checks the expected version, decides, appends and projects in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from libs.domain.aggregate import Change, Loaded
from libs.domain.envelope import DomainEvent, Envelope, EventContext
from libs.events.consumer import BatchHandler, Handler
from libs.events.repository import Repository
from services.remediation import projections, queries
from services.remediation.commands import (
    AddImprovementItem,
    ChangeItemDetails,
    ChangeItemStatus,
    FlagDeadlines,
    LogCommitteeMeeting,
    PublishPlan,
    RecordAssessmentReport,
    SetCommitteeMembers,
)
from services.remediation.domain import committee as committees
from services.remediation.domain import plan as plans
from services.remediation.domain.committee import COMMITTEE, Committee, CommitteeMember
from services.remediation.domain.plan import PLAN, Plan
from services.remediation.domain.policy import DueDatePolicy
from services.remediation.errors import NoSuchPlan
from services.remediation.ids import new_id
from services.remediation.upstream import AssessmentCompleted, NonComplianceFound

log = logging.getLogger(__name__)

# Replicas appending to one plan at once: reload and decide again this many times before the
# consumer runner's own retry (with backoff) takes over.
CONFLICT_RETRIES = 8

# committed plan states each process keeps (a plan is tens of kB)
PLANS_CACHED = 256

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Remediation:
    """What the handlers need: the store, the two repositories, the deadline policy and the
    clock (injectable)."""

    store: Any
    plans: Repository[Plan, Any]
    committees: Repository[Committee, Any]
    policy: DueDatePolicy
    clock: Clock = system_clock

    @classmethod
    def create(
        cls,
        store: Any,
        policy: DueDatePolicy,
        clock: Clock = system_clock,
        *,
        read_models: bool = True,
    ) -> Remediation:
        """The handlers' dependencies on `store`; without `read_models` (the in-memory store of
        the handler tests) nothing is projected."""
        return cls(
            store=store,
            # an item command starts from the plan state the last one committed here
            plans=Repository(
                store,
                PLAN,
                project=projections.plan_projection(policy) if read_models else None,
                cache=PLANS_CACHED,
            ),
            committees=Repository(
                store, COMMITTEE, project=projections.project_committee if read_models else None
            ),
            policy=policy,
            clock=clock,
        )


def require_plan(loaded: Loaded[Plan]) -> None:
    """Commands of the API change an existing plan only: a 404 before the If-Match check."""
    if loaded.version == 0:
        raise NoSuchPlan(loaded.aggregate_id)


# commands of the API -----------------------------------------------------------------------------


async def change_item_details(command: ChangeItemDetails, deps: Remediation) -> Change[Plan]:
    return await deps.plans.execute(
        command.factory_id,
        lambda plan: plans.change_details(
            plan,
            command.item_id,
            root_cause=command.root_cause,
            planned_action=command.planned_action,
            responsible_person=command.responsible_person,
            due_date=command.due_date,
            changed_by=command.changed_by,
        ),
        expected_version=command.expected_version,
        authorize=require_plan,
    )


async def change_item_status(command: ChangeItemStatus, deps: Remediation) -> Change[Plan]:
    now = deps.clock()
    return await deps.plans.execute(
        command.factory_id,
        lambda plan: plans.change_status(
            plan,
            command.item_id,
            command.status,
            actor=command.actor,
            by=command.changed_by,
            now=now,
            reason=command.reason,
        ),
        expected_version=command.expected_version,
        authorize=require_plan,
    )


async def publish_plan(command: PublishPlan, deps: Remediation) -> Change[Plan]:
    """The committee's latest endorsement is read in the same transaction as the plan's append."""
    now = deps.clock()
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        committee = await deps.committees.load(unit, command.factory_id)
        endorsement = committee.state.latest_endorsement
        return await deps.plans.execute(
            command.factory_id,
            lambda plan: plans.publish(plan, endorsement, now=now, policy=deps.policy),
            expected_version=command.expected_version,
            authorize=require_plan,
            unit=unit,
        )


async def set_committee_members(
    command: SetCommitteeMembers, deps: Remediation
) -> Change[Committee]:
    members = [
        CommitteeMember(
            member_id=member.member_id or new_id(),
            name=member.name,
            side=member.side,
            position=member.position,
        )
        for member in command.members
    ]
    return await deps.committees.execute(
        command.factory_id,
        lambda committee: committees.set_members(
            committee,
            factory_id=command.factory_id,
            members=members,
            changed_by=command.changed_by,
        ),
        expected_version=command.expected_version,
    )


async def log_committee_meeting(
    command: LogCommitteeMeeting, deps: Remediation
) -> Change[Committee]:
    today = deps.clock().date()
    meeting_id = new_id()
    return await deps.committees.execute(
        command.factory_id,
        lambda committee: committees.log_meeting(
            committee,
            factory_id=command.factory_id,
            meeting_id=meeting_id,
            held_on=command.held_on,
            attendees=command.attendees,
            decisions=command.decisions,
            endorses_plan=command.endorses_plan,
            logged_by=command.logged_by,
            today=today,
        ),
        expected_version=command.expected_version,
    )


# commands of the reactions and the scheduler: no expected version, so they retry on conflicts ----


def _report_decision(command: RecordAssessmentReport) -> Callable[[Plan], list[DomainEvent]]:
    return lambda plan: plans.record_assessment_report(
        plan,
        factory_id=command.factory_id,
        assessment_id=command.assessment_id,
        cycle=command.cycle,
        report_date=command.report_date,
        non_compliance_count=command.non_compliance_count,
    )


def _item_decision(
    command: AddImprovementItem, deps: Remediation
) -> Callable[[Plan], list[DomainEvent]]:
    return lambda plan: plans.add_item(
        plan,
        factory_id=command.factory_id,
        assessment_id=command.assessment_id,
        cycle=command.cycle,
        report_date=command.report_date,
        cluster_id=command.cluster_id,
        cluster_name=command.cluster_name,
        compliance_point_id=command.compliance_point_id,
        compliance_point_name=command.compliance_point_name,
        question_id=command.question_id,
        question_text=command.question_text,
        critical=command.critical,
        zero_tolerance=command.zero_tolerance,
        evidence=command.evidence,
        policy=deps.policy,
    )


async def record_assessment_report(
    command: RecordAssessmentReport, deps: Remediation, *, connection: Any = None
) -> Change[Plan]:
    return await deps.plans.execute(
        command.factory_id,
        _report_decision(command),
        conflict_retries=CONFLICT_RETRIES,
        connection=connection,
    )


async def add_improvement_item(
    command: AddImprovementItem, deps: Remediation, *, connection: Any = None
) -> Change[Plan]:
    return await deps.plans.execute(
        command.factory_id,
        _item_decision(command, deps),
        conflict_retries=CONFLICT_RETRIES,
        connection=connection,
    )


async def flag_deadlines(command: FlagDeadlines, deps: Remediation) -> Change[Plan]:
    """Safe with several replicas: the plan is appended to at its loaded version, and a plan that
    already flagged an item decides nothing the second time."""
    now = deps.clock()
    return await deps.plans.execute(
        command.factory_id,
        lambda plan: plans.flag_deadlines(plan, today=now.date(), now=now, policy=deps.policy),
        conflict_retries=CONFLICT_RETRIES,
    )


async def flag_due_deadlines(deps: Remediation) -> int:
    """The scheduler's pass: flag every plan with a deadline past; returns the events appended."""
    today = deps.clock().date()
    async with deps.store.reading() as connection:
        factory_ids = await queries.factories_with_due_deadlines(connection, today)
    appended = 0
    for factory_id in factory_ids:
        change = await flag_deadlines(FlagDeadlines(factory_id), deps)
        appended += len(change.events)
    return appended


# reactions to the assessment service: translate the message, run the local command -------------


def _report_command(event: AssessmentCompleted) -> RecordAssessmentReport:
    return RecordAssessmentReport(
        factory_id=event.factory_id,
        assessment_id=event.assessment_id,
        cycle=event.cycle,
        report_date=event.report_date,
        non_compliance_count=event.non_compliance_count,
    )


def _item_command(event: NonComplianceFound) -> AddImprovementItem:
    return AddImprovementItem(
        factory_id=event.factory_id,
        assessment_id=event.assessment_id,
        cycle=event.cycle,
        report_date=event.report_date,
        cluster_id=event.cluster_id,
        cluster_name=event.cluster_name,
        compliance_point_id=event.compliance_point_id,
        compliance_point_name=event.compliance_point_name,
        question_id=event.question_id,
        question_text=event.question_text,
        critical=event.critical,
        zero_tolerance=event.zero_tolerance,
        evidence=event.evidence,
    )


async def on_assessment_completed(
    event: AssessmentCompleted, deps: Remediation, connection: Any
) -> None:
    await record_assessment_report(_report_command(event), deps, connection=connection)


async def on_non_compliance_found(
    event: NonComplianceFound, deps: Remediation, connection: Any
) -> None:
    await add_improvement_item(_item_command(event), deps, connection=connection)


def _decision_for(event: DomainEvent, deps: Remediation) -> Callable[[Plan], list[DomainEvent]]:
    if isinstance(event, AssessmentCompleted):
        return _report_decision(_report_command(event))
    if isinstance(event, NonComplianceFound):
        return _item_decision(_item_command(event), deps)
    raise TypeError(f"no reaction to {type(event).__name__}")


async def on_assessment_events(
    deps: Remediation, connection: Any, batch: Sequence[tuple[Envelope, DomainEvent]]
) -> None:
    """A fetched batch of assessment events at once (the consumer's `batch_handler`): per
    factory, the plan is loaded once, every event of the batch decided on it in delivery order,
    the new events appended in one statement (each with its own event's correlation and
    causation) and the read models upserted once, all in the consumer's transaction. The same
    events and rows as the reactions one by one; on a failure the runner falls back to them."""
    by_factory: dict[str, list[tuple[EventContext, Callable[[Plan], list[DomainEvent]]]]] = {}
    for envelope, event in batch:
        context = EventContext(envelope.correlationid or new_id(), envelope.id)
        decision = _decision_for(event, deps)
        assert isinstance(event, AssessmentCompleted | NonComplianceFound)
        by_factory.setdefault(event.factory_id, []).append((context, decision))
    for factory_id, decisions in by_factory.items():
        await deps.plans.execute_each(
            factory_id, decisions, conflict_retries=CONFLICT_RETRIES, connection=connection
        )


Reaction = Callable[[Any, Remediation, Any], Awaitable[None]]


def consumer_handlers(
    reactions: dict[str, tuple[type[DomainEvent], Reaction]], deps: Remediation
) -> dict[str, Handler]:
    """The reactions as the consumer runner calls them: on its connection, inside its transaction
    (the inbox row and the plan's events commit together)."""

    def bind(event_type: type[DomainEvent], reaction: Reaction) -> Handler:
        async def handle(connection: Any, envelope: Envelope, event: DomainEvent) -> None:
            if not isinstance(event, event_type):
                raise TypeError(f"{envelope.type} decoded as {type(event).__name__}")
            await reaction(event, deps, connection)

        return handle

    return {name: bind(event_type, reaction) for name, (event_type, reaction) in reactions.items()}


def consumer_batch_handler(deps: Remediation) -> BatchHandler:
    """`on_assessment_events` as the consumer runner calls it, on its connection."""

    async def handle(connection: Any, batch: Sequence[tuple[Envelope, DomainEvent]]) -> None:
        await on_assessment_events(deps, connection, batch)

    return handle


COMMAND_HANDLERS: dict[type[Any], Callable[..., Awaitable[Change[Any]]]] = {
    ChangeItemDetails: change_item_details,
    ChangeItemStatus: change_item_status,
    PublishPlan: publish_plan,
    SetCommitteeMembers: set_committee_members,
    LogCommitteeMeeting: log_committee_meeting,
    RecordAssessmentReport: record_assessment_report,
    AddImprovementItem: add_improvement_item,
    FlagDeadlines: flag_deadlines,
}

# by the producer's event name: the event class (our copy) and the reaction to it
EVENT_HANDLERS: dict[str, tuple[type[DomainEvent], Reaction]] = {
    "AssessmentCompleted": (AssessmentCompleted, on_assessment_completed),
    "NonComplianceFound": (NonComplianceFound, on_non_compliance_found),
}
