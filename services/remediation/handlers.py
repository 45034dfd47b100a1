"""Command handlers of the remediation service, `async def verb(command, deps) -> Change`, and the
registry `COMMAND_HANDLERS` the service definition runs them through.

Handlers own the unit of work: each runs its aggregate's repository (`Repository.execute`), which
loads, authorizes, checks the expected version, decides, appends and projects in one transaction.
A command of the API answers with the row it left (`Change.answer`, worked out in that same
transaction from the state the projection wrote); the reactions and the scheduler need no answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from libs.domain.aggregate import Change, Loaded
from libs.domain.envelope import DomainEvent, EventContext, ImportOrigin, current_context
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
    RecordCapacityBuilding,
    SetCommitteeMembers,
)
from services.remediation.domain import capacity as capacities
from services.remediation.domain import committee as committees
from services.remediation.domain import deadlines
from services.remediation.domain import plan as plans
from services.remediation.domain.capacity import CAPACITY, CapacityBuilding
from services.remediation.domain.committee import COMMITTEE, Committee, CommitteeMember
from services.remediation.domain.plan_state import PLAN, Plan
from services.remediation.domain.policy import DueDatePolicy
from services.remediation.domain.views import committee_summary, item_row, plan_summary
from services.remediation.errors import NoSuchPlan
from services.remediation.ids import new_id

# Replicas appending to one plan at once: reload and decide again this many times before the
# consumer runner's own retry (with backoff) takes over.
CONFLICT_RETRIES = 8

# committed plan states each process keeps (a plan is tens of kB)
PLANS_CACHED = 256

# who flags deadlines (the actor and importer of the flags of an imported history)
SCHEDULER = "remediation-deadline-scheduler"

Clock = Callable[[], datetime]
Answer = Callable[[Any, Change[Any]], Awaitable[dict[str, Any]]]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Remediation:
    """What the handlers need: the store, the three repositories, the deadline policy, the clock
    (injectable) and whether there are read models (not on the handler tests' in-memory store)."""

    store: Any
    plans: Repository[Plan, Any]
    committees: Repository[Committee, Any]
    capacity: Repository[CapacityBuilding, Any]
    policy: DueDatePolicy
    clock: Clock = system_clock
    read_models: bool = True

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
            capacity=Repository(
                store, CAPACITY, project=projections.project_capacity if read_models else None
            ),
            policy=policy,
            clock=clock,
            read_models=read_models,
        )


def require_plan(loaded: Loaded[Plan]) -> None:
    """Commands of the API change an existing plan only: a 404 before the If-Match check."""
    if loaded.version == 0:
        raise NoSuchPlan(loaded.aggregate_id)


# answers: the rows the command's projection wrote, from the same state ---------------------------


def item_answer(item_id: str, deps: Remediation) -> Answer:
    """The item's row and the capacity building done for it (read in the command's transaction)."""

    async def answer(unit: Any, change: Change[Plan]) -> dict[str, Any]:
        done: dict[str, list[dict[str, Any]]] = {}
        if deps.read_models:
            done = await queries.capacity_building_of(
                unit.connection, change.aggregate_id, [item_id]
            )
        return {**item_row(change.state.items[item_id]), "capacity_building": done.get(item_id, [])}

    return answer


def plan_answer(policy: DueDatePolicy) -> Answer:
    async def answer(_unit: Any, change: Change[Plan]) -> dict[str, Any]:
        return plan_summary(change.aggregate_id, change.state, policy)

    return answer


async def committee_answer(_unit: Any, change: Change[Committee]) -> dict[str, Any]:
    return committee_summary(change.aggregate_id, change.state)


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
        answer=item_answer(command.item_id, deps),
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
        answer=item_answer(command.item_id, deps),
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
            answer=plan_answer(deps.policy),
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
        answer=committee_answer,
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
        answer=committee_answer,
    )


# commands of the reactions and the scheduler: no expected version, so they retry on conflicts ----


