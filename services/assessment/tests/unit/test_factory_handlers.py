"""The Factory's handlers on the in-memory store: given events, when a command runs through its
handler (and the aggregate repository), then these events are stored and these public events
would reach the outbox. No I/O."""

from __future__ import annotations

from typing import Any

import pytest

from libs.domain.aggregate import VersionMismatch
from libs.domain.errors import NotFound
from libs.events.memory import InMemoryEventStore
from services.assessment.commands import RegisterFactory, UpdateFactory
from services.assessment.domain.factory import FactoryRegistered, FactoryUpdated, Headcount
from services.assessment.domain.scope import EVERY_COUNTRY
from services.assessment.errors import InvalidFactory, OsIdTaken
from services.assessment.handlers.dependencies import Dependencies
from services.assessment.tests.unit.given import details
from services.assessment.tests.unit.in_memory import (
    FakeLookups,
    given_factory,
    published,
    run,
    stored,
)


class TestRegisterFactory:
    async def test_stores_and_publishes_the_registration(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        change = await run(deps, RegisterFactory("f-1", details(), scope=EVERY_COUNTRY))
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
            await run(
                deps, RegisterFactory("f-1", details(os_id="KH2019257Q2JMGW"), scope=EVERY_COUNTRY)
            )
        assert store.events("factory-f-1") == [] and store.published == []


class TestUpdateFactory:
    async def test_records_the_changed_details(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_factory(deps)
        change = await run(
            deps, UpdateFactory("f-1", {"name": "Mekong Apparel"}, 1, scope=EVERY_COUNTRY)
        )
        assert change.version == 2
        assert stored(store, "factory-f-1") == [FactoryRegistered, FactoryUpdated]
        assert published(store) == ["FactoryRegistered", "FactoryUpdated"]

    async def test_an_update_that_changes_nothing_records_nothing(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_factory(deps)
        change = await run(
            deps, UpdateFactory("f-1", {"name": "Mekong Garments"}, scope=EVERY_COUNTRY)
        )
        assert change.version == 1 and change.events == ()
        assert stored(store, "factory-f-1") == [FactoryRegistered]

    async def test_refuses_a_stale_if_match(self, deps: Dependencies) -> None:
        await given_factory(deps)
        with pytest.raises(VersionMismatch):
            await run(
                deps, UpdateFactory("f-1", {"name": "X"}, expected_version=3, scope=EVERY_COUNTRY)
            )

    async def test_refuses_details_that_break_the_rules(self, deps: Dependencies) -> None:
        await given_factory(deps)
        with pytest.raises(InvalidFactory):
            await run(deps, UpdateFactory("f-1", {"sector_isic": "0400"}, scope=EVERY_COUNTRY))

    async def test_an_unknown_factory_is_not_found(self, deps: Dependencies) -> None:
        with pytest.raises(NotFound):
            await run(deps, UpdateFactory("f-9", {"name": "X"}, scope=EVERY_COUNTRY))


class RecordedAnswers:
    """Answers as the read models would give them, with the calls that asked for them."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def factory(self, unit: Any, factory_id: str) -> Any:
        self.asked.append(factory_id)
        return {"factory_id": factory_id}

    async def assessment(self, unit: Any, assessment_id: str) -> Any:
        self.asked.append(assessment_id)
        return {"assessment_id": assessment_id}


class TestAnswers:
    async def test_a_command_is_answered_from_its_own_unit_of_work(
        self, deps: Dependencies
    ) -> None:
        answers = RecordedAnswers()
        deps.answers = answers
        change = await run(deps, RegisterFactory("f-1", details(), scope=EVERY_COUNTRY))
        assert change.answer == {"factory_id": "f-1"} and answers.asked == ["f-1"]

    async def test_without_read_models_there_is_no_answer(self, deps: Dependencies) -> None:
        change = await run(deps, RegisterFactory("f-1", details(), scope=EVERY_COUNTRY))
        assert change.answer is None
