"""Reactions to the assessment and advisory services' events and the durable consumers that feed
them (`subscriptions`): each reaction translates the message into a local command and runs its
handler on the consumer's connection, so the inbox row and the aggregate's events commit
together."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from libs.domain.envelope import DomainEvent, Envelope, EventContext, consumed_context
from libs.events.consumer import BatchHandler, Reactions, Subscription, bind_reactions
from libs.servicekit.service import Wiring
from services.remediation.commands import (
    AddImprovementItem,
    RecordAssessmentReport,
    RecordCapacityBuilding,
)
from services.remediation.domain.capacity import AdvisoryVisitRecorded, TrainingSessionRecorded
from services.remediation.domain.plan_state import Plan
from services.remediation.handlers import (
    CONFLICT_RETRIES,
    Remediation,
    add_improvement_item,
    item_decision,
    record_assessment_report,
    record_capacity_building,
    report_decision,
)
from services.remediation.ids import new_id
from services.remediation.settings import RemediationSettings
from services.remediation.upstream import (
    ADVISORY_SERVICE,
    SOURCE_SERVICE,
    AdvisoryVisitCompleted,
    AssessmentCompleted,
    NonComplianceFound,
    TrainingSessionDelivered,
)

CONSUMER_DURABLE = "remediation_plans"
# the advisory service's sessions and visits, recorded for the plan items they name
CAPACITY_DURABLE = "remediation_capacity_building"


def _imported(envelope: Envelope | None, deps: Remediation) -> dict[str, Any]:
    """An imported upstream fact's bundle, and when it is recorded here (now, by the clock the
    deadline scheduler reads): a deadline that had passed by then is history, not news."""
    if envelope is None or envelope.importedfrom is None:
        return {}
    return {"imported_from": envelope.importedfrom, "imported_at": deps.clock()}


def report_command(
    event: AssessmentCompleted, imported: dict[str, Any] | None = None
) -> RecordAssessmentReport:
    return RecordAssessmentReport(
        factory_id=event.factory_id,
        assessment_id=event.assessment_id,
        cycle=event.cycle,
        report_date=event.report_date,
        non_compliance_count=event.non_compliance_count,
        country=event.country.upper() if event.country else None,
        **(imported or {}),
    )


def item_command(
    event: NonComplianceFound, imported: dict[str, Any] | None = None
) -> AddImprovementItem:
    # the message is itself a finding: the command holds it as one
    return AddImprovementItem(
        factory_id=event.factory_id, finding=event, evidence=event.evidence, **(imported or {})
    )


async def on_assessment_completed(
    deps: Remediation, connection: Any, envelope: Envelope | None, event: AssessmentCompleted
) -> None:
    command = report_command(event, _imported(envelope, deps))
    await record_assessment_report(command, deps, connection=connection)


async def on_non_compliance_found(
    deps: Remediation, connection: Any, envelope: Envelope | None, event: NonComplianceFound
) -> None:
    command = item_command(event, _imported(envelope, deps))
    await add_improvement_item(command, deps, connection=connection)


def session_command(event: TrainingSessionDelivered) -> RecordCapacityBuilding:
    return RecordCapacityBuilding(
        factory_id=event.factory_id,
        activity=TrainingSessionRecorded(
            factory_id=event.factory_id,
            session_id=event.session_id,
            course_code=event.course_code,
            course_title=event.course_title,
            start_date=event.start_date,
            end_date=event.end_date,
            training_days=event.training_days,
            participants=event.participants,
            completions=event.completions,
            plan_item_ids=event.plan_item_ids,
        ),
    )


def visit_command(event: AdvisoryVisitCompleted) -> RecordCapacityBuilding:
    return RecordCapacityBuilding(
        factory_id=event.factory_id,
        activity=AdvisoryVisitRecorded(
            factory_id=event.factory_id,
            visit_id=event.visit_id,
            visited_on=event.visited_on,
            duration_days=event.duration_days,
            purpose=event.purpose,
            committee_meeting_id=event.committee_meeting_id,
            plan_item_ids=event.plan_item_ids,
        ),
    )


async def on_training_session_delivered(
    deps: Remediation, connection: Any, _envelope: Envelope | None, event: TrainingSessionDelivered
) -> None:
    await record_capacity_building(session_command(event), deps, connection=connection)


async def on_advisory_visit_completed(
    deps: Remediation, connection: Any, _envelope: Envelope | None, event: AdvisoryVisitCompleted
) -> None:
    await record_capacity_building(visit_command(event), deps, connection=connection)


def _decision_for(
    envelope: Envelope, event: DomainEvent, deps: Remediation
) -> Callable[[Plan], list[DomainEvent]]:
    imported = _imported(envelope, deps)
    if isinstance(event, AssessmentCompleted):
        return report_decision(report_command(event, imported))
    if isinstance(event, NonComplianceFound):
        return item_decision(item_command(event, imported), deps.policy)
    raise TypeError(f"no reaction to {type(event).__name__}")


async def on_assessment_events(
    deps: Remediation, connection: Any, batch: Sequence[tuple[Envelope, DomainEvent]]
) -> None:
    """A fetched batch of assessment events at once (the consumer's `batch_handler`): per
    factory, the plan is loaded once, every event of the batch decided on it in delivery order,
    the new events appended in one statement (each with its own event's correlation and
    causation, and an imported event's business time and bundle) and the read models upserted
    once, all in the consumer's transaction. The same events and rows as the reactions one by
    one; on a failure the runner falls back to them."""
    by_factory: dict[str, list[tuple[EventContext, Callable[[Plan], list[DomainEvent]]]]] = {}
    for envelope, event in batch:
        context = consumed_context(envelope)
        if not context.correlation_id:
            context = replace(context, correlation_id=new_id())
        decision = _decision_for(envelope, event, deps)
        assert isinstance(event, AssessmentCompleted | NonComplianceFound)
        by_factory.setdefault(event.factory_id, []).append((context, decision))
    for factory_id, decisions in by_factory.items():
        await deps.plans.execute_each(
            factory_id, decisions, conflict_retries=CONFLICT_RETRIES, connection=connection
        )


# by the producer's event name: the event class (our copy) and the reaction to it
EVENT_HANDLERS: Reactions = {
    "AssessmentCompleted": (AssessmentCompleted, on_assessment_completed),
    "NonComplianceFound": (NonComplianceFound, on_non_compliance_found),
}
ADVISORY_HANDLERS: Reactions = {
    "TrainingSessionDelivered": (TrainingSessionDelivered, on_training_session_delivered),
    "AdvisoryVisitCompleted": (AdvisoryVisitCompleted, on_advisory_visit_completed),
}


def consumer_batch_handler(deps: Remediation) -> BatchHandler:
    """`on_assessment_events` as the consumer runner calls it, on its connection."""

    async def handle(connection: Any, batch: Sequence[tuple[Envelope, DomainEvent]]) -> None:
        await on_assessment_events(deps, connection, batch)

    return handle


def subscriptions(deps: Remediation, wiring: Wiring[RemediationSettings]) -> Sequence[Subscription]:
    """The durable consumers: the assessment service's completions and findings (the plans), and
    the advisory service's delivered sessions and completed visits (the capacity building done for
    the plans' items; a few events a day, one by one)."""
    return [
        Subscription(
            durable=CONSUMER_DURABLE,
            source_service=SOURCE_SERVICE,
            handlers=bind_reactions(deps, EVENT_HANDLERS),
            registry=wiring.registry,
            batch_handler=consumer_batch_handler(deps),
            # a backlog (a programme's assessments completed at once, a replay) is applied a
            # thousand events per fetch, in four transactions by factory at once: the decisions'
            # CPU overlaps the others' round trips (50,000 events: 932/s → ~3,000/s; bench/)
            batch_size=1000,
            lanes=4,
        ),
        Subscription(
            durable=CAPACITY_DURABLE,
            source_service=ADVISORY_SERVICE,
            handlers=bind_reactions(deps, ADVISORY_HANDLERS),
            registry=wiring.registry,
        ),
    ]
