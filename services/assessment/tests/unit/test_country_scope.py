"""Staff commands act within the caller's country programmes (issue 22, finding 7), on the
in-memory store: given a Cambodian factory and its assessment, when a staff member of another
programme commands, then it is 'not found' (or, for a factory that does not exist yet, outside the
programme) and nothing is stored. The scope itself is a pure value."""

from __future__ import annotations

from datetime import date

import pytest

from libs.domain.errors import NotFound
from libs.events.memory import InMemoryEventStore
from services.assessment.commands import (
    CompleteAssessment,
    CorrectFinding,
    RecordFinding,
    RecordFindings,
    RegisterFactory,
    ScheduleAssessment,
    UpdateFactory,
)
from services.assessment.domain.scope import EVERY_COUNTRY, NO_COUNTRY, CountryScope
from services.assessment.errors import OutsideCountryProgramme
from services.assessment.handlers.dependencies import Dependencies
from services.assessment.tests.unit.given import details
from services.assessment.tests.unit.in_memory import (
    ASSESSOR,
    COMPLIANT,
    given_assessment,
    given_completed,
    given_factory,
    run,
)

BANGLADESH = CountryScope(frozenset({"BD"}))
BOTH = CountryScope(frozenset({"BD", "KH"}))


class TestTheScope:
    def test_covers_its_countries_in_any_case(self) -> None:
        assert BOTH.covers("kh") and BOTH.covers("BD")
        assert not BANGLADESH.covers("KH") and not BANGLADESH.covers(None)

    def test_every_country_and_no_country(self) -> None:
        assert EVERY_COUNTRY.covers("VN") and EVERY_COUNTRY.covers(None)
        assert not NO_COUNTRY.covers("KH")

    def test_requiring_another_country_is_outside_the_programme(self) -> None:
        with pytest.raises(OutsideCountryProgramme) as refused:
            BANGLADESH.require("kh")
        assert refused.value.extensions == {"country": "KH"}


class TestAssessmentCommandsOfAnotherProgramme:
    @pytest.mark.parametrize(
        "command",
        [
            RecordFinding("a-1", "OSH-EMP-01", COMPLIANT, ASSESSOR, scope=BANGLADESH),
            RecordFindings("a-1", (("OSH-EMP-01", COMPLIANT),), ASSESSOR, scope=BANGLADESH),
            CompleteAssessment("a-1", ASSESSOR, scope=BANGLADESH),
        ],
        ids=["record", "record-many", "complete"],
    )
    async def test_on_an_open_assessment_are_not_found(
        self, deps: Dependencies, store: InMemoryEventStore, command: object
    ) -> None:
        await given_assessment(deps, critical_answered=True)
        before = store.events("assessment-a-1")
        with pytest.raises(NotFound):
            await run(deps, command)
        assert store.events("assessment-a-1") == before

    async def test_a_correction_is_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_completed(deps)
        before = store.events("assessment-a-1")
        correction = CorrectFinding(
            "a-1", "OSH-EMP-01", COMPLIANT, "seen", ASSESSOR, scope=BANGLADESH
        )
        with pytest.raises(NotFound):
            await run(deps, correction)
        assert store.events("assessment-a-1") == before

    async def test_scheduling_is_as_for_an_unknown_factory(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_factory(deps)
        with pytest.raises(NotFound, match="factory f-1 does not exist"):
            await run(
                deps, ScheduleAssessment("a-1", "f-1", date(2025, 3, 3), ("x",), scope=BANGLADESH)
            )
        assert store.events("assessment-a-1") == []

    async def test_a_staff_member_of_both_programmes_acts(self, deps: Dependencies) -> None:
        await given_assessment(deps)
        change = await run(
            deps, RecordFinding("a-1", "OSH-EMP-01", COMPLIANT, ASSESSOR, scope=BOTH)
        )
        assert change.version == 2


class TestFactoryCommandsOfAnotherProgramme:
    async def test_registering_in_another_country_is_refused(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        with pytest.raises(OutsideCountryProgramme):
            await run(deps, RegisterFactory("f-1", details(), scope=BANGLADESH))
        assert store.events("factory-f-1") == []

    async def test_updating_another_countrys_factory_is_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_factory(deps)
        with pytest.raises(NotFound):
            await run(deps, UpdateFactory("f-1", {"name": "X"}, scope=BANGLADESH))
        assert len(store.events("factory-f-1")) == 1

    async def test_moving_a_factory_out_of_the_callers_programmes_is_refused(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_factory(deps)
        cambodia = CountryScope(frozenset({"KH"}))
        with pytest.raises(OutsideCountryProgramme):
            await run(deps, UpdateFactory("f-1", {"country": "BD"}, scope=cambodia))
        assert len(store.events("factory-f-1")) == 1
        moved = await run(deps, UpdateFactory("f-1", {"country": "BD"}, scope=BOTH))
        assert moved.version == 2
