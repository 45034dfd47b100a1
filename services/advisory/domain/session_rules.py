"""The TrainingSession's rules: pure `decide` functions of the state (and of what the handler
loaded beside it: the course, the factories, the survey), raising the service's domain errors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from libs.domain.envelope import DomainEvent
from libs.domain.errors import AlreadyExists
from services.advisory.domain.actor import ADMIN, TRAINER, Actor
from services.advisory.domain.course import Course
from services.advisory.domain.factory import FactoryRecord, TrainingReceived
from services.advisory.domain.session import ParticipantKey, Session
from services.advisory.domain.session_events import (
    AttendanceRecorded,
    Attendee,
    AttendeeLine,
    FactoryPart,
    ResponseLine,
    SessionCancelled,
    SessionDelivered,
    SessionFactory,
    SessionRescheduled,
    SessionScheduled,
    SurveyResponse,
    SurveyResponsesRecorded,
)
from services.advisory.domain.survey import Survey, check_answers
from services.advisory.domain.vocabulary import SessionStatus
from services.advisory.errors import (
    AttendanceAlreadyRecorded,
    DateOutOfRange,
    DuplicateAttendance,
    DuplicateResponse,
    InvalidSession,
    NoAttendance,
    NoSuchSession,
    NotAnAttendee,
    NotResponsible,
    OverCapacity,
    ParticipantMismatch,
    ParticipantOfAnotherFactory,
    RetiredCourse,
    SessionClosed,
    UnknownCourse,
    UnknownFactory,
    UnknownSurvey,
)

# a session is scheduled at most this far ahead, and spans at most this many calendar days
SCHEDULING_HORIZON = timedelta(days=366)
MAX_SPAN_DAYS = 92


def visible(session: Session | None, session_id: str, actor: Actor) -> Session:
    """The session if the caller may see it: staff of its country, a user of one of its
    factories; otherwise (or when there is none) a 404."""
    if session is None or not actor.sees(session.country, session.factory_ids):
        raise NoSuchSession(f"training session {session_id} does not exist")
    return session


def _responsible(session: Session, actor: Actor) -> None:
    """Its trainer, or an admin of its country, changes a session; others only read it."""
    if not (actor.role == ADMIN or (actor.role == TRAINER and actor.subject == session.trainer)):
        raise NotResponsible(f"only the session's trainer ({session.trainer}) changes it")


def _open(session: Session) -> None:
    if session.status is not SessionStatus.SCHEDULED:
        raise SessionClosed(f"the session was {session.status.value}", status=session.status.value)


def _check_dates(start: date, end: date, training_days: int, today: date) -> None:
    if end < start:
        raise DateOutOfRange("the session ends before it starts")
    if start > today + SCHEDULING_HORIZON:
        raise DateOutOfRange(f"a session starts at most {SCHEDULING_HORIZON.days} days ahead")
    span = (end - start).days + 1
    if span < training_days:
        raise DateOutOfRange(f"{training_days} training days do not fit in {span} calendar days")
    if span > MAX_SPAN_DAYS:
        raise DateOutOfRange(f"a session spans at most {MAX_SPAN_DAYS} calendar days")


def _trainer(actor: Actor, trainer: str | None) -> str:
    if actor.role == TRAINER:
        if trainer not in (None, actor.subject):
            raise NotResponsible("a trainer schedules their own sessions")
        return actor.subject
    if trainer is None:
        raise InvalidSession("name the session's trainer")
    return trainer


def schedule_session(
    session: Session | None,
    *,
    session_id: str,
    actor: Actor,
    course_code: str,
    course: Course | None,
    parts: Sequence[tuple[FactoryPart, FactoryRecord]],
    open_session: bool,
    trainer: str | None,
    start_date: date,
    end_date: date,
    capacity: int,
    language: str,
    survey: Survey | None,
    survey_id: str | None,
    today: date,
) -> list[DomainEvent]:
    if session is not None:
        raise AlreadyExists(f"training session {session_id} exists")
    if course is None:
        raise UnknownCourse(f"there is no course {course_code}", course_code=course_code)
    if course.retired:
        raise RetiredCourse(f"course {course.code} was retired", code=course.code)
    for part, record in parts:
        if not record.known or not actor.works_in(record.country):
            raise UnknownFactory(f"factory {part.factory_id} is not known", factory=part.factory_id)
    countries = {record.country for _, record in parts}
    if len(countries) != 1:
        raise InvalidSession("a session's factories are all of one country programme")
    if len(parts) > 1 and not open_session:
        raise InvalidSession("only an open session gathers several factories")
    if language not in course.languages:
        raise InvalidSession(
            f"course {course.code} is not given in {language}", languages=list(course.languages)
        )
    if survey_id is not None and (survey is None or survey.course_code != course.code):
        raise UnknownSurvey(f"course {course.code} has no survey {survey_id}")
    _check_dates(start_date, end_date, course.duration_days, today)
    return [
        SessionScheduled(
            session_id=session_id,
            course_code=course.code,
            course_version=course.course_version,
            course_title=course.title,
            training_days=course.duration_days,
            country=str(countries.pop()),
            open_session=open_session,
            factories=tuple(
                SessionFactory(factory_id=part.factory_id, plan_item_ids=part.plan_item_ids)
                for part, _ in parts
            ),
            trainer=_trainer(actor, trainer),
            start_date=start_date,
            end_date=end_date,
            capacity=capacity,
            language=language,
            survey_id=survey_id,
        )
    ]


def reschedule_session(
    session: Session,
    actor: Actor,
    *,
    trainer: str | None,
    start_date: date | None,
    end_date: date | None,
    capacity: int | None,
    language: str | None,
    languages: tuple[str, ...],
    today: date,
) -> list[DomainEvent]:
    """Change the plan; the dates stay once attendance is signed, and capacity never drops below
    the participants already in. What sends no change records nothing."""
    _open(session)
    _responsible(session, actor)
    if trainer is not None and trainer != session.trainer and actor.role != ADMIN:
        raise NotResponsible("only an admin hands a session to another trainer")
    start, end = start_date or session.start_date, end_date or session.end_date
    if (start, end) != (session.start_date, session.end_date):
        if session.attendees:
            raise AttendanceAlreadyRecorded("the session has attendance: its dates stay")
        _check_dates(start, end, session.training_days, today)
    new_capacity = capacity or session.capacity
    if new_capacity < len(session.attendees):
        raise OverCapacity(
            f"{len(session.attendees)} participants are in already",
            participants=len(session.attendees),
        )
    new_language = language or session.language
    if new_language != session.language and new_language not in languages:
        raise InvalidSession(
            f"the course is not given in {new_language}", languages=list(languages)
        )
    new_trainer = trainer or session.trainer
    plan = (new_trainer, start, end, new_capacity, new_language)
    if plan == (
        session.trainer,
        session.start_date,
        session.end_date,
        session.capacity,
        session.language,
    ):
        return []
    return [
        SessionRescheduled(
            session_id=session.session_id,
            trainer=new_trainer,
            start_date=start,
            end_date=end,
            capacity=new_capacity,
            language=new_language,
        )
    ]


def _factory_of(session: Session, factory_id: str | None) -> str:
    """A line's factory: given, or the session's only one; never a factory outside it."""
    if factory_id is None:
        if len(session.factories) != 1:
            raise ParticipantOfAnotherFactory("an open session's lines name their factory")
        return session.factories[0].factory_id
    if factory_id not in session.factory_ids:
        raise ParticipantOfAnotherFactory(
            f"factory {factory_id} is not in this session", factory=factory_id
        )
    return factory_id


def record_attendance(
    session: Session, actor: Actor, lines: Sequence[AttendeeLine], today: date
) -> list[DomainEvent]:
    """A whole sign-in sheet, or nothing: each participant signs each day once, within the
    session's dates and not in the future, for no more days than the course has, and the
    session's participants stay within its capacity."""
    _open(session)
    _responsible(session, actor)
    seen: set[ParticipantKey] = set()
    attendees = []
    for line in lines:
        key = (_factory_of(session, line.factory_id), line.participant_id)
        if key in seen:
            raise DuplicateAttendance(
                f"participant {key[1]} is twice on the sheet", participant=key[1]
            )
        seen.add(key)
        for day in line.attended_on:
            if not session.start_date <= day <= min(session.end_date, today):
                raise DateOutOfRange(
                    f"{day} is not a day of the session ({session.start_date} to "
                    f"{session.end_date}) up to today",
                    participant=key[1],
                )
        known = session.attendees.get(key)
        days = set(line.attended_on)
        if known is not None:
            if (known.role, known.gender) != (line.role.value, line.gender.value):
                raise ParticipantMismatch(
                    f"participant {key[1]} was signed as {known.role}, {known.gender}",
                    participant=key[1],
                )
            if known.days & days:
                raise DuplicateAttendance(
                    f"participant {key[1]} signed for {min(known.days & days)} already",
                    participant=key[1],
                )
            days |= known.days
        if len(days) > session.training_days:
            raise DateOutOfRange(
                f"the course has {session.training_days} training days", participant=key[1]
            )
        # the stored line, of a line already validated: not validated again (a programme's
        # imported sheets are thousands of lines)
        attendees.append(
            Attendee.model_construct(
                participant_id=line.participant_id,
                factory_id=key[0],
                role=line.role.value,
                gender=line.gender.value,
                name=line.name,
                attended_on=tuple(sorted(line.attended_on)),
            )
        )
    participants = len(set(session.attendees) | seen)
    if participants > session.capacity:
        raise OverCapacity(
            f"{participants} participants exceed the capacity of {session.capacity}",
            capacity=session.capacity,
            participants=participants,
        )
    return [AttendanceRecorded(session_id=session.session_id, attendees=tuple(attendees))]


