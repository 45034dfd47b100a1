"""Assessment snapshots: loading from one equals folding the whole stream, and one survives JSON."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

from libs.domain.envelope import DomainEvent
from libs.events.memory import InMemoryEventStore
from libs.events.repository import Repository
from services.assessment.commands import CorrectFinding, RespondToFinding
from services.assessment.domain.assessment_events import AssessmentScheduled, FindingRecorded
from services.assessment.domain.assessment_state import ASSESSMENT, dump, restore
from services.assessment.domain.scope import EVERY_COUNTRY
from services.assessment.handlers.dependencies import Dependencies
from services.assessment.tests.unit.in_memory import (
    ASSESSOR,
    CATALOGUE,
    NON_COMPLIANT,
    given_completed,
    run,
)


class TestSnapshots:
    async def test_loading_from_a_snapshot_equals_the_full_fold(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        snapshots = ASSESSMENT.snapshots
        assert snapshots is not None
        often = replace(ASSESSMENT, snapshots=replace(snapshots, every=3))
        deps.assessments = Repository(store, often, subject_of=lambda _id, _state: "f-1")
        await given_completed(deps)
        await run(
            deps,
            CorrectFinding(
                "a-1",
                CATALOGUE.critical_question_ids[1],
                NON_COMPLIANT,
                "seen",
                ASSESSOR,
                scope=EVERY_COUNTRY,
            ),
        )
        await run(
            deps,
            RespondToFinding(
                "a-1", CATALOGUE.critical_question_ids[1], "ok", "factory-user", "f-1"
            ),
        )
        assert "assessment-a-1" in store.snapshots
        async with store.unit_of_work() as unit:
            from_snapshot = await deps.assessments.load(unit, "a-1")
            full = await Repository(store, replace(ASSESSMENT, snapshots=None)).load(unit, "a-1")
        assert store.snapshots["assessment-a-1"].version < full.version
        assert from_snapshot == full
        assert full.state is not None and full.state.completed and full.state.responses

    def test_a_snapshot_survives_json(self) -> None:
        events: list[DomainEvent] = [
            AssessmentScheduled(
                assessment_id="a-1",
                factory_id="f-1",
                cycle=1,
                scheduled_for=date(2025, 3, 3),
                assessors=("x",),
                country="KH",
                catalogue_version=CATALOGUE.version,
            ),
            FindingRecorded(
                assessment_id="a-1",
                factory_id="f-1",
                question_id="OSH-EMP-01",
                result="non_compliant",
                evidence="e",
                evidence_refs=("doc-1",),
                recorded_by="x",
            ),
        ]
        state = ASSESSMENT.fold(events)
        assert restore(json.loads(json.dumps(dump(state)))) == state
        assert restore(json.loads(json.dumps(dump(None)))) is None
