"""A programme's past as this service takes it (issue 19): a delivered training session or a
completed advisory visit of a history bundle (libs/domain/history/advisory.py) becomes the events
the live commands would have appended, decided by the same rules (`session_rules`, `visit`),
each on its business day: a session is scheduled on its first day, its sign-in sheet and its
delivery are recorded on its last; a visit is planned and completed on the day it took place.
Internal ids come from source ids (`imported_id`), so every service derives the same. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from libs.domain.envelope import DomainEvent
from libs.domain.errors import DomainError
from libs.domain.history.advisory import AdvisoryVisitRecord, TrainingSessionRecord
from libs.domain.history.bundle import imported_id
from libs.domain.types import EARLIEST_DATE
from services.advisory.domain import factory as factories
from services.advisory.domain import session_rules as rules
from services.advisory.domain import visit as visits
from services.advisory.domain.actor import Actor
from services.advisory.domain.course import Course
from services.advisory.domain.factory import FACTORY, FactoryRecord, TrainingReceived
from services.advisory.domain.session import SESSION, Session
from services.advisory.domain.session_events import (
    MAX_CAPACITY,
    MAX_FACTORIES,
    AttendeeLine,
    FactoryPart,
)
from services.advisory.domain.visit import VISIT, Visit
from services.advisory.domain.vocabulary import Gender, ParticipantRole
from services.advisory.errors import (
    DateOutOfRange,
    InvalidSession,
    UnknownCourse,
    UnknownFactory,
)

FACTORIES = "factories"
SESSIONS = "training-sessions"
VISITS = "advisory-visits"
ATTENDEES = "training-session-attendees"
# the live API's bound on a completed visit (schemas.VisitCompletion): half days, 0.5 to 10
MAX_VISIT_DAYS = 10.0


class Rejected(Exception):
    """A record breaks a rule of the domain: which of its fields, and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Step:
    """Events of one aggregate that happened on one day, with its state after each."""

    day: date
    events: tuple[DomainEvent, ...]
    states: tuple[Any, ...]


@dataclass(frozen=True)
class PastSession:
    """A delivered session of the history: its stream's steps, its state at the end, and its part
    at each factory that had participants (for that factory's record)."""

    session_id: str
    steps: tuple[Step, ...]
    session: Session
    received: tuple[TrainingReceived, ...]


@dataclass(frozen=True)
class PastVisit:
    visit_id: str
    steps: tuple[Step, ...]
    visit: Visit


def factory_id(source_id: str) -> str:
    """The internal id of a factory of the bundle (the assessment service derives the same)."""
    return imported_id(FACTORIES, source_id)


def session_id(source_id: str) -> str:
    return imported_id(SESSIONS, source_id)


def visit_id(source_id: str) -> str:
    return imported_id(VISITS, source_id)


def participant_id(source_id: str, index: int) -> str:
    """An anonymous attendee's id in its factory: stable, from the session's source id and the
    attendee's place in its list (the history keeps counts, not people)."""
    return imported_id(ATTENDEES, f"{source_id}#{index}")


def _in_the_past(field: str, day: date, today: date) -> None:
    """History is the past, within the dates the live API takes (from 2000 on)."""
    if day > today:
        raise Rejected(field, f"{day} is after today: the history is what happened")
    if day < EARLIEST_DATE:
        raise Rejected(field, f"{day} is before {EARLIEST_DATE}")


def _fold(
    events: Sequence[DomainEvent], state: Session | None
) -> tuple[tuple[Session, ...], Session]:
    """The session's state after each of `events`, and the last."""
    states = []
    for event in events:
        state = SESSION.evolve(state, event)
        assert state is not None
        states.append(state)
    assert state is not None
    return tuple(states), state


def _schedule(
    record: TrainingSessionRecord,
    new_id: str,
    actor: Actor,
    course: Course | None,
    parts: list[tuple[FactoryPart, FactoryRecord]],
) -> list[DomainEvent]:
    # a course retired since was not then: its past sessions are history all the same
    then = replace(course, retired=False) if course is not None else None
    try:
        return rules.schedule_session(
            None,
            session_id=new_id,
            actor=actor,
            course_code=record.course_code,
            course=then,
            parts=parts,
            open_session=len(parts) > 1,
            trainer=record.trainer or actor.subject,
            start_date=record.start_date,
            end_date=record.end_date,
            capacity=len(record.attendees),
            language=record.language,
            survey=None,
            survey_id=None,
            today=record.start_date,
        )
    except UnknownCourse as error:
        raise Rejected("course_code", error.detail) from None
    except UnknownFactory as error:
        index = [part.factory_id for part, _ in parts].index(error.extensions["factory"])
        raise Rejected(
            f"factories.{index}", f"factory {record.factories[index]} is not known"
        ) from None
    except InvalidSession as error:
        field = "language" if "languages" in error.extensions else "factories"
        raise Rejected(field, error.detail) from None
    except DateOutOfRange as error:
        raise Rejected("end_date", error.detail) from None