def record_survey_responses(
    session: Session, actor: Actor, lines: Sequence[ResponseLine], survey: Survey | None
) -> list[DomainEvent]:
    """A batch of forms, or nothing: each of an attendee, once per phase, answering every item
    of the version it was taken on. Forms may be entered after the session was delivered."""
    if session.status is SessionStatus.CANCELLED:
        raise SessionClosed("the session was cancelled", status=session.status.value)
    _responsible(session, actor)
    if session.survey_id is None or survey is None:
        raise UnknownSurvey("the session has no survey")
    seen: set[tuple[str, str, str]] = set()
    responses = []
    for line in lines:
        factory_id = _factory_of(session, line.factory_id)
        key = (factory_id, line.participant_id, line.phase.value)
        if (factory_id, line.participant_id) not in session.attendees:
            raise NotAnAttendee(
                f"participant {line.participant_id} did not attend", participant=line.participant_id
            )
        if key in seen or key in session.scores:
            raise DuplicateResponse(
                f"the {line.phase.value} response of {line.participant_id} is in already",
                participant=line.participant_id,
            )
        seen.add(key)
        total, items = check_answers(survey, line.survey_version, line.answers)
        responses.append(
            SurveyResponse(
                participant_id=line.participant_id,
                factory_id=factory_id,
                phase=line.phase.value,
                survey_id=survey.survey_id,
                survey_version=line.survey_version,
                answers=dict(line.answers),
                score_sum=total,
                score_items=items,
            )
        )
    return [SurveyResponsesRecorded(session_id=session.session_id, responses=tuple(responses))]


