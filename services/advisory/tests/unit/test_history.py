"""A programme's past, decided by the live rules: given a record of the history bundle and what
this service knows (the catalogue, its factory records), the events of a delivered session or a
completed visit, each step on its business day, or why the record is refused."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from libs.domain.history.advisory import AdvisoryVisitRecord, TrainingSessionRecord
from libs.domain.history.bundle import imported_id
from services.advisory.domain import history
from services.advisory.domain.actor import Actor
from services.advisory.domain.catalogue import SEEDED_COURSES
from services.advisory.domain.course import COURSE, Course, CourseRetired, define_course
from services.advisory.domain.factory import TrainingReceived
from services.advisory.domain.history import Rejected, past_session, past_visit, receive
from services.advisory.domain.vocabulary import SessionStatus, VisitStatus
from services.advisory.tests.unit.given import factory

TODAY = date(2025, 6, 20)
ADMIN = Actor("admin-1", "admin", countries=frozenset({"KH"}))
F1, F2, F9 = (history.factory_id(source) for source in ("KH-F1", "KH-F2", "KH-F9"))
KNOWN = {F1: factory(F1), F2: factory(F2), F9: factory(F9, "VN")}


def course(code: str = "SST") -> Course:
    """A course of the seeded catalogue (SST: four days; OSH: two)."""
    state = COURSE.fold(define_course(None, code, SEEDED_COURSES[code]))
    assert state is not None
    return state


def record(**fields: Any) -> TrainingSessionRecord:
    """SST (four days) at F1 in March 2004: one attendee every day, one two days."""
    attendees = [
        {"factory": "KH-F1", "role": "supervisor", "gender": "female", "days_attended": 4},
        {"factory": "KH-F1", "role": "supervisor", "gender": "male", "days_attended": 2},
    ]
    return TrainingSessionRecord.model_validate(
        {
            "source_id": "S-1",
            "course_code": "SST",
            "factories": ["KH-F1"],
            "start_date": "2004-03-01",
            "end_date": "2004-03-04",
            "language": "km",
            "attendees": attendees,
            **fields,
        }
    )


def attendee(factory_source: str, days: int) -> dict[str, Any]:
    return {"factory": factory_source, "role": "worker", "gender": "female", "days_attended": days}


def refused(error: pytest.ExceptionInfo[Rejected]) -> tuple[str, str]:
    return error.value.field, error.value.reason


class TestAPastSession:
    def test_is_scheduled_on_its_first_day_and_signed_and_delivered_on_its_last(self) -> None:
        past = past_session(record(), actor=ADMIN, course=course(), records=KNOWN, today=TODAY)
        assert [(step.day, [type(e).__name__ for e in step.events]) for step in past.steps] == [
            (date(2004, 3, 1), ["SessionScheduled"]),
            (date(2004, 3, 4), ["AttendanceRecorded", "SessionDelivered"]),
        ]
        session = past.session
        assert past.session_id == imported_id("training-sessions", "S-1") == session.session_id
        assert (session.status, session.delivered_on) == (SessionStatus.DELIVERED, date(2004, 3, 4))
        assert (session.capacity, session.trainer, session.open_session) == (2, "admin-1", False)
        assert [state.status for step in past.steps for state in step.states] == [
            SessionStatus.SCHEDULED,
            SessionStatus.SCHEDULED,
            SessionStatus.DELIVERED,
        ]

    def test_an_attendee_signs_the_first_days_and_completes_with_every_training_day(
        self,
    ) -> None:
        session = past_session(
            record(), actor=ADMIN, course=course(), records=KNOWN, today=TODAY
        ).session
        first, second = (history.participant_id("S-1", index) for index in (0, 1))
        assert sorted(session.attendees[(F1, first)].days) == [
            date(2004, 3, 1),
            date(2004, 3, 2),
            date(2004, 3, 3),
            date(2004, 3, 4),
        ]
        assert sorted(session.attendees[(F1, second)].days) == [date(2004, 3, 1), date(2004, 3, 2)]
        assert [(group.participants, group.completions) for group in session.groups()] == [
            (1, 1),
            (1, 0),
        ]

    def test_an_open_session_gives_each_attending_factory_its_own_part(self) -> None:
        open_session = record(
            course_code="OSH",
            factories=["KH-F1", "KH-F2"],
            attendees=[attendee("KH-F2", 2), attendee("KH-F2", 1)],
            trainer="Sokha",
        )
        past = past_session(
            open_session, actor=ADMIN, course=course("OSH"), records=KNOWN, today=TODAY
        )
        assert past.session.open_session and past.session.trainer == "Sokha"
        assert [(part.factory_id, part.delivered_on) for part in past.received] == [
            (F2, date(2004, 3, 4))
        ]
        assert [(g.participants, g.completions) for g in past.received[0].groups] == [(2, 1)]

    def test_a_course_retired_since_still_takes_its_past_sessions(self) -> None:
        retired = COURSE.evolve(course(), CourseRetired(code="SST"))
        past = past_session(record(), actor=ADMIN, course=retired, records=KNOWN, today=TODAY)
        assert past.session.status is SessionStatus.DELIVERED

    @pytest.mark.parametrize(
        ("fields", "course_code", "field"),
        [
            ({"course_code": "COOKING"}, None, "course_code"),
            ({"factories": ["KH-F1", "KH-F3"]}, "SST", "factories.1"),
            ({"factories": ["KH-F1", "KH-F9"]}, "SST", "factories.1"),  # not the admin's
            ({"end_date": "2004-03-02"}, "SST", "end_date"),  # no room for four days
            ({"end_date": "2004-07-01"}, "SST", "end_date"),  # more than 92 days
            ({"language": "fr"}, "SST", "language"),
            ({"attendees": [attendee("KH-F1", 5)]}, "SST", "attendees.0.days_attended"),
            ({"attendees": [attendee("KH-F1", 0)]}, "SST", "attendees.0.days_attended"),
            ({"attendees": [attendee("KH-F1", 1)] * 501}, "SST", "attendees"),
            ({"start_date": "1999-12-31"}, "SST", "start_date"),
            ({"start_date": "2025-06-20", "end_date": "2025-06-23"}, "SST", "end_date"),
            ({"start_date": "9999-12-01", "end_date": "9999-12-31"}, "SST", "start_date"),
        ],
    )
    def test_a_record_the_live_rules_refuse_is_rejected_on_its_field(
        self, fields: dict[str, Any], course_code: str | None, field: str
    ) -> None:
        known = course(course_code) if course_code else None
        with pytest.raises(Rejected) as error:
            past_session(record(**fields), actor=ADMIN, course=known, records=KNOWN, today=TODAY)
        assert error.value.field == field

    def test_another_programmes_factory_reads_as_unknown(self) -> None:
        vietnam = record(factories=["KH-F9"], attendees=[attendee("KH-F9", 1)])
        with pytest.raises(Rejected) as error:
            past_session(vietnam, actor=ADMIN, course=course(), records=KNOWN, today=TODAY)
        assert refused(error) == ("factories.0", "factory KH-F9 is not known")

    def test_factories_of_two_programmes_are_refused_for_a_global_admin(self) -> None:
        two = record(factories=["KH-F1", "KH-F9"], attendees=[attendee("KH-F1", 4)])
        with pytest.raises(Rejected) as error:
            past_session(
                two, actor=Actor("hq", "admin"), course=course(), records=KNOWN, today=TODAY
            )
        assert error.value.field == "factories"

    def test_a_session_that_exists_is_refused(self) -> None:
        with pytest.raises(Rejected) as error:
            past_session(
                record(), actor=ADMIN, course=course(), records=KNOWN, today=TODAY, exists=True
            )
        assert error.value.field == "source_id"


class TestAFactoryRecord:
    def test_takes_each_session_once(self) -> None:
        past = past_session(record(), actor=ADMIN, course=course(), records=KNOWN, today=TODAY)
        part = past.received[0]
        events, states = receive(KNOWN[F1], [part, part])
        assert [type(event) for event in events] == [TrainingReceived]
        assert states[-1].trainings == frozenset({past.session_id})


class TestAPastVisit:
    def visit(self, **fields: Any) -> AdvisoryVisitRecord:
        return AdvisoryVisitRecord.model_validate(
            {
                "source_id": "V-1",
                "factory": "KH-F1",
                "visited_on": "2004-06-15",
                "duration_days": 1.5,
                "purpose": "committee_support",
                **fields,
            }
        )

    def test_is_planned_and_completed_on_the_day_it_took_place(self) -> None:
        past = past_visit(self.visit(), actor=ADMIN, factory=KNOWN[F1], today=TODAY)
        (step,) = past.steps
        assert (step.day, [type(e).__name__ for e in step.events]) == (
            date(2004, 6, 15),
            ["VisitPlanned", "VisitCompleted"],
        )
        visit = past.visit
        assert past.visit_id == imported_id("advisory-visits", "V-1") == visit.visit_id
        assert (visit.status, visit.planned_for, visit.visited_on, visit.duration_days) == (
            VisitStatus.COMPLETED,
            date(2004, 6, 15),
            date(2004, 6, 15),
            1.5,
        )
        assert (visit.factory_id, visit.country, visit.advisor) == (F1, "KH", "admin-1")

    @pytest.mark.parametrize(
        ("fields", "known", "field"),
        [
            ({}, None, "factory"),
            ({"factory": "KH-F9"}, KNOWN[F9], "factory"),  # not the admin's programme
            ({"duration_days": 10.5}, KNOWN[F1], "duration_days"),
            ({"visited_on": "2025-06-21"}, KNOWN[F1], "visited_on"),  # tomorrow
            ({"visited_on": "1999-12-31"}, KNOWN[F1], "visited_on"),
        ],
    )
    def test_is_refused_where_the_live_rules_refuse(
        self, fields: dict[str, Any], known: Any, field: str
    ) -> None:
        with pytest.raises(Rejected) as error:
            past_visit(self.visit(**fields), actor=ADMIN, factory=known, today=TODAY)
        assert error.value.field == field
