"""Givens of the handler tests: the assessment events a reaction receives, items and committees
made through the handlers, and what reached the in-memory store and its outbox."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from libs.domain.envelope import DomainEvent, Envelope
from libs.events.memory import InMemoryEventStore
from services.remediation import consumers, handlers
from services.remediation.commands import (
    ChangeItemDetails,
    ChangeItemStatus,
    NewMember,
    SetCommitteeMembers,
)
from services.remediation.domain.committee import Side
from services.remediation.domain.plan_events import ItemStatus
from services.remediation.domain.policy import DueDatePolicy
from services.remediation.handlers import Remediation
from services.remediation.ids import item_id_for, plan_stream_id
from services.remediation.upstream import AssessmentCompleted, NonComplianceFound

POLICY = DueDatePolicy()
FACTORY = "factory-1"
REPORT = date(2024, 3, 1)


def completed(assessment_id: str = "a1") -> AssessmentCompleted:
    return AssessmentCompleted(
        assessment_id=assessment_id,
        factory_id=FACTORY,
        cycle=1,
        report_date=REPORT,
        non_compliance_count=1,
    )


def found(question_id: str = "q1", *, critical: bool = True) -> NonComplianceFound:
    return NonComplianceFound(
        assessment_id="a1",
        factory_id=FACTORY,
        cycle=1,
        report_date=REPORT,
        cluster_id="osh",
        cluster_name="Occupational Safety and Health",
        compliance_point_id="osh-emergency",
        compliance_point_name="Emergency preparedness",
        question_id=question_id,
        question_text="Are exits unlocked?",
        critical=critical,
        zero_tolerance=False,
        evidence="exit locked",
    )


def delivered(event: DomainEvent, number: int) -> tuple[Envelope, DomainEvent]:
    """An upstream event as the consumer hands it over: its envelope and our decoded copy."""
    envelope = Envelope.model_validate(
        {
            "id": f"event-{number}",
            "source": "/betterwork/assessment",
            "type": f"org.betterwork.assessment.{type(event).__name__}.v1",
            "subject": FACTORY,
            "time": datetime.now(UTC),
            "data": {},
            "correlationid": "completion-1",
            "streamid": "assessment-a1",
            "streamversion": number,
        }
    )
    return envelope, event


def plan_events(store: InMemoryEventStore) -> list[DomainEvent]:
    return store.events(plan_stream_id(FACTORY))


def public(store: InMemoryEventStore, event_name: str) -> list[dict[str, Any]]:
    """The data of the public events of that name that would reach the outbox."""
    return [envelope.data for envelope in store.published if envelope.event_name == event_name]


async def given_item(deps: Remediation) -> str:
    await consumers.on_assessment_completed(deps, None, None, completed())
    await consumers.on_non_compliance_found(deps, None, None, found())
    return item_id_for("a1", "q1")


async def filled_in(deps: Remediation, item_id: str) -> None:
    await handlers.change_item_details(
        ChangeItemDetails(
            factory_id=FACTORY,
            item_id=item_id,
            root_cause="no warden",
            planned_action="appoint one",
            responsible_person="HR manager",
            due_date=None,
            changed_by="factory-user",
        ),
        deps,
    )


async def move(deps: Remediation, item_id: str, status: ItemStatus, actor: Any) -> None:
    command = ChangeItemStatus(
        factory_id=FACTORY, item_id=item_id, status=status, actor=actor, changed_by="u"
    )
    await handlers.change_item_status(command, deps)


async def members(deps: Remediation) -> list[str]:
    change = await handlers.set_committee_members(
        SetCommitteeMembers(
            factory_id=FACTORY,
            members=[
                NewMember(None, "Ms Manager", Side.MANAGEMENT),
                NewMember("w1", "Mr Worker", Side.WORKER),
            ],
            changed_by="f",
        ),
        deps,
    )
    return [member.member_id for member in change.state.members]
