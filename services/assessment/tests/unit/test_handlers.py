"""Command handlers on the in-memory event store: given events, when a command runs through its
handler (and the aggregate repository), then these events are stored and these public events would
reach the outbox. No I/O."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from libs.domain.aggregate import VersionMismatch
from libs.domain.envelope import DomainEvent
from libs.events.memory import InMemoryEventStore
from libs.events.repository import Repository
from services.assessment import commands
from services.assessment.commands import (
    CompleteAssessment,
    CorrectFinding,
    RecordFinding,
    RegisterFactory,
    RespondToFinding,
    ScheduleAssessment,
    UpdateFactory,
)
from services.assessment.compliance_catalogue import load_library
from services.assessment.contract import CONTRACT
from services.assessment.domain import make_registry
from services.assessment.domain.assessment_events import (
    AssessmentCompleted,
    AssessmentScheduled,
    FactoryResponded,
    FindingCorrected,
    FindingFacts,
    FindingRecorded,
    NonComplianceFound,
    ZeroToleranceIssueFound,
)
from services.assessment.domain.assessment_state import ASSESSMENT, dump, restore
from services.assessment.domain.factory import (
    FactoryDetails,
    FactoryRegistered,
    FactoryUpdated,
    Headcount,
)
from services.assessment.errors import (
    InvalidCommand,
    InvalidFactory,
    NotFoundError,
    OsIdTaken,
)
from services.assessment.handlers import (
    COMMAND_HANDLERS,
    Dependencies,
    complete_assessment,
    correct_finding,
    make_dependencies,
    record_finding,
    register_factory,
    respond_to_finding,
    schedule_assessment,
    update_factory,
)

LIBRARY = load_library()
_CAMBODIA = LIBRARY.resolve(LIBRARY.latest_version, "KH")
assert _CAMBODIA is not None
CATALOGUE = _CAMBODIA
NOW = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
ASSESSOR = "assessor-1"
NON_COMPLIANT = FindingFacts(result="non_compliant", evidence="Exit padlocked", evidence_refs=())
COMPLIANT = FindingFacts(result="compliant")


class FakeLookups:
    """The read models as the handlers ask them: OS ID owners and each factory's last cycle."""

    def __init__(self) -> None:
        self.os_id_owners: dict[str, str] = {}
        self.last_cycles: dict[str, int] = {}

    async def os_id_owner(self, unit: Any, os_id: str) -> str | None:
        return self.os_id_owners.get(os_id)

    async def last_cycle(self, unit: Any, factory_id: str) -> int:
        return self.last_cycles.get(factory_id, 0)


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore(make_registry(), public=CONTRACT)


@pytest.fixture
def lookups() -> FakeLookups:
    return FakeLookups()


@pytest.fixture
def deps(store: InMemoryEventStore, lookups: FakeLookups) -> Dependencies:
    return make_dependencies(store, LIBRARY, lookups, clock=lambda: NOW)


def details(**changes: object) -> FactoryDetails:
    base: dict[str, object] = {
        "name": "Mekong Garments",
        "country": "KH",
        "address": "Street 2004, Phnom Penh",
        "sector_isic": "1410",
        "workforce": {"women": 800, "men": 200},
    }
    return FactoryDetails.model_validate({**base, **changes})


def published(store: InMemoryEventStore) -> list[str]:
    return [envelope.event_name for envelope in store.published]


def stored(store: InMemoryEventStore, stream_id: str) -> list[type[DomainEvent]]:
    return [type(event) for event in store.events(stream_id)]


async def given_factory(deps: Dependencies, factory_id: str = "f-1") -> None:
    await register_factory(RegisterFactory(factory_id, details()), deps)


async def given_assessment(deps: Dependencies, *, critical_answered: bool = False) -> None:
    await given_factory(deps)
    await schedule_assessment(
        ScheduleAssessment("a-1", "f-1", date(2025, 3, 3), (ASSESSOR, "assessor-2")), deps
    )
    if critical_answered:
        for question_id in CATALOGUE.critical_question_ids:
            await record_finding(RecordFinding("a-1", question_id, COMPLIANT, ASSESSOR), deps)


async def given_completed(deps: Dependencies) -> None:
    await given_assessment(deps, critical_answered=True)
    await complete_assessment(CompleteAssessment("a-1", ASSESSOR), deps)


