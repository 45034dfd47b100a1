"""A training session's life: scheduling (course, factories, country programme, trainer,
dates), rescheduling, delivery and cancellation, and who sees it, as given events / when / then.
No I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from libs.domain.errors import AlreadyExists
from services.advisory.domain import session_rules as rules
from services.advisory.domain.actor import Actor
from services.advisory.domain.course import COURSE, retire_course
from services.advisory.domain.factory import FactoryRecord, GroupCount
from services.advisory.domain.session_events import (
    SessionCancelled,
    SessionDelivered,
    SessionRescheduled,
    SessionScheduled,
)
from services.advisory.domain.vocabulary import SessionStatus
from services.advisory.errors import (
    AttendanceAlreadyRecorded,
    DateOutOfRange,
    InvalidSession,
    NoAttendance,
    NoSuchSession,
    NotResponsible,
    OverCapacity,
    RetiredCourse,
    SessionClosed,
    UnknownCourse,
    UnknownFactory,
    UnknownSurvey,
)
from services.advisory.tests.unit.given import (
    ADMIN,
    END,
    FACTORY_USER,
    OTHER_TRAINER,
    START,
    TODAY,
    TRAINER,
    VIETNAM_TRAINER,
    course,
    delivered,
    factory,
    line,
    part,
    scheduled,
    session,
    survey,
)


def schedule(**changes: Any) -> list[Any]:
    arguments: dict[str, Any] = {
        "session_id": "t-1",
        "actor": TRAINER,
        "course_code": "SST",
        "course": course(),
        "parts": [(part("f-1", "item-1"), factory("f-1"))],
        "open_session": False,
        "trainer": None,
        "start_date": START,
        "end_date": END,
        "capacity": 3,
        "language": "km",
        "survey": survey(),
        "survey_id": "s-1",
        "today": TODAY,
    }
    return rules.schedule_session(None, **{**arguments, **changes})


class TestScheduleSession:
    def test_a_trainer_schedules_their_own_session_with_the_course_version(self) -> None:
        assert schedule() == [scheduled()]

    def test_an_admin_names_the_trainer(self) -> None:
        event = schedule(actor=ADMIN, trainer="trainer-9")[0]
        assert isinstance(event, SessionScheduled) and event.trainer == "trainer-9"
        with pytest.raises(InvalidSession):
            schedule(actor=ADMIN)

    def test_a_trainer_does_not_schedule_for_another(self) -> None:
        with pytest.raises(NotResponsible):
            schedule(trainer="trainer-2")

    def test_an_open_session_gathers_factories_of_one_country(self) -> None:
        parts = [(part("f-1"), factory("f-1")), (part("f-2", "item-9"), factory("f-2"))]
        event = schedule(parts=parts, open_session=True)[0]
        assert isinstance(event, SessionScheduled) and len(event.factories) == 2
        with pytest.raises(InvalidSession):
            schedule(parts=parts)
        mixed = [(part("f-1"), factory("f-1")), (part("f-2"), factory("f-2", "VN"))]
        with pytest.raises(InvalidSession):
            schedule(parts=mixed, open_session=True, actor=ADMIN, trainer="trainer-1")

    def test_an_unknown_factory_and_another_countrys_are_the_same_404(self) -> None:
        with pytest.raises(UnknownFactory):
            schedule(parts=[(part("f-9"), FactoryRecord())])
        with pytest.raises(UnknownFactory):
            schedule(actor=VIETNAM_TRAINER)

    def test_an_unknown_or_retired_course_is_refused(self) -> None:
        with pytest.raises(UnknownCourse):
            schedule(course=None, course_code="XYZ")
        with pytest.raises(RetiredCourse):
            schedule(course=COURSE.fold(retire_course(course()), course()))

    def test_the_language_and_the_survey_are_the_courses(self) -> None:
        with pytest.raises(InvalidSession):
            schedule(language="fr")
        with pytest.raises(UnknownSurvey):
            schedule(survey=None, survey_id="s-9")
        with pytest.raises(UnknownSurvey):
            schedule(survey=replace(survey(), course_code="OSH"))

    @pytest.mark.parametrize(
        ("start", "end"),
        [
            (END, START),  # ends before it starts
            (START, START + timedelta(days=2)),  # four training days in three calendar days
            (START, START + timedelta(days=100)),  # too long a span
            (TODAY + timedelta(days=400), TODAY + timedelta(days=404)),  # too far ahead
        ],
    )
    def test_dates_out_of_range_are_refused(self, start: date, end: date) -> None:
        with pytest.raises(DateOutOfRange):
            schedule(start_date=start, end_date=end)

    def test_a_session_id_is_used_once(self) -> None:
        with pytest.raises(AlreadyExists):
            rules.schedule_session(session([scheduled()]), **_arguments())


def _arguments() -> dict[str, Any]:
    return {
        "session_id": "t-1",
        "actor": TRAINER,
        "course_code": "SST",
        "course": course(),
        "parts": [(part("f-1"), factory("f-1"))],
        "open_session": False,
        "trainer": None,
        "start_date": START,
        "end_date": END,
        "capacity": 3,
        "language": "km",
        "survey": None,
        "survey_id": None,
        "today": TODAY,
    }


def reschedule(state: Any = None, actor: Actor = TRAINER, **changes: Any) -> list[Any]:
    arguments: dict[str, Any] = {
        "trainer": None,
        "start_date": None,
        "end_date": None,
        "capacity": None,
        "language": None,
        "languages": course().languages,
        "today": TODAY,
    }
    return rules.reschedule_session(
        state or session([scheduled()]), actor, **{**arguments, **changes}
    )


class TestRescheduleSession:
    def test_moves_the_dates_before_attendance(self) -> None:
        events = reschedule(start_date=date(2025, 7, 7), end_date=date(2025, 7, 10))
        assert events == [
            SessionRescheduled(
                session_id="t-1",
                trainer="trainer-1",
                start_date=date(2025, 7, 7),
                end_date=date(2025, 7, 10),
                capacity=3,
                language="km",
            )
        ]

    def test_nothing_new_records_nothing(self) -> None:
        assert reschedule(capacity=3, language="km") == []

    def test_the_dates_stay_once_attendance_is_signed(self) -> None:
        with_sheet = session(
            [
                scheduled(),
                *rules.record_attendance(
                    session([scheduled()]), TRAINER, [line("p-1", START)], TODAY
                ),
            ]
        )
        with pytest.raises(AttendanceAlreadyRecorded):
            reschedule(with_sheet, end_date=date(2025, 6, 6))
        with pytest.raises(OverCapacity):
            reschedule(
                session(
                    [
                        scheduled(),
                        *rules.record_attendance(
                            session([scheduled()]),
                            TRAINER,
                            [line("p-1", START), line("p-2", START)],
                            TODAY,
                        ),
                    ]
                ),
                capacity=1,
            )

    def test_only_an_admin_hands_the_session_over(self) -> None:
        with pytest.raises(NotResponsible):
            reschedule(trainer="trainer-2")
        assert reschedule(actor=ADMIN, trainer="trainer-2")[0].trainer == "trainer-2"

    def test_another_trainer_does_not_change_it(self) -> None:
        with pytest.raises(NotResponsible):
            reschedule(actor=OTHER_TRAINER, capacity=5)


class TestDeliverSession:
    def test_delivers_after_its_last_day_with_attendance(self) -> None:
        signed = rules.record_attendance(session([scheduled()]), TRAINER, [line("p-1")], TODAY)
        state = session([scheduled(), *signed])
        assert rules.deliver_session(state, TRAINER, TODAY) == [
            SessionDelivered(session_id="t-1", delivered_on=TODAY)
        ]

    def test_not_before_its_last_day_nor_without_attendance(self) -> None:
        with pytest.raises(DateOutOfRange):
            rules.deliver_session(session([scheduled()]), TRAINER, END - timedelta(days=1))
        with pytest.raises(NoAttendance):
            rules.deliver_session(session([scheduled()]), TRAINER, TODAY)

    def test_a_delivered_session_changes_no_more(self) -> None:
        with pytest.raises(SessionClosed):
            rules.deliver_session(delivered(), TRAINER, TODAY)
        with pytest.raises(SessionClosed):
            rules.record_attendance(delivered(), TRAINER, [line("p-9", START)], TODAY)

    def test_the_factorys_part_counts_by_role_and_gender(self) -> None:
        training = rules.training_received(delivered(), "f-1")
        assert training.plan_item_ids == ("item-1",)
        assert training.groups == (
            GroupCount(role="supervisor", gender="female", participants=2, completions=1),
            GroupCount(role="worker", gender="male", participants=1, completions=1),
        )


class TestCancelSession:
    def test_cancels_a_session_without_attendance(self) -> None:
        events = rules.cancel_session(session([scheduled()]), TRAINER, "flooding")
        assert events == [SessionCancelled(session_id="t-1", reason="flooding")]
        assert session([scheduled(), *events]).status is SessionStatus.CANCELLED

    def test_not_once_attendance_is_signed(self) -> None:
        signed = rules.record_attendance(session([scheduled()]), TRAINER, [line("p-1")], TODAY)
        with pytest.raises(AttendanceAlreadyRecorded):
            rules.cancel_session(session([scheduled(), *signed]), TRAINER, "late")


class TestVisibility:
    def test_staff_of_the_country_and_users_of_its_factories_see_it(self) -> None:
        state = session([scheduled()])
        for actor in (TRAINER, OTHER_TRAINER, ADMIN, FACTORY_USER):
            assert rules.visible(state, "t-1", actor) is state

    def test_another_country_and_another_factory_get_a_404(self) -> None:
        state = session([scheduled()])
        for actor in (VIETNAM_TRAINER, Actor("hr-2", "factory", factory_id="f-2")):
            with pytest.raises(NoSuchSession):
                rules.visible(state, "t-1", actor)
        with pytest.raises(NoSuchSession):
            rules.visible(None, "t-1", ADMIN)
