"""The factory records: commands run by the reactions to the assessment service's public events
(thin: translate the message, run the local command, on the consumer's connection so that the
inbox row and the record's events commit together). Idempotent and order-safe per event."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from libs.domain.aggregate import Change
from libs.domain.envelope import DomainEvent, Envelope, EventContext, consumed_context
from libs.events.consumer import Reactions
from services.advisory.commands import RecordAssessmentCycle, RecordFactory
from services.advisory.domain import factory as factories
from services.advisory.domain.factory import FactoryRecord
from services.advisory.handlers.dependencies import Dependencies
from services.advisory.upstream import AssessmentCompleted, FactoryRegistered, FactoryUpdated

# replicas (and a delivery) appending to one factory's record at once
CONFLICT_RETRIES = 8


async def record_factory(
    command: RecordFactory, deps: Dependencies, *, connection: Any = None
) -> Change[FactoryRecord]:
    return await deps.factories.execute(
        command.factory_id,
        lambda record: factories.record_factory(
            record, command.factory_id, command.name, command.country, command.upstream_version
        ),
        conflict_retries=CONFLICT_RETRIES,
        connection=connection,
    )


async def record_assessment_cycle(
    command: RecordAssessmentCycle, deps: Dependencies, *, connection: Any = None
) -> Change[FactoryRecord]:
    return await deps.factories.execute(
        command.factory_id,
        lambda record: factories.record_cycle(
            record, command.factory_id, command.cycle, command.report_date
        ),
        conflict_retries=CONFLICT_RETRIES,
        connection=connection,
    )


async def on_factory_registered(
    deps: Dependencies, connection: Any, envelope: Envelope, event: DomainEvent
) -> None:
    """FactoryRegistered and FactoryUpdated alike: the factory's details as they now are, at
    the version of the assessment service's factory stream (which orders them)."""
    assert isinstance(event, FactoryRegistered | FactoryUpdated)
    command = RecordFactory(
        factory_id=event.factory_id,
        name=event.name,
        country=event.country,
        upstream_version=envelope.streamversion,
    )
    await record_factory(command, deps, connection=connection)


async def on_assessment_completed(
    deps: Dependencies, connection: Any, envelope: Envelope, event: DomainEvent
) -> None:
    assert isinstance(event, AssessmentCompleted)
    command = RecordAssessmentCycle(
        factory_id=event.factory_id, cycle=event.cycle, report_date=event.report_date
    )
    await record_assessment_cycle(command, deps, connection=connection)


def _decision(
    envelope: Envelope, event: DomainEvent
) -> Callable[[FactoryRecord], list[DomainEvent]]:
    """What one upstream event decides on the factory's record (as its reaction does)."""
    if isinstance(event, FactoryRegistered | FactoryUpdated):
        version = envelope.streamversion
        return lambda record: factories.record_factory(
            record, event.factory_id, event.name, event.country, version
        )
    if isinstance(event, AssessmentCompleted):
        return lambda record: factories.record_cycle(
            record, event.factory_id, event.cycle, event.report_date
        )
    raise TypeError(f"no reaction to {type(event).__name__}")


async def on_assessment_events(
    deps: Dependencies, connection: Any, batch: Sequence[tuple[Envelope, DomainEvent]]
) -> None:
    """A fetched batch at once (the consumer's `batch_handler`; a programme's imported history
    arrives as tens of thousands of registrations, updates and reports): per factory, its record
    loaded once, every event decided on it in delivery order, appended in one statement (each
    with its own event's context: its causation, and an imported event's business time and
    bundle) and projected once, in the consumer's transaction. The same events and rows as the
    reactions one by one; on a failure the runner falls back to them."""
    by_factory: dict[str, list[tuple[EventContext, Callable[[FactoryRecord], Any]]]] = {}
    for envelope, event in batch:
        assert isinstance(event, FactoryRegistered | FactoryUpdated | AssessmentCompleted)
        decisions = by_factory.setdefault(event.factory_id, [])
        decisions.append((consumed_context(envelope), _decision(envelope, event)))
    for factory_id, decisions in by_factory.items():
        await deps.factories.execute_each(
            factory_id, decisions, conflict_retries=CONFLICT_RETRIES, connection=connection
        )


REACTIONS: Reactions = {
    "FactoryRegistered": (FactoryRegistered, on_factory_registered),
    "FactoryUpdated": (FactoryUpdated, on_factory_registered),
    "AssessmentCompleted": (AssessmentCompleted, on_assessment_completed),
}
"""By the producer's event name: our copy of the event and the reaction to it."""
