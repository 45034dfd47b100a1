"""What the advisory domain tests start from: actors, a course, a survey, factory records and a
session's events (given events ... when a rule decides ... then these events or this error)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from libs.domain.envelope import DomainEvent
from services.advisory.domain.actor import Actor
from services.advisory.domain.catalogue import SEEDED_COURSES
from services.advisory.domain.course import COURSE, Course, define_course
from services.advisory.domain.factory import FACTORY, FactoryRecord, FactoryRecorded
from services.advisory.domain.session import SESSION, Session
from services.advisory.domain.session_events import (
    AttendanceRecorded,
    AttendeeLine,
    FactoryPart,
    ResponseLine,
    SessionDelivered,
    SessionScheduled,
)
from services.advisory.domain.survey import (
    SURVEY,
    Survey,
    SurveyDefinition,
    publish_survey,
)

TODAY = date(2025, 6, 20)
START = date(2025, 6, 2)  # a Monday: the four-day course runs to Thursday
END = date(2025, 6, 5)

ADMIN = Actor("admin-1", "admin")
TRAINER = Actor("trainer-1", "trainer", countries=frozenset({"KH"}))
OTHER_TRAINER = Actor("trainer-2", "trainer", countries=frozenset({"KH"}))
VIETNAM_TRAINER = Actor("trainer-3", "trainer", countries=frozenset({"VN"}))
ADVISOR = Actor("advisor-1", "assessor", countries=frozenset({"KH"}))
FACTORY_USER = Actor("hr-1", "factory", factory_id="f-1")


def course(code: str = "SST") -> Course:
    state = COURSE.fold(define_course(None, code, SEEDED_COURSES["SST"]))
    assert state is not None
    return state


def factory(factory_id: str = "f-1", country: str = "KH") -> FactoryRecord:
    return FACTORY.fold(
        [FactoryRecorded(factory_id=factory_id, name="Mekong", country=country, upstream_version=1)]
    )


def definition(*item_ids: str) -> SurveyDefinition:
    return SurveyDefinition.model_validate(
        {
            "title": "Supervisors' relations",
            "items": [{"item_id": item, "text": f"How is {item}?"} for item in item_ids],
        }
    )


def survey(survey_id: str = "s-1", items: tuple[str, ...] = ("talk", "trust")) -> Survey:
    state = SURVEY.fold(publish_survey(None, survey_id, course(), "SST", 5, definition(*items)))
    assert state is not None
    return state


def scheduled(**changes: Any) -> SessionScheduled:
    base: dict[str, Any] = {
        "session_id": "t-1",
        "course_code": "SST",
        "course_version": 1,
        "course_title": "Supervisory Skills Training",
        "training_days": 4,
        "country": "KH",
        "open_session": False,
        "factories": [{"factory_id": "f-1", "plan_item_ids": ["item-1"]}],
        "trainer": "trainer-1",
        "start_date": START,
        "end_date": END,
        "capacity": 3,
        "language": "km",
        "survey_id": "s-1",
    }
    return SessionScheduled.model_validate({**base, **changes})


def session(events: Iterable[DomainEvent]) -> Session:
    state = SESSION.fold(events)
    assert state is not None
    return state


def part(factory_id: str = "f-1", *items: str) -> FactoryPart:
    return FactoryPart(factory_id=factory_id, plan_item_ids=items)


def line(
    participant_id: str,
    *days: date,
    factory_id: str | None = None,
    role: str = "supervisor",
    gender: str = "female",
    name: str | None = None,
) -> AttendeeLine:
    return AttendeeLine.model_validate(
        {
            "participant_id": participant_id,
            "factory_id": factory_id,
            "role": role,
            "gender": gender,
            "name": name,
            "attended_on": list(days or (START, date(2025, 6, 3), date(2025, 6, 4), END)),
        }
    )


def form(
    participant_id: str, phase: str, talk: int, trust: int, *, factory_id: str | None = None
) -> ResponseLine:
    return ResponseLine.model_validate(
        {
            "participant_id": participant_id,
            "factory_id": factory_id,
            "phase": phase,
            "survey_version": 1,
            "answers": {"talk": talk, "trust": trust},
        }
    )


def delivered_events() -> list[DomainEvent]:
    """A one-factory session with two supervisors (one completed, one attended two days) and a
    worker, delivered on TODAY."""
    days = [START, date(2025, 6, 3), date(2025, 6, 4), END]
    sheet = AttendanceRecorded.model_validate(
        {
            "session_id": "t-1",
            "attendees": [
                {
                    "participant_id": "p-1",
                    "factory_id": "f-1",
                    "role": "supervisor",
                    "gender": "female",
                    "attended_on": days,
                },
                {
                    "participant_id": "p-2",
                    "factory_id": "f-1",
                    "role": "supervisor",
                    "gender": "female",
                    "attended_on": [START, END],
                },
                {
                    "participant_id": "p-3",
                    "factory_id": "f-1",
                    "role": "worker",
                    "gender": "male",
                    "name": "Sok",
                    "attended_on": days,
                },
            ],
        }
    )
    return [scheduled(), sheet, SessionDelivered(session_id="t-1", delivered_on=TODAY)]


def delivered() -> Session:
    return session(delivered_events())