class TestRegisterFactory:
    async def test_stores_and_publishes_the_registration(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        change = await register_factory(RegisterFactory("f-1", details()), deps)
        assert change.version == 1
        [event] = store.events("factory-f-1")
        assert isinstance(event, FactoryRegistered)
        assert event.workforce == Headcount(women=800, men=200)
        assert published(store) == ["FactoryRegistered"]
        assert store.published[0].subject == "f-1"

    async def test_refuses_an_os_id_of_another_factory(
        self, deps: Dependencies, store: InMemoryEventStore, lookups: FakeLookups
    ) -> None:
        lookups.os_id_owners["KH2019257Q2JMGW"] = "f-0"
        with pytest.raises(OsIdTaken):
            await register_factory(RegisterFactory("f-1", details(os_id="KH2019257Q2JMGW")), deps)
        assert store.events("factory-f-1") == [] and store.published == []


class TestUpdateFactory:
    async def test_records_the_changed_details(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_factory(deps)
        change = await update_factory(UpdateFactory("f-1", {"name": "Mekong Apparel"}, 1), deps)
        assert change.version == 2
        assert stored(store, "factory-f-1") == [FactoryRegistered, FactoryUpdated]
        assert published(store) == ["FactoryRegistered", "FactoryUpdated"]

    async def test_an_update_that_changes_nothing_records_nothing(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_factory(deps)
        change = await update_factory(UpdateFactory("f-1", {"name": "Mekong Garments"}), deps)
        assert change.version == 1 and change.events == ()
        assert stored(store, "factory-f-1") == [FactoryRegistered]

    async def test_refuses_a_stale_if_match(self, deps: Dependencies) -> None:
        await given_factory(deps)
        with pytest.raises(VersionMismatch):
            await update_factory(UpdateFactory("f-1", {"name": "X"}, expected_version=3), deps)

    async def test_refuses_details_that_break_the_rules(self, deps: Dependencies) -> None:
        await given_factory(deps)
        with pytest.raises(InvalidFactory):
            await update_factory(UpdateFactory("f-1", {"sector_isic": "0400"}), deps)

    async def test_an_unknown_factory_is_not_found(self, deps: Dependencies) -> None:
        with pytest.raises(NotFoundError):
            await update_factory(UpdateFactory("f-9", {"name": "X"}), deps)


class TestScheduleAssessment:
    async def test_takes_the_next_cycle_and_publishes_without_date_or_assessors(
        self, deps: Dependencies, store: InMemoryEventStore, lookups: FakeLookups
    ) -> None:
        await given_factory(deps)
        lookups.last_cycles["f-1"] = 2
        await schedule_assessment(
            ScheduleAssessment("a-1", "f-1", date(2025, 3, 3), ("x", "y")), deps
        )
        [event] = store.events("assessment-a-1")
        assert isinstance(event, AssessmentScheduled) and event.cycle == 3
        public = store.published[-1]
        assert public.event_name == "AssessmentScheduled" and public.subject == "f-1"
        assert "scheduled_for" not in public.data and "assessors" not in public.data

    async def test_an_unknown_factory_is_not_found(self, deps: Dependencies) -> None:
        with pytest.raises(NotFoundError):
            await schedule_assessment(
                ScheduleAssessment("a-1", "f-9", date(2025, 3, 3), ("x",)), deps
            )

    async def test_refuses_an_unknown_catalogue_version(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_factory(deps)
        with pytest.raises(InvalidCommand):
            await schedule_assessment(
                ScheduleAssessment("a-1", "f-1", date(2025, 3, 3), ("x",), "1999.9"), deps
            )
        assert store.events("assessment-a-1") == []


class TestRecordFinding:
    async def test_a_draft_finding_is_stored_but_never_published(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_assessment(deps)
        before = len(store.published)
        # a zero-tolerance non-compliance escalates inside the service at once
        await record_finding(RecordFinding("a-1", "CHL-CHI-01", NON_COMPLIANT, ASSESSOR), deps)
        assert stored(store, "assessment-a-1")[-2:] == [FindingRecorded, ZeroToleranceIssueFound]
        assert len(store.published) == before

    async def test_an_unknown_assessment_is_not_found(self, deps: Dependencies) -> None:
        with pytest.raises(NotFoundError):
            await record_finding(RecordFinding("a-9", "OSH-EMP-01", COMPLIANT, ASSESSOR), deps)

    async def test_refuses_a_stale_if_match(self, deps: Dependencies) -> None:
        await given_assessment(deps)
        with pytest.raises(VersionMismatch):
            await record_finding(
                RecordFinding("a-1", "OSH-EMP-01", COMPLIANT, ASSESSOR, expected_version=7), deps
            )


class TestCompleteAssessment:
    async def test_publishes_the_report_and_each_non_compliance(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_assessment(deps, critical_answered=True)
        await record_finding(RecordFinding("a-1", "OSH-WEN-01", NON_COMPLIANT, ASSESSOR), deps)
        await complete_assessment(CompleteAssessment("a-1", ASSESSOR), deps)
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
        await correct_finding(
            CorrectFinding("a-1", question_id, NON_COMPLIANT, "photo reviewed", "assessor-2"), deps
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
        await respond_to_finding(self.respond(), deps)
        assert stored(store, "assessment-a-1")[-1] is FactoryResponded
        assert published(store)[-1] == "FactoryResponded"

    async def test_another_factory_learns_nothing_even_with_a_stale_if_match(
        self, deps: Dependencies
    ) -> None:
        await given_completed(deps)
        # authorization comes before the If-Match check: a 404, not a 412 that would leak the
        # assessment's existence
        with pytest.raises(NotFoundError):
            await respond_to_finding(self.respond("f-2", expected_version=1), deps)

    async def test_an_assessment_before_its_report_is_not_found(self, deps: Dependencies) -> None:
        await given_assessment(deps, critical_answered=True)
        with pytest.raises(NotFoundError):
            await respond_to_finding(self.respond(), deps)


class TestSnapshots:
    async def test_loading_from_a_snapshot_equals_the_full_fold(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        snapshots = ASSESSMENT.snapshots
        assert snapshots is not None
        often = replace(ASSESSMENT, snapshots=replace(snapshots, every=3))
        deps.assessments = Repository(store, often, subject_of=lambda _id, _state: "f-1")
        await given_completed(deps)
        await correct_finding(
            CorrectFinding(
                "a-1", CATALOGUE.critical_question_ids[1], NON_COMPLIANT, "seen", ASSESSOR
            ),
            deps,
        )
        await respond_to_finding(
            RespondToFinding(
                "a-1", CATALOGUE.critical_question_ids[1], "ok", "factory-user", "f-1"
            ),
            deps,
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


def test_every_command_has_its_handler() -> None:
    command_types = {
        value
        for value in vars(commands).values()
        if isinstance(value, type) and value.__module__ == commands.__name__
    }
    assert command_types == set(COMMAND_HANDLERS)
