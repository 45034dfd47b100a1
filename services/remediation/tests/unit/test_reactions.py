"""Reactions to the assessment service's events on the in-memory event store (no I/O): given the
upstream events delivered, one by one or as a fetched batch, then these events are in the plan's
stream and these public events would reach the outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from libs.domain.envelope import DomainEvent, Envelope
from libs.events.consumer import bind_reactions
from libs.events.memory import InMemoryEventStore
from services.remediation import consumers
from services.remediation.domain.plan_events import AssessmentReportReceived, ImprovementItemAdded
from services.remediation.handlers import Remediation
from services.remediation.ids import plan_stream_id
from services.remediation.tests.unit.conftest import Clock, in_memory_store
from services.remediation.tests.unit.handler_givens import (
    FACTORY,
    POLICY,
    completed,
    delivered,
    found,
    plan_events,
    public,
)
from services.remediation.upstream import AssessmentCompleted, NonComplianceFound


class TestReactions:
    async def test_a_completed_assessment_records_the_report_once_and_publishes_nothing(
        self, deps: Remediation, store: InMemoryEventStore
    ) -> None:
        await consumers.on_assessment_completed(deps, None, None, completed())
        await consumers.on_assessment_completed(deps, None, None, completed())  # redelivered
        assert [type(e) for e in plan_events(store)] == [AssessmentReportReceived]
        assert store.published == []

    async def test_a_non_compliance_adds_an_item_once_and_publishes_the_plan(
        self, deps: Remediation, store: InMemoryEventStore
    ) -> None:
        await consumers.on_non_compliance_found(deps, None, None, found())
        await consumers.on_non_compliance_found(deps, None, None, found())  # redelivered
        assert [type(e) for e in plan_events(store)] == [
            AssessmentReportReceived,
            ImprovementItemAdded,
        ]
        [summary] = public(store, "ImprovementPlanUpdated")
        assert summary["change"] == "item_added" and summary["plan_version"] == 2
        assert summary["item"]["question_id"] == "q1" and summary["item"]["status"] == "open"
        assert summary["progress"]["total"] == 1 and summary["progress"]["open"] == 1
        assert summary["progress"]["publication_due_date"] == "2024-03-31"

    async def test_the_consumer_handlers_refuse_an_event_decoded_as_another_type(
        self, deps: Remediation
    ) -> None:
        handle = bind_reactions(deps, consumers.EVENT_HANDLERS)["NonComplianceFound"]
        envelope = Envelope.model_validate(
            {
                "id": "e1",
                "source": "/betterwork/assessment",
                "type": "org.betterwork.assessment.NonComplianceFound.v1",
                "subject": FACTORY,
                "time": datetime.now(UTC),
                "data": {},
                "correlationid": "c",
                "streamid": "assessment-a1",
                "streamversion": 1,
            }
        )
        with pytest.raises(TypeError):
            await handle(cast(Any, None), envelope, completed())


class TestBatchOfUpstreamEvents:
    async def test_a_batch_decides_the_same_events_as_one_reaction_per_event(
        self, deps: Remediation, store: InMemoryEventStore, clock: Clock
    ) -> None:
        """Out of order, with a redelivery and a second factory's events in between."""
        other = Remediation.create(in_memory_store(), POLICY, clock, read_models=False)
        elsewhere = found("q9").model_copy(update={"factory_id": "factory-2"})
        upstream: list[DomainEvent] = [
            found("q2", critical=False),
            completed(),
            elsewhere,
            found("q1"),
            found("q2", critical=False),  # redelivered
        ]
        for event in upstream:
            if isinstance(event, AssessmentCompleted):
                await consumers.on_assessment_completed(other, None, None, event)
            else:
                assert isinstance(event, NonComplianceFound)
                await consumers.on_non_compliance_found(other, None, None, event)
        batch = [delivered(event, number) for number, event in enumerate(upstream, start=1)]
        await consumers.consumer_batch_handler(deps)(cast(Any, None), batch)

        for factory_id in (FACTORY, "factory-2"):
            stream_id = plan_stream_id(factory_id)
            assert store.events(stream_id) == other.store.events(stream_id)
        assert [type(e) for e in plan_events(store)] == [
            AssessmentReportReceived,
            ImprovementItemAdded,
            ImprovementItemAdded,
        ]
        for factory_id in (FACTORY, "factory-2"):  # per plan in order; plans apart may interleave
            published = [(e.event_name, e.data) for e in store.published if e.subject == factory_id]
            assert published == [
                (e.event_name, e.data) for e in other.store.published if e.subject == factory_id
            ]
        # each plan update is caused by the upstream event that decided it
        assert [e.causationid for e in store.published if e.subject == FACTORY] == [
            "event-1",
            "event-4",
        ]
