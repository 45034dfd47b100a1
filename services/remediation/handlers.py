"""Command handlers and reactions to the assessment service's events; registries at the end.

Every change loads the aggregate's stream, lets the aggregate decide, appends with the loaded version
as the expected one and projects the read models in the same transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events import (
    ConcurrencyConflict,
    DomainEvent,
    Envelope,
    EventStore,
    UnitOfWork,
)
from services.remediation import projections
from services.remediation.commands import (
    ChangeItemDetails,
    ChangeItemStatus,
    LogCommitteeMeeting,
    PublishPlan,
    SetCommitteeMembers,
)
from services.remediation.domain import (
    Committee,
    CommitteeMember,
    DueDatePolicy,
    ImprovementPlan,
    committee_stream_id,
    plan_stream_id,
)
from services.remediation.upstream import AssessmentCompleted, NonComplianceFound

log = logging.getLogger(__name__)

PLAN_STREAM_TYPE = "ImprovementPlan"
COMMITTEE_STREAM_TYPE = "Committee"
# Replicas appending to one plan at once: reload and decide again this many times before the
# consumer runner's own retry (with backoff) takes over.
CONFLICT_RETRIES = 8

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class VersionMismatch(Exception):
    """The caller's If-Match names another version than the aggregate's (HTTP 412)."""

    def __init__(self, expected: int, actual: int) -> None:
        self.expected, self.actual = expected, actual
        super().__init__(f"the resource is at version {actual}, not {expected}")


class NoSuchPlan(Exception):
    def __init__(self, factory_id: str) -> None:
        super().__init__(f"no improvement plan for factory {factory_id}")


@dataclass(frozen=True)
class Remediation:
    """What the handlers need: the store, the deadline policy and the clock (injectable)."""

    store: EventStore
    policy: DueDatePolicy
    clock: Clock = system_clock


# loading and saving ------------------------------------------------------------------------------


async def load_plan(uow: UnitOfWork, factory_id: str) -> ImprovementPlan:
    recorded = await uow.load(plan_stream_id(factory_id))
    return ImprovementPlan.fold(factory_id, [entry.event for entry in recorded])


async def save_plan(uow: UnitOfWork, plan: ImprovementPlan, policy: DueDatePolicy) -> int:
    """Append the plan's pending events and project it; returns the new version."""
    if not plan.pending:
        return plan.version
    await uow.append(
        plan_stream_id(plan.factory_id),
        stream_type=PLAN_STREAM_TYPE,
        expected_version=plan.version,
        events=plan.pending,
        subject=plan.factory_id,
    )
    changed = {item_id for event in plan.pending if (item_id := _item_id(event))}
    await projections.project_plan(uow.connection, plan, plan.next_version, changed, policy)
    return plan.next_version


def _item_id(event: DomainEvent) -> str | None:
    value = getattr(event, "item_id", None)
    return str(value) if value is not None else None


async def load_committee(uow: UnitOfWork, factory_id: str) -> Committee:
    recorded = await uow.load(committee_stream_id(factory_id))
    return Committee.fold(factory_id, [entry.event for entry in recorded])


async def save_committee(uow: UnitOfWork, committee: Committee) -> int:
    if not committee.pending:
        return committee.version
    await uow.append(
        committee_stream_id(committee.factory_id),
        stream_type=COMMITTEE_STREAM_TYPE,
        expected_version=committee.version,
        events=committee.pending,
        subject=committee.factory_id,
    )
    version = committee.version + len(committee.pending)
    await projections.project_committee(uow.connection, committee, version)
    return version


def _check_version(expected: int | None, actual: int) -> None:
    if expected is not None and expected != actual:
        raise VersionMismatch(expected, actual)


# commands ----------------------------------------------------------------------------------------


async def change_item_details(
    command: ChangeItemDetails, uow: UnitOfWork, remediation: Remediation
) -> ImprovementPlan:
    plan = await _existing_plan(uow, command.factory_id, command.expected_version)
    plan.change_details(
        command.item_id,
        root_cause=command.root_cause,
        planned_action=command.planned_action,
        responsible_person=command.responsible_person,
        due_date=command.due_date,
        changed_by=command.changed_by,
    )
    await save_plan(uow, plan, remediation.policy)
    return plan


async def change_item_status(
    command: ChangeItemStatus, uow: UnitOfWork, remediation: Remediation
) -> ImprovementPlan:
    plan = await _existing_plan(uow, command.factory_id, command.expected_version)
    plan.change_status(
        command.item_id,
        command.status,
        actor=command.actor,
        by=command.changed_by,
        now=remediation.clock(),
        reason=command.reason,
    )
    await save_plan(uow, plan, remediation.policy)
    return plan