def report_decision(command: RecordAssessmentReport) -> Callable[[Plan], list[DomainEvent]]:
    return lambda plan: plans.record_assessment_report(
        plan,
        factory_id=command.factory_id,
        assessment_id=command.assessment_id,
        cycle=command.cycle,
        report_date=command.report_date,
        non_compliance_count=command.non_compliance_count,
        country=command.country,
        imported_from=command.imported_from,
        imported_at=command.imported_at,
    )


def item_decision(
    command: AddImprovementItem, policy: DueDatePolicy
) -> Callable[[Plan], list[DomainEvent]]:
    return lambda plan: plans.add_item(
        plan,
        factory_id=command.factory_id,
        finding=command.finding,
        evidence=command.evidence,
        policy=policy,
        imported_from=command.imported_from,
        imported_at=command.imported_at,
    )


async def record_assessment_report(
    command: RecordAssessmentReport, deps: Remediation, *, connection: Any = None
) -> Change[Plan]:
    """On the consumer's `connection` (its transaction) when a reaction runs it."""
    return await deps.plans.execute(
        command.factory_id,
        report_decision(command),
        conflict_retries=CONFLICT_RETRIES,
        connection=connection,
    )


async def add_improvement_item(
    command: AddImprovementItem, deps: Remediation, *, connection: Any = None
) -> Change[Plan]:
    """On the consumer's `connection` (its transaction) when a reaction runs it."""
    return await deps.plans.execute(
        command.factory_id,
        item_decision(command, deps.policy),
        conflict_retries=CONFLICT_RETRIES,
        connection=connection,
    )


async def record_capacity_building(
    command: RecordCapacityBuilding, deps: Remediation, *, connection: Any = None
) -> Change[CapacityBuilding]:
    """On the consumer's `connection` (its transaction) when a reaction runs it; a session or
    visit already recorded changes nothing."""
    return await deps.capacity.execute(
        command.factory_id,
        lambda state: capacities.record_activity(state, command.activity),
        conflict_retries=CONFLICT_RETRIES,
        connection=connection,
    )


async def flag_deadlines(command: FlagDeadlines, deps: Remediation) -> Change[Plan]:
    """Flag the plan's deadlines past: news now, and a deadline that had passed before its
    imported item or report was recorded as history, at the day after it, imported from the same
    bundle (`deadlines.deadlines_past`), so that notifications do not announce the past. Safe
    with several replicas: the plan is appended to at its loaded version, and a plan that already
    flagged a deadline decides nothing the second time."""
    now = deps.clock()
    today = now.date()
    async with deps.store.unit_of_work() as unit:
        loaded = await deps.plans.load(unit, command.factory_id)
    past = deadlines.deadlines_past(loaded.state, today=today, now=now, policy=deps.policy)
    if not past:
        return Change(loaded, loaded.state, loaded.version, (), ())
    live = current_context()
    decisions = [
        (
            _deadline_context(live, deadline, now),
            partial(
                deadlines.flag_deadline, deadline=deadline, today=today, now=now, policy=deps.policy
            ),
        )
        for deadline in past
    ]
    return await deps.plans.execute_each(
        command.factory_id, decisions, conflict_retries=CONFLICT_RETRIES
    )


def _deadline_context(
    live: EventContext, deadline: deadlines.Deadline, now: datetime
) -> EventContext:
    """News happens now, in the pass's context; history at its business time, from its bundle."""
    if deadline.history_of is None:
        return live
    origin = ImportOrigin(
        bundle_id=deadline.history_of,
        bundle_checksum=None,
        kind="derived",
        source_id=deadline.item_id or "first-publication",
        imported_by=SCHEDULER,
    )
    return EventContext(
        live.correlation_id, live.causation_id, SCHEDULER, deadline.flagged_at(now), origin
    )


COMMAND_HANDLERS: dict[type[Any], Callable[..., Awaitable[Change[Any]]]] = {
    ChangeItemDetails: change_item_details,
    ChangeItemStatus: change_item_status,
    PublishPlan: publish_plan,
    SetCommitteeMembers: set_committee_members,
    LogCommitteeMeeting: log_committee_meeting,
    RecordAssessmentReport: record_assessment_report,
    AddImprovementItem: add_improvement_item,
    RecordCapacityBuilding: record_capacity_building,
    FlagDeadlines: flag_deadlines,
}
