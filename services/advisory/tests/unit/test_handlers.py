"""Command handlers and reactions on the in-memory event store (no I/O): given the events in the
store, when a handler runs, then these events are in the streams and these public events would
reach the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

import pytest

from libs.domain.envelope import DomainEvent, Envelope, EventContext
from libs.events.memory import InMemoryEventStore, InMemoryUnit
from libs.events.store import ConcurrencyConflict
from services.advisory.commands import (
    CompleteVisit,
    DeliverSession,
    PlanVisit,
    RecordAttendance,
    RecordFactory,
    ScheduleSession,
)
from services.advisory.contract import CONTRACT
from services.advisory.domain.factory import AssessmentCycleRecorded, TrainingReceived
from services.advisory.domain.session_events import SessionDelivered
from services.advisory.handlers import COMMAND_HANDLERS, EVENT_HANDLERS
from services.advisory.handlers.dependencies import Dependencies, make_dependencies
from services.advisory.ids import FACTORY_STREAM_PREFIX
from services.advisory.seeding import CourseSeeder
from services.advisory.service import events as registry
from services.advisory.tests.unit.given import ADVISOR, END, START, TRAINER, line, part
from services.advisory.upstream import AssessmentCompleted, FactoryRegistered

NOW = datetime(2025, 6, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore(registry(), public=CONTRACT)


@pytest.fixture
def deps(store: InMemoryEventStore) -> Dependencies:
    return make_dependencies(store, clock=lambda: NOW)


def upstream(factory_id: str, country: str, version: int = 1) -> Envelope:
    return Envelope(
        id=f"{factory_id}-{version}",
        source="/betterwork/assessment",
        type="org.betterwork.assessment.FactoryRegistered.v1",
        subject=factory_id,
        time=NOW,
        data={},
        correlationid="c-1",
        streamid=f"factory-{factory_id}",
        streamversion=version,
    )


async def given_factories(deps: Dependencies, *factories: tuple[str, str]) -> None:
    _, react = EVENT_HANDLERS["FactoryRegistered"]
    for factory_id, country in factories:
        event = FactoryRegistered(factory_id=factory_id, name="Mekong", country=country)
        await react(deps, None, upstream(factory_id, country), event)


async def run(deps: Dependencies, command: object) -> Any:
    return await COMMAND_HANDLERS[type(command)](command, deps)


async def delivered_open_session(deps: Dependencies) -> str:
    await CourseSeeder(deps).seed()
    await given_factories(deps, ("f-1", "KH"), ("f-2", "KH"), ("f-3", "KH"))
    schedule = ScheduleSession(
        session_id="t-1",
        course_code="SST",
        factories=(part("f-1", "item-1"), part("f-2", "item-7"), part("f-3")),
        open_session=True,
        trainer=None,
        start_date=START,
        end_date=END,
        capacity=10,
        language="km",
        survey_id=None,
        actor=TRAINER,
    )
    await run(deps, schedule)
    sheet = (line("p-1", factory_id="f-1"), line("p-1", START, factory_id="f-2"))
    await run(deps, RecordAttendance("t-1", sheet, TRAINER))
    await run(deps, DeliverSession("t-1", TRAINER))
    return "t-1"


class TestReactions:
    async def test_a_factory_is_recorded_once_and_its_cycles_too(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_factories(deps, ("f-1", "KH"))
        await given_factories(deps, ("f-1", "KH"))  # redelivered
        _, react = EVENT_HANDLERS["AssessmentCompleted"]
        completed = AssessmentCompleted(
            assessment_id="a-1", factory_id="f-1", cycle=1, report_date=date(2024, 3, 1)
        )
        await react(deps, None, upstream("f-1", "KH"), completed)
        await react(deps, None, upstream("f-1", "KH"), completed)
        events = store.events(FACTORY_STREAM_PREFIX + "f-1")
        assert [type(event).__name__ for event in events] == [
            "FactoryRecorded",
            "AssessmentCycleRecorded",
        ]
        assert events[1] == AssessmentCycleRecorded(
            factory_id="f-1", cycle=1, report_date=date(2024, 3, 1)
        )
        assert not store.published

    async def test_an_older_update_after_a_newer_one_changes_nothing(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await run(deps, RecordFactory("f-1", "Mekong", "VN", 3))
        change = await run(deps, RecordFactory("f-1", "Mekong", "KH", 2))
        assert change.events == () and change.state.country == "VN"


class TestSeeding:
    async def test_seeds_the_missing_courses_once(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        assert await CourseSeeder(deps).seed() == 6
        assert await CourseSeeder(deps).seed() == 0
        assert [type(e).__name__ for e in store.events("course-SST")] == ["CourseDefined"]


class TestDelivery:
    async def test_each_attending_factory_gets_its_own_public_event(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await delivered_open_session(deps)
        assert isinstance(store.events("training-session-t-1")[-1], SessionDelivered)
        published = [e for e in store.published if e.event_name == "TrainingSessionDelivered"]
        assert [(e.subject, e.data["factory_id"], e.data["participants"]) for e in published] == [
            ("f-1", "f-1", 1),
            ("f-2", "f-2", 1),
        ]
        assert published[0].data["plan_item_ids"] == ["item-1"]
        assert published[1].data["completions"] == 0
        # f-3 took part without participants: it received no training
        assert not any(isinstance(e, TrainingReceived) for e in store.events("factory-f-3"))

    async def test_a_factory_record_taken_meanwhile_makes_the_delivery_decide_again(
        self, store: InMemoryEventStore
    ) -> None:
        racing = RacingStore(store)
        deps = make_dependencies(racing, clock=lambda: NOW)
        await delivered_open_session(deps)
        assert racing.conflicts == 1
        assert len([e for e in store.published if e.event_name == "TrainingSessionDelivered"]) == 2


class TestVisits:
    async def test_a_completed_visit_is_published_about_its_factory(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_factories(deps, ("f-1", "KH"))
        await run(deps, PlanVisit("v-1", "f-1", date(2025, 6, 18), "improvement_plan", ADVISOR))
        await run(
            deps,
            CompleteVisit(
                "v-1", date(2025, 6, 18), 1.0, "internal", ADVISOR, ("item-1", "item-2"), "m-1"
            ),
        )
        (event,) = store.published
        assert (event.event_name, event.subject) == ("AdvisoryVisitCompleted", "f-1")
        assert event.data["plan_item_ids"] == ["item-1", "item-2"]
        assert "notes" not in event.data


class RacingStore:
    """The in-memory store, where the first append to a factory's record inside a delivery finds
    that another writer got there first (as a reaction running at that moment would)."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self.store = store
        self.conflicts = 0

    @asynccontextmanager
    async def unit_of_work(
        self, *, authorize_first: bool = False, connection: Any = None
    ) -> AsyncIterator[InMemoryUnit]:
        async with self.store.unit_of_work() as unit:
            original = unit.append

            async def append(
                stream_id: str,
                *,
                stream_type: str,
                expected_version: int,
                events: Sequence[DomainEvent],
                subject: str,
                states: Sequence[Any] | None = None,
                contexts: Sequence[EventContext] | None = None,
            ) -> list[Envelope]:
                training = any(isinstance(event, TrainingReceived) for event in events)
                if training and not self.conflicts:
                    self.conflicts += 1
                    raise ConcurrencyConflict(stream_id, expected_version)
                return await original(
                    stream_id,
                    stream_type=stream_type,
                    expected_version=expected_version,
                    events=events,
                    subject=subject,
                    states=states,
                    contexts=contexts,
                )

            unit.append = append  # type: ignore[method-assign]
            yield unit
