"""The Assessment's handlers on the in-memory store: given events, when a command runs through its
handler (and the aggregate repository), then these events are stored and only what the contract
says would reach the outbox. No I/O."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from libs.domain.aggregate import VersionMismatch
from libs.domain.errors import DomainError, NotFound
from libs.events.memory import InMemoryEventStore
from services.assessment import commands
from services.assessment.commands import (
    CompleteAssessment,
    CorrectFinding,
    RecordFinding,
    RespondToFinding,
    ScheduleAssessment,
)
from services.assessment.domain.assessment_events import (
    AssessmentCompleted,
    AssessmentScheduled,
    FactoryResponded,
    FindingCorrected,
    FindingRecorded,
    NonComplianceFound,
    ZeroToleranceIssueFound,
)
from services.assessment.domain.scope import EVERY_COUNTRY
from services.assessment.handlers import COMMAND_HANDLERS
from services.assessment.handlers.dependencies import Dependencies
from services.assessment.tests.unit.in_memory import (
    ASSESSOR,
    CATALOGUE,
    COMPLIANT,
    NON_COMPLIANT,
    NOW,
    FakeLookups,
    given_assessment,
    given_completed,
    given_factory,
    published,
    run,
    stored,
)


class TestScheduleAssessment:
    async def test_takes_the_next_cycle_and_publishes_without_date_or_assessors(
        self, deps: Dependencies, store: InMemoryEventStore, lookups: FakeLookups
    ) -> None:
        await given_factory(deps)
        lookups.last_cycles["f-1"] = 2
        await run(
            deps,
            ScheduleAssessment("a-1", "f-1", date(2025, 3, 3), ("x", "y"), scope=EVERY_COUNTRY),
        )
        [event] = store.events("assessment-a-1")
        assert isinstance(event, AssessmentScheduled) and event.cycle == 3
        public = store.published[-1]
        assert public.event_name == "AssessmentScheduled" and public.subject == "f-1"
        assert "scheduled_for" not in public.data and "assessors" not in public.data

    async def test_an_unknown_factory_is_not_found(self, deps: Dependencies) -> None:
        with pytest.raises(NotFound):
            await run(
                deps,
                ScheduleAssessment("a-1", "f-9", date(2025, 3, 3), ("x",), scope=EVERY_COUNTRY),
            )

    async def test_refuses_an_unknown_catalogue_version(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_factory(deps)
        with pytest.raises(DomainError):
            await run(
                deps,
                ScheduleAssessment(
                    "a-1", "f-1", date(2025, 3, 3), ("x",), "1999.9", scope=EVERY_COUNTRY
                ),
            )
        assert store.events("assessment-a-1") == []


class TestRecordFinding:
    async def test_a_draft_finding_is_stored_but_never_published(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_assessment(deps)
        before = len(store.published)
        # a zero-tolerance non-compliance escalates inside the service at once
        await run(
            deps, RecordFinding("a-1", "CHL-CHI-01", NON_COMPLIANT, ASSESSOR, scope=EVERY_COUNTRY)
        )
        assert stored(store, "assessment-a-1")[-2:] == [FindingRecorded, ZeroToleranceIssueFound]
        assert len(store.published) == before

    async def test_an_unknown_assessment_is_not_found(self, deps: Dependencies) -> None:
        with pytest.raises(NotFound):
            await run(
                deps, RecordFinding("a-9", "OSH-EMP-01", COMPLIANT, ASSESSOR, scope=EVERY_COUNTRY)
            )

    async def test_refuses_a_stale_if_match(self, deps: Dependencies) -> None:
        await given_assessment(deps)
        with pytest.raises(VersionMismatch):
            await run(
                deps,
                RecordFinding(
                    "a-1",
                    "OSH-EMP-01",
                    COMPLIANT,
                    ASSESSOR,
                    expected_version=7,
                    scope=EVERY_COUNTRY,
                ),
            )


class TestCompleteAssessment:
    async def test_publishes_the_report_and_each_non_compliance(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_assessment(deps, critical_answered=True)
        await run(
            deps, RecordFinding("a-1", "OSH-WEN-01", NON_COMPLIANT, ASSESSOR, scope=EVERY_COUNTRY)
        )
        await run(deps, CompleteAssessment("a-1", ASSESSOR, scope=EVERY_COUNTRY))
        events = store.events("assessment-a-1")
        completed = events[-2]
        assert isinstance(completed, AssessmentCompleted) and completed.report_date == NOW.date()
        assert isinstance(events[-1], NonComplianceFound)
        assert published(store)[-2:] == ["AssessmentCompleted", "NonComplianceFound"]


class TestCorrectFinding:
    async def test_a_correction_after_completion_is_published(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_completed(deps)
        question_id = CATALOGUE.critical_question_ids[0]
        await run(
            deps,
            CorrectFinding(
                "a-1",
                question_id,
                NON_COMPLIANT,
                "photo reviewed",
                "assessor-2",
                scope=EVERY_COUNTRY,
            ),
        )
        assert FindingCorrected in stored(store, "assessment-a-1")
        assert "FindingCorrected" in published(store)


class TestRespondToFinding:
    def respond(self, factory_id: str = "f-1", expected_version: int | None = None) -> Any:
        question_id = CATALOGUE.critical_question_ids[0]
        return RespondToFinding(
            "a-1", question_id, "Fixed", "factory-user", factory_id, None, expected_version
        )

    async def test_the_factory_responds_to_its_report(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_completed(deps)
        await run(deps, self.respond())
        assert stored(store, "assessment-a-1")[-1] is FactoryResponded
        assert published(store)[-1] == "FactoryResponded"

    async def test_another_factory_learns_nothing_even_with_a_stale_if_match(
        self, deps: Dependencies
    ) -> None:
        await given_completed(deps)
        # authorization comes before the If-Match check: a 404, not a 412 that would leak the
        # assessment's existence
        with pytest.raises(NotFound):
            await run(deps, self.respond("f-2", expected_version=1))

    async def test_an_assessment_before_its_report_is_not_found(self, deps: Dependencies) -> None:
        await given_assessment(deps, critical_answered=True)
        with pytest.raises(NotFound):
            await run(deps, self.respond())


def test_every_command_has_its_handler() -> None:
    command_types = {
        value
        for value in vars(commands).values()
        if isinstance(value, type) and value.__module__ == commands.__name__
    }
    assert command_types == set(COMMAND_HANDLERS)