async def publish_plan(
    command: PublishPlan, uow: UnitOfWork, remediation: Remediation
) -> ImprovementPlan:
    plan = await _existing_plan(uow, command.factory_id, command.expected_version)
    committee = await load_committee(uow, command.factory_id)
    plan.publish(committee.latest_endorsement, remediation.clock(), remediation.policy)
    await save_plan(uow, plan, remediation.policy)
    return plan


async def _existing_plan(uow: UnitOfWork, factory_id: str, expected: int | None) -> ImprovementPlan:
    plan = await load_plan(uow, factory_id)
    if plan.version == 0:
        raise NoSuchPlan(factory_id)
    _check_version(expected, plan.version)
    return plan


async def set_committee_members(
    command: SetCommitteeMembers, uow: UnitOfWork, remediation: Remediation
) -> Committee:
    committee = await load_committee(uow, command.factory_id)
    _check_version(command.expected_version, committee.version)
    members = [
        CommitteeMember(
            member_id=member.member_id or str(uuid.uuid4()),
            name=member.name,
            side=member.side,
            position=member.position,
        )
        for member in command.members
    ]
    committee.set_members(members, command.changed_by)
    await save_committee(uow, committee)
    return committee


async def log_committee_meeting(
    command: LogCommitteeMeeting, uow: UnitOfWork, remediation: Remediation
) -> Committee:
    committee = await load_committee(uow, command.factory_id)
    _check_version(command.expected_version, committee.version)
    committee.log_meeting(
        meeting_id=str(uuid.uuid4()),
        held_on=command.held_on,
        attendees=command.attendees,
        decisions=command.decisions,
        endorses_plan=command.endorses_plan,
        logged_by=command.logged_by,
        today=remediation.clock().date(),
    )
    await save_committee(uow, committee)
    return committee


# reactions to the assessment service -------------------------------------------------------------


async def change_plan_with_retries(
    connection: AsyncConnection,
    remediation: Remediation,
    factory_id: str,
    decide: Callable[[ImprovementPlan], None],
) -> int:
    """Load, decide and save inside a SAVEPOINT; on a conflict with another replica, try again.

    Returns how many events were appended.
    """
    for attempt in range(1, CONFLICT_RETRIES + 1):
        try:
            async with connection.begin_nested():
                uow = UnitOfWork(remediation.store, connection)
                plan = await load_plan(uow, factory_id)
                decide(plan)
                await save_plan(uow, plan, remediation.policy)
                return len(plan.pending)
        except ConcurrencyConflict:
            if attempt == CONFLICT_RETRIES:
                raise
            log.info("plan of %s changed concurrently; retrying (%s)", factory_id, attempt)
    raise AssertionError("unreachable")


ConsumerHandler = Callable[[AsyncConnection, Envelope, DomainEvent], Awaitable[None]]


def assessment_handlers(remediation: Remediation) -> dict[str, ConsumerHandler]:
    """Handlers of the assessment events, by event name, for the consumer runner."""

    async def on_assessment_completed(
        connection: AsyncConnection, envelope: Envelope, event: DomainEvent
    ) -> None:
        assert isinstance(event, AssessmentCompleted)
        await change_plan_with_retries(
            connection,
            remediation,
            event.factory_id,
            lambda plan: plan.record_assessment_report(
                event.assessment_id, event.cycle, event.report_date, event.non_compliance_count
            ),
        )

    async def on_non_compliance_found(
        connection: AsyncConnection, envelope: Envelope, event: DomainEvent
    ) -> None:
        assert isinstance(event, NonComplianceFound)
        await change_plan_with_retries(
            connection,
            remediation,
            event.factory_id,
            lambda plan: plan.add_item(
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
                policy=remediation.policy,
            ),
        )

    return {
        "AssessmentCompleted": on_assessment_completed,
        "NonComplianceFound": on_non_compliance_found,
    }


# deadlines ---------------------------------------------------------------------------------------


async def flag_due_deadlines(remediation: Remediation) -> int:
    """Flag items and first publications past due; returns how many events were appended.

    Safe with several replicas: each plan is changed with an expected version, and an aggregate
    that already flagged an item decides nothing the second time.
    """
    now = remediation.clock()
    today = now.date()
    async with remediation.store.reading() as connection:
        factory_ids = await projections.factories_with_due_deadlines(connection, today)
    appended = 0
    for factory_id in factory_ids:

        def decide(plan: ImprovementPlan) -> None:
            plan.flag_overdue(today, now)
            plan.flag_publication_overdue(today, now, remediation.policy)

        async with remediation.store.unit_of_work() as uow:
            appended += await change_plan_with_retries(
                uow.connection, remediation, factory_id, decide
            )
    return appended


COMMAND_HANDLERS = {
    ChangeItemDetails: change_item_details,
    ChangeItemStatus: change_item_status,
    PublishPlan: publish_plan,
    SetCommitteeMembers: set_committee_members,
    LogCommitteeMeeting: log_committee_meeting,
}