def _sheet(record: TrainingSessionRecord, training_days: int) -> list[AttendeeLine]:
    """The sign-in sheet: each attendee signs the session's first `days_attended` days."""
    lines = []
    factories = {source: factory_id(source) for source in record.factories}
    for index, attendee in enumerate(record.attendees):
        if attendee.days_attended < 1:
            raise Rejected(
                f"attendees.{index}.days_attended",
                "a participant attended at least one day of the session",
            )
        if attendee.days_attended > training_days:
            raise Rejected(
                f"attendees.{index}.days_attended",
                f"the course has {training_days} training days",
            )
        # built from a record its model validated (role, gender, distinct days from its first):
        # a sheet of many lines is not validated again line by line
        lines.append(
            AttendeeLine.model_construct(
                name=None,
                participant_id=participant_id(record.source_id, index),
                factory_id=factories[attendee.factory],
                role=ParticipantRole(attendee.role),
                gender=Gender(attendee.gender),
                attended_on=tuple(
                    record.start_date + timedelta(days=day) for day in range(attendee.days_attended)
                ),
            )
        )
    return lines


def past_session(
    record: TrainingSessionRecord,
    *,
    actor: Actor,
    course: Course | None,
    records: Mapping[str, FactoryRecord],
    today: date,
    exists: bool = False,
) -> PastSession:
    """The session of `record`, scheduled, signed and delivered by the live rules (the course in
    the catalogue, every factory known to this service and in the importer's country programmes,
    the dates, in the past, the sheet), its capacity the number of its attendees. Raises
    `Rejected`."""
    new_id = session_id(record.source_id)
    _in_the_past("start_date", record.start_date, today)
    _in_the_past("end_date", record.end_date, today)
    if len(record.factories) > MAX_FACTORIES:
        raise Rejected("factories", f"a session gathers at most {MAX_FACTORIES} factories")
    if len(record.attendees) > MAX_CAPACITY:
        raise Rejected("attendees", f"a session takes at most {MAX_CAPACITY} participants")
    parts = [
        (FactoryPart(factory_id=factory_id(source)), records.get(factory_id(source)))
        for source in record.factories
    ]
    known = [(part, found or FactoryRecord()) for part, found in parts]
    scheduled = _schedule(record, new_id, actor, course, known)
    # only once the importer may see its factories: another programme's admin learns nothing
    if exists:
        raise Rejected("source_id", f"training session {new_id} exists already")
    scheduled_states, session = _fold(scheduled, None)
    lines = _sheet(record, session.training_days)
    try:
        signed = rules.record_attendance(session, actor, lines, record.end_date)
        signed_states, session = _fold(signed, session)
        delivered = rules.deliver_session(session, actor, record.end_date)
    except DomainError as error:
        raise Rejected("attendees", error.detail) from None
    delivered_states, session = _fold(delivered, session)
    attended = sorted({participant.factory_id for participant in session.attendees.values()})
    return PastSession(
        session_id=new_id,
        steps=(
            Step(record.start_date, tuple(scheduled), scheduled_states),
            Step(record.end_date, (*signed, *delivered), signed_states + delivered_states),
        ),
        session=session,
        received=tuple(rules.training_received(session, factory) for factory in attended),
    )


def receive(
    record: FactoryRecord, trainings: Sequence[TrainingReceived]
) -> tuple[list[DomainEvent], list[FactoryRecord]]:
    """A factory's record takes its part of each delivered session (once per session): the
    events and the record's state after each."""
    events: list[DomainEvent] = []
    states = []
    for training in trainings:
        for event in factories.receive_training(record, training):
            record = FACTORY.evolve(record, event)
            events.append(event)
            states.append(record)
    return events, states


def past_visit(
    record: AdvisoryVisitRecord,
    *,
    actor: Actor,
    factory: FactoryRecord | None,
    today: date,
    exists: bool = False,
) -> PastVisit:
    """The visit of `record`, planned and completed on the day it took place by the live rules
    (a factory this service knows, in the importer's country programmes; the live API's
    duration). Its advisor is the importer: the bundle does not name one. Raises `Rejected`."""
    new_id = visit_id(record.source_id)
    _in_the_past("visited_on", record.visited_on, today)
    if record.duration_days > MAX_VISIT_DAYS:
        raise Rejected("duration_days", f"a visit lasts at most {MAX_VISIT_DAYS:g} days")
    try:
        planned = visits.plan_visit(
            None,
            visit_id=new_id,
            actor=actor,
            factory_id=factory_id(record.factory),
            factory=factory or FactoryRecord(),
            advisor=actor.subject,
            planned_for=record.visited_on,
            purpose=record.purpose,
            description="",
            today=record.visited_on,
        )
    except UnknownFactory:
        raise Rejected("factory", f"factory {record.factory} is not known") from None
    if exists:  # only once the importer may see its factory
        raise Rejected("source_id", f"advisory visit {new_id} exists already")
    visit = VISIT.evolve(None, planned[0])
    assert visit is not None
    completed = visits.complete_visit(
        visit,
        actor,
        visited_on=record.visited_on,
        duration_days=record.duration_days,
        notes=record.notes,
        plan_item_ids=(),
        committee_meeting_id=None,
        today=record.visited_on,
    )
    done = VISIT.evolve(visit, completed[0])
    assert done is not None
    return PastVisit(
        visit_id=new_id,
        steps=(Step(record.visited_on, (*planned, *completed), (visit, done)),),
        visit=done,
    )
