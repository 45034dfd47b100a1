"""Command handlers of training sessions: scheduling (with the course, the survey and the factory
records read in the same unit of work), rescheduling, sign-in sheets, survey forms, delivery (the
session and each attending factory's record in one transaction) and cancellation."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from libs.domain.aggregate import Change, Loaded
from libs.domain.envelope import DomainEvent
from libs.events.store import ConcurrencyConflict
from services.advisory.commands import (
    CancelSession,
    DeliverSession,
    RecordAttendance,
    RecordSurveyResponses,
    RescheduleSession,
    ScheduleSession,
)
from services.advisory.domain import factory as factories
from services.advisory.domain import session_rules as rules
from services.advisory.domain.actor import Actor
from services.advisory.domain.factory import FactoryRecord, TrainingReceived
from services.advisory.domain.session import Session
from services.advisory.handlers.dependencies import Dependencies
from services.advisory.ids import FACTORY_STREAM_PREFIX

# a factory's record may take a reaction's event at the same moment as a delivery: decide again
DELIVERY_RETRIES = 5


def _visible(session_id: str, actor: Actor) -> Callable[[Loaded[Session | None]], None]:
    def authorize(loaded: Loaded[Session | None]) -> None:
        rules.visible(loaded.state, session_id, actor)

    return authorize


def _receive(record: FactoryRecord, training: TrainingReceived) -> list[DomainEvent]:
    return factories.receive_training(record, training)


def _on(decide: Callable[[Session], Sequence[DomainEvent]]) -> Any:
    def decide_existing(session: Session | None) -> Sequence[DomainEvent]:
        assert session is not None  # authorized: it exists and the caller sees it
        return decide(session)

    return decide_existing


async def schedule_session(command: ScheduleSession, deps: Dependencies) -> Change[Session | None]:
    today = deps.clock().date()
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        course = (await deps.courses.load(unit, command.course_code)).state
        survey = None
        if command.survey_id is not None:
            survey = (await deps.surveys.load(unit, command.survey_id)).state
        parts = [
            (part, (await deps.factories.load(unit, part.factory_id)).state)
            for part in command.factories
        ]
        return await deps.sessions.execute(
            command.session_id,
            lambda session: rules.schedule_session(
                session,
                session_id=command.session_id,
                actor=command.actor,
                course_code=command.course_code,
                course=course,
                parts=parts,
                open_session=command.open_session,
                trainer=command.trainer,
                start_date=command.start_date,
                end_date=command.end_date,
                capacity=command.capacity,
                language=command.language,
                survey=survey,
                survey_id=command.survey_id,
                today=today,
            ),
            unit=unit,
            answer=deps.answer("session", command.session_id),
        )


async def reschedule_session(
    command: RescheduleSession, deps: Dependencies
) -> Change[Session | None]:
    today = deps.clock().date()
    async with deps.store.unit_of_work(authorize_first=True) as unit:

        async def decide(session: Session | None) -> Sequence[DomainEvent]:
            assert session is not None
            course = (await deps.courses.load(unit, session.course_code)).state
            return rules.reschedule_session(
                session,
                command.actor,
                trainer=command.trainer,
                start_date=command.start_date,
                end_date=command.end_date,
                capacity=command.capacity,
                language=command.language,
                languages=course.languages if course is not None else (),
                today=today,
            )

        return await deps.sessions.execute(
            command.session_id,
            decide,
            expected_version=command.expected_version,
            authorize=_visible(command.session_id, command.actor),
            unit=unit,
            answer=deps.answer("session", command.session_id),
        )


async def record_attendance(
    command: RecordAttendance, deps: Dependencies
) -> Change[Session | None]:
    today = deps.clock().date()
    return await deps.sessions.execute(
        command.session_id,
        _on(
            lambda session: rules.record_attendance(
                session, command.actor, command.attendees, today
            )
        ),
        expected_version=command.expected_version,
        authorize=_visible(command.session_id, command.actor),
        answer=deps.answer("session", command.session_id),
    )


async def record_survey_responses(
    command: RecordSurveyResponses, deps: Dependencies
) -> Change[Session | None]:
    async with deps.store.unit_of_work(authorize_first=True) as unit:

        async def decide(session: Session | None) -> Sequence[DomainEvent]:
            assert session is not None
            survey = None
            if session.survey_id is not None:
                survey = (await deps.surveys.load(unit, session.survey_id)).state
            return rules.record_survey_responses(session, command.actor, command.responses, survey)

        return await deps.sessions.execute(
            command.session_id,
            decide,
            expected_version=command.expected_version,
            authorize=_visible(command.session_id, command.actor),
            unit=unit,
            answer=deps.answer("session", command.session_id),
        )


async def deliver_session(command: DeliverSession, deps: Dependencies) -> Change[Session | None]:
    """The session's delivery and, in the same transaction, its part at each factory that had
    participants, on that factory's record (whose public event is about that factory alone). A
    reaction appending to a factory's record at that moment makes the whole unit decide again."""
    today = deps.clock().date()
    attempt = 0
    while True:
        try:
            async with deps.store.unit_of_work(authorize_first=True) as unit:
                change = await deps.sessions.execute(
                    command.session_id,
                    _on(lambda session: rules.deliver_session(session, command.actor, today)),
                    expected_version=command.expected_version,
                    authorize=_visible(command.session_id, command.actor),
                    unit=unit,
                )
                session = change.state
                assert session is not None
                attended = {participant.factory_id for participant in session.attendees.values()}
                for factory_id in sorted(attended):
                    received = rules.training_received(session, factory_id)
                    await deps.factories.execute(
                        factory_id, partial(_receive, training=received), unit=unit
                    )
                read = deps.answer("session", command.session_id)
                return dataclasses.replace(
                    change, answer=await read(unit, change) if read is not None else None
                )
        except ConcurrencyConflict as conflict:
            attempt += 1
            if not conflict.stream_id.startswith(FACTORY_STREAM_PREFIX):
                raise
            if attempt > DELIVERY_RETRIES:
                raise


async def cancel_session(command: CancelSession, deps: Dependencies) -> Change[Session | None]:
    return await deps.sessions.execute(
        command.session_id,
        _on(lambda session: rules.cancel_session(session, command.actor, command.reason)),
        expected_version=command.expected_version,
        authorize=_visible(command.session_id, command.actor),
        answer=deps.answer("session", command.session_id),
    )