def deliver_session(session: Session, actor: Actor, today: date) -> list[DomainEvent]:
    """Once its last day has come and someone attended; final from then on."""
    _open(session)
    _responsible(session, actor)
    if session.end_date > today:
        raise DateOutOfRange(f"the session runs until {session.end_date}")
    if not session.attendees:
        raise NoAttendance("nobody signed the session's attendance")
    return [SessionDelivered(session_id=session.session_id, delivered_on=today)]


def cancel_session(session: Session, actor: Actor, reason: str) -> list[DomainEvent]:
    _open(session)
    _responsible(session, actor)
    if session.attendees:
        raise AttendanceAlreadyRecorded("the session has attendance: deliver it instead")
    return [SessionCancelled(session_id=session.session_id, reason=reason)]


def training_received(session: Session, factory_id: str) -> TrainingReceived:
    """A delivered session's part at one factory, as that factory's record takes it."""
    assert session.delivered_on is not None
    part = next(part for part in session.factories if part.factory_id == factory_id)
    return TrainingReceived(
        factory_id=factory_id,
        session_id=session.session_id,
        country=session.country,
        course_code=session.course_code,
        course_version=session.course_version,
        course_title=session.course_title,
        open_session=session.open_session,
        start_date=session.start_date,
        end_date=session.end_date,
        training_days=session.training_days,
        language=session.language,
        plan_item_ids=part.plan_item_ids,
        groups=session.groups(factory_id),
        delivered_on=session.delivered_on,
    )
