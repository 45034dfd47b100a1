"""Givens of the domain tests: findings, plans and committees folded from the events their rules
decide, as the repository would load them (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from libs.domain.envelope import DomainEvent
from services.remediation.domain import committee as committees
from services.remediation.domain import plan as plans
from services.remediation.domain.committee import (
    COMMITTEE,
    Committee,
    CommitteeMeeting,
    CommitteeMember,
    Side,
)
from services.remediation.domain.finding import Finding
from services.remediation.domain.plan_events import ItemStatus
from services.remediation.domain.plan_state import PLAN, Plan
from services.remediation.domain.policy import DueDatePolicy

POLICY = DueDatePolicy(zero_tolerance_days=7, critical_days=30, other_days=90, publication_days=30)
REPORT = date(2024, 3, 1)
NOW = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
FACTORY = "factory-1"


def finding(
    question_id: str = "q1", *, assessment_id: str = "a1", cycle: int = 1, **overrides: Any
) -> dict[str, Any]:
    """The arguments of `add_item` for one non-compliance (`overrides`: the finding's fields)."""
    fields: dict[str, Any] = {
        "assessment_id": assessment_id,
        "cycle": cycle,
        "report_date": REPORT if cycle == 1 else REPORT + timedelta(days=365 * (cycle - 1)),
        "cluster_id": "osh",
        "cluster_name": "Occupational Safety and Health",
        "compliance_point_id": "osh-emergency",
        "compliance_point_name": "Emergency preparedness",
        "question_id": question_id,
        "question_text": "Are exits unlocked?",
        "critical": False,
        "zero_tolerance": False,
    }
    return {
        "factory_id": FACTORY,
        "finding": Finding(**{**fields, **overrides}),
        "evidence": "exit locked",
        "policy": POLICY,
    }


def history_of(*findings: dict[str, Any]) -> list[DomainEvent]:
    """The events the given findings leave in the plan's stream."""
    plan, history = PLAN.initial, list[DomainEvent]()
    for arguments in findings:
        events = plans.add_item(plan, **arguments)
        plan, history = PLAN.fold(events, plan), [*history, *events]
    return history


def plan_given(*findings: dict[str, Any]) -> Plan:
    """A plan folded from the events of the given findings, as the repository would load it."""
    return PLAN.fold(history_of(*findings))


def then(plan: Plan, events: list[DomainEvent]) -> Plan:
    """The plan after the decided events."""
    return PLAN.fold(events, plan)


def fill_in(plan: Plan, item_id: str) -> Plan:
    return then(
        plan,
        plans.change_details(
            plan,
            item_id,
            root_cause="no fire warden",
            planned_action="appoint wardens, unlock exits daily",
            responsible_person="HR manager",
            due_date=None,
            changed_by="factory-user",
        ),
    )


def move(plan: Plan, item_id: str, *path: ItemStatus) -> Plan:
    """Move the item along `path`, each step by whoever may make it."""
    for status in path:
        actor: Any = "assessor" if status == ItemStatus.VERIFIED else "factory"
        plan = then(plan, plans.change_status(plan, item_id, status, actor=actor, by="u", now=NOW))
    return plan


def done(plan: Plan, item_id: str) -> Plan:
    return move(fill_in(plan, item_id), item_id, ItemStatus.IN_PROGRESS, ItemStatus.DONE)


def committee_given() -> Committee:
    members = [
        CommitteeMember(member_id="m1", name="Ms Manager", side=Side.MANAGEMENT),
        CommitteeMember(member_id="w1", name="Mr Worker", side=Side.WORKER),
    ]
    return COMMITTEE.fold(
        committees.set_members(
            COMMITTEE.initial, factory_id=FACTORY, members=members, changed_by="f"
        )
    )


def log(committee: Committee, **overrides: Any) -> list[DomainEvent]:
    arguments: dict[str, Any] = {
        "factory_id": FACTORY,
        "meeting_id": "mt1",
        "held_on": REPORT,
        "attendees": ["m1", "w1"],
        "decisions": [],
        "endorses_plan": False,
        "logged_by": "f",
        "today": REPORT,
    }
    return committees.log_meeting(committee, **{**arguments, **overrides})


def meeting(
    meeting_id: str = "mt1",
    *,
    sides: tuple[Side, ...] = (Side.MANAGEMENT, Side.WORKER),
    endorses: bool = True,
) -> CommitteeMeeting:
    return CommitteeMeeting(
        meeting_id=meeting_id,
        held_on=REPORT,
        attendees=["m1", "w1"],
        attendee_sides=list(sides),
        decisions=["endorsed"],
        endorses_plan=endorses,
    )
