"""Sign-in sheets and survey forms on a session: all or nothing, a participant once per day, in
the session's factories, dates and capacity; forms of attendees, once per phase, and the score
change they give. Given events / when / then. No I/O."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.advisory.domain import session_rules as rules
from services.advisory.domain.session import Session, evolve
from services.advisory.domain.session_events import (
    AttendanceRecorded,
    AttendeeLine,
    SessionCancelled,
    SurveyResponsesRecorded,
)
from services.advisory.errors import (
    DateOutOfRange,
    DuplicateAttendance,
    DuplicateResponse,
    InvalidAnswers,
    NotAnAttendee,
    NotResponsible,
    OverCapacity,
    ParticipantMismatch,
    ParticipantOfAnotherFactory,
    SessionClosed,
    UnknownSurvey,
)
from services.advisory.tests.unit.given import (
    ADMIN,
    END,
    OTHER_TRAINER,
    START,
    TODAY,
    TRAINER,
    delivered,
    delivered_events,
    form,
    line,
    scheduled,
    session,
    survey,
)

TUESDAY = START + timedelta(days=1)


def signed(*lines: AttendeeLine, open_session: bool = False) -> Session:
    """Given a scheduled session (open: of f-1 and f-2) and a sheet of these lines."""
    factories = [{"factory_id": "f-1"}, {"factory_id": "f-2"}]
    given = [scheduled(factories=factories, open_session=True) if open_session else scheduled()]
    return session([*given, *rules.record_attendance(session(given), TRAINER, lines, TODAY)])


class TestRecordAttendance:
    def test_records_the_whole_sheet_in_one_event(self) -> None:
        events = rules.record_attendance(
            session([scheduled()]), TRAINER, [line("p-1", name="Dara"), line("p-2", START)], TODAY
        )
        assert len(events) == 1 and isinstance(events[0], AttendanceRecorded)
        assert [
            (a.participant_id, a.factory_id, len(a.attended_on)) for a in events[0].attendees
        ] == [
            ("p-1", "f-1", 4),
            ("p-2", "f-1", 1),
        ]

    def test_completion_is_every_training_day(self) -> None:
        state = signed(line("p-1"), line("p-2", START, TUESDAY))
        assert [state.completed(p) for p in state.attendees.values()] == [True, False]

    def test_a_later_sheet_adds_days_of_a_participant_already_in(self) -> None:
        state = signed(line("p-1", START))
        events = rules.record_attendance(state, TRAINER, [line("p-1", TUESDAY)], TODAY)
        after = evolve(state, events[0])
        assert after is not None and after.attendees[("f-1", "p-1")].days == {START, TUESDAY}

    def test_over_capacity_refuses_the_whole_sheet(self) -> None:
        with pytest.raises(OverCapacity):
            rules.record_attendance(
                session([scheduled()]),
                TRAINER,
                [line(f"p-{n}", START) for n in range(4)],
                TODAY,
            )
        state = signed(line("p-1"), line("p-2"), line("p-3"))
        with pytest.raises(OverCapacity):
            rules.record_attendance(state, TRAINER, [line("p-4", START)], TODAY)

    def test_a_participant_signs_a_day_once(self) -> None:
        with pytest.raises(DuplicateAttendance):
            rules.record_attendance(
                session([scheduled()]), TRAINER, [line("p-1", START), line("p-1", TUESDAY)], TODAY
            )
        with pytest.raises(DuplicateAttendance):
            rules.record_attendance(
                signed(line("p-1", START)), TRAINER, [line("p-1", START)], TODAY
            )

    def test_a_participant_keeps_their_role_and_gender(self) -> None:
        with pytest.raises(ParticipantMismatch):
            rules.record_attendance(
                signed(line("p-1", START)),
                TRAINER,
                [line("p-1", TUESDAY, role="worker")],
                TODAY,
            )

    def test_a_participant_of_another_factory_is_refused(self) -> None:
        with pytest.raises(ParticipantOfAnotherFactory):
            rules.record_attendance(
                session([scheduled()]), TRAINER, [line("p-1", factory_id="f-2")], TODAY
            )

    def test_an_open_sessions_lines_name_their_factory(self) -> None:
        state = signed(line("p-1", factory_id="f-2"), open_session=True)
        assert ("f-2", "p-1") in state.attendees
        with pytest.raises(ParticipantOfAnotherFactory):
            rules.record_attendance(state, TRAINER, [line("p-2")], TODAY)

    @pytest.mark.parametrize("day", [START - timedelta(days=1), END + timedelta(days=1)])
    def test_a_day_outside_the_session_is_refused(self, day: date) -> None:
        with pytest.raises(DateOutOfRange):
            rules.record_attendance(session([scheduled()]), TRAINER, [line("p-1", day)], TODAY)

    def test_a_day_in_the_future_is_refused(self) -> None:
        with pytest.raises(DateOutOfRange):
            rules.record_attendance(session([scheduled()]), TRAINER, [line("p-1", END)], TUESDAY)

    def test_only_its_trainer_or_an_admin_signs(self) -> None:
        with pytest.raises(NotResponsible):
            rules.record_attendance(session([scheduled()]), OTHER_TRAINER, [line("p-1")], TODAY)
        assert rules.record_attendance(session([scheduled()]), ADMIN, [line("p-1")], TODAY)

    def test_not_on_a_cancelled_session(self) -> None:
        state = session([scheduled(), SessionCancelled(session_id="t-1", reason="rain")])
        with pytest.raises(SessionClosed):
            rules.record_attendance(state, TRAINER, [line("p-1")], TODAY)


class TestRecordSurveyResponses:
    def test_records_the_forms_with_their_scores(self) -> None:
        events = rules.record_survey_responses(
            delivered(), TRAINER, [form("p-1", "pre", 2, 3), form("p-1", "post", 4, 4)], survey()
        )
        assert isinstance(events[0], SurveyResponsesRecorded)
        assert [(r.phase, r.score_sum, r.score_items) for r in events[0].responses] == [
            ("pre", 5, 2),
            ("post", 8, 2),
        ]
        after = session([*delivered_events(), *events])
        assert after.score_change(("f-1", "p-1")) == 15_000  # 4.0 - 2.5 points
        assert after.score_change(("f-1", "p-2")) is None

    def test_a_participant_answers_each_phase_once(self) -> None:
        with pytest.raises(DuplicateResponse):
            rules.record_survey_responses(
                delivered(), TRAINER, [form("p-1", "pre", 2, 3), form("p-1", "pre", 2, 2)], survey()
            )
        first = rules.record_survey_responses(
            delivered(), TRAINER, [form("p-1", "pre", 2, 3)], survey()
        )
        with pytest.raises(DuplicateResponse):
            rules.record_survey_responses(
                session([*delivered_events(), *first]),
                TRAINER,
                [form("p-1", "pre", 1, 1)],
                survey(),
            )

    def test_only_attendees_answer(self) -> None:
        with pytest.raises(NotAnAttendee):
            rules.record_survey_responses(
                delivered(), TRAINER, [form("p-9", "pre", 2, 3)], survey()
            )
        with pytest.raises(ParticipantOfAnotherFactory):
            rules.record_survey_responses(
                delivered(), TRAINER, [form("p-1", "pre", 2, 3, factory_id="f-2")], survey()
            )

    def test_answers_fit_the_instrument_and_the_session_has_one(self) -> None:
        with pytest.raises(InvalidAnswers):
            rules.record_survey_responses(
                delivered(), TRAINER, [form("p-1", "pre", 9, 3)], survey()
            )
        with pytest.raises(UnknownSurvey):
            rules.record_survey_responses(delivered(), TRAINER, [form("p-1", "pre", 2, 3)], None)
