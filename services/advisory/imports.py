"""The history import of the kinds this service owns (`POST /v1/imports/training-sessions` and
`/v1/imports/advisory-visits`, libs/servicekit/imports.py): the domain decides each record's
events by the live rules (domain/history.py), each appended at its business time and attributed
to its bundle; all in the request's one transaction.

Fast by doing per request what the live commands do per record: the aggregates a request needs
(courses, factory records, whether a session or visit exists) are read in one round trip each,
each stream takes its events in one append (a factory's record every session it attended), the
new read-model rows go in by binary COPY, and the programme figures take the request's
deliveries in one statement, their version moved once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, TypeVar

from libs.domain.aggregate import AggregateType
from libs.domain.envelope import DomainEvent, EventContext, current_context
from libs.domain.history.advisory import AdvisoryVisitRecord, TrainingSessionRecord
from libs.events.history import copy_rows
from libs.events.store import UnitOfWork
from libs.servicekit.imports import ImportBatch, ImportKind, Numbered
from services.advisory.appender import Appender
from services.advisory.domain import history
from services.advisory.domain.actor import ADMIN, Actor
from services.advisory.domain.course import COURSE, Course
from services.advisory.domain.factory import FACTORY, FactoryRecord, TrainingReceived
from services.advisory.domain.history import PastSession, PastVisit, Rejected, Step
from services.advisory.domain.session import SESSION
from services.advisory.domain.views import (
    attendance_rows,
    factory_row,
    figure_rows,
    session_factory_rows,
    session_row,
    visit_row,
)
from services.advisory.domain.visit import VISIT
from services.advisory.handlers.dependencies import Dependencies
from services.advisory.projections import add_figures, figures_moved, upsert
from services.advisory.tables import (
    advisory_visit,
    attendance,
    factory,
    session_factory,
    training_session,
)

S = TypeVar("S")
# rows of one multi-row upsert (4 columns: well under PostgreSQL's 32,767 parameters)
UPSERT_ROWS = 2_000
R = TypeVar("R", TrainingSessionRecord, AdvisoryVisitRecord)


def _importer(batch: ImportBatch[Any]) -> Actor:
    """The admin importing, as the domain sees it (only its country programmes' factories)."""
    principal = batch.principal
    return Actor(subject=principal.subject, role=ADMIN, countries=principal.countries)


def _context(batch: ImportBatch[R], day: date, item: Numbered[R]) -> EventContext:
    """The context of events that happened on `day` and come from `item`."""
    with batch.at(day, item):
        return current_context()


async def _states(
    unit: UnitOfWork, aggregate: AggregateType[S], ids: Iterable[str]
) -> dict[str, tuple[int, S]]:
    """The aggregates of `ids` that exist, each folded from its whole stream (version, state),
    in one round trip."""
    store = unit.store
    stream_ids = sorted({aggregate.stream_id(aggregate_id) for aggregate_id in ids})
    if not stream_ids:
        return {}
    rows = await (await unit.driver()).fetch(
        f'SELECT stream_id, version, event_type, data::text FROM "{store.schema}".event '
        "WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, version",
        stream_ids,
    )
    decode = store.registry.decode_json
    events: dict[str, list[DomainEvent]] = defaultdict(list)
    versions: dict[str, int] = {}
    for row in rows:
        events[row[0]].append(decode(row[2], row[3]))
        versions[row[0]] = row[1]
    prefix = len(aggregate.stream_prefix)
    return {
        stream_id[prefix:]: (versions[stream_id], aggregate.fold(stream_events))
        for stream_id, stream_events in events.items()
    }


async def _existing(unit: UnitOfWork, aggregate: AggregateType[Any], ids: list[str]) -> set[str]:
    """Which of `ids` have a stream already."""
    if not ids:
        return set()
    rows = await (await unit.driver()).fetch(
        f'SELECT stream_id FROM "{unit.store.schema}".stream WHERE stream_id = ANY($1::text[])',
        [aggregate.stream_id(aggregate_id) for aggregate_id in ids],
    )
    prefix = len(aggregate.stream_prefix)
    return {row[0][prefix:] for row in rows}


async def _append_new(
    appender: Appender,
    aggregate: AggregateType[Any],
    aggregate_id: str,
    steps: Sequence[Step],
    contexts: Sequence[EventContext],
    subject: str,
) -> Any:
    """A new stream with its steps' events, each step in its own context; the recording time."""
    envelopes = await appender.append(
        aggregate.stream_id(aggregate_id),
        stream_type=aggregate.stream_type,
        expected_version=0,
        events=[event for step in steps for event in step.events],
        subject=subject,
        states=[state for step in steps for state in step.states],
        contexts=[
            context for step, context in zip(steps, contexts, strict=True) for _ in step.events
        ],
    )
    return envelopes[-1].recorded_time


async def _factories_receive(
    unit: UnitOfWork,
    appender: Appender,
    records: dict[str, tuple[int, FactoryRecord]],
    received: dict[str, list[tuple[TrainingReceived, EventContext]]],
) -> list[dict[str, Any]]:
    """Each factory's record takes the sessions it attended in one append (saving a snapshot
    where the repository would); the factories' rows."""
    rows = []
    snapshots = FACTORY.snapshots
    assert snapshots is not None
    for factory_id, trainings in received.items():
        version, record = records[factory_id]
        events, states = history.receive(record, [training for training, _ in trainings])
        if not events:
            continue
        await appender.append(
            FACTORY.stream_id(factory_id),
            stream_type=FACTORY.stream_type,
            expected_version=version,
            events=events,
            subject=factory_id,
            states=states,
            contexts=[context for _, context in trainings],
        )
        new_version = version + len(events)
        if new_version // snapshots.every > version // snapshots.every:
            await unit.save_snapshot(
                FACTORY.stream_id(factory_id),
                new_version,
                {"_shape": snapshots.version, "state": snapshots.dump(states[-1])},
            )
        rows.append(factory_row(states[-1], new_version))
    return rows


async def import_sessions(deps: Dependencies, batch: ImportBatch[TrainingSessionRecord]) -> None:
    """Delivered sessions with their attendance: each session's stream, its part on each
    attending factory's record (which publishes `TrainingSessionDelivered` at the session's end
    date, marked imported), its rows, and the programme figures."""
    actor, today = _importer(batch), deps.clock().date()
    items = sorted(batch.records, key=lambda item: (item.record.end_date, item.line))
    async with deps.store.unit_of_work(connection=batch.connection) as unit:
        codes = {item.record.course_code for item in items}
        courses: dict[str, Course | None] = {
            code: state for code, (_, state) in (await _states(unit, COURSE, codes)).items()
        }
        factory_ids = {history.factory_id(f) for item in items for f in item.record.factories}
        records = await _states(unit, FACTORY, factory_ids)
        known = {factory_id: record for factory_id, (_, record) in records.items()}
        ids = [history.session_id(item.record.source_id) for item in items]
        existing = await _existing(unit, SESSION, ids)
        sessions: list[tuple[Numbered[TrainingSessionRecord], PastSession]] = []
        for item, new_id in zip(items, ids, strict=True):
            try:
                past = history.past_session(
                    item.record,
                    actor=actor,
                    course=courses.get(item.record.course_code),
                    records=known,
                    today=today,
                    exists=new_id in existing,
                )
            except Rejected as rejected:
                batch.reject(item, rejected.field, rejected.reason)
                continue
            batch.scope(item, past.session.country)
            sessions.append((item, past))
        if batch.errors:
            return
        appender = Appender(unit)
        received: dict[str, list[tuple[TrainingReceived, EventContext]]] = defaultdict(list)
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item, past in sessions:
            contexts = [_context(batch, step.day, item) for step in past.steps]
            recorded_at = await _append_new(
                appender,
                SESSION,
                past.session_id,
                past.steps,
                contexts,
                deps.sessions.subject_of(past.session_id, past.session),
            )
            version = sum(len(step.events) for step in past.steps)
            rows["session"].append(session_row(past.session, version, recorded_at))
            rows["part"].extend(session_factory_rows(past.session))
            rows["attendance"].extend(attendance_rows(past.session))
            rows["figure"].extend(figure_rows(past.session))
            for training in past.received:
                received[training.factory_id].append((training, contexts[-1]))
        factory_rows = await _factories_receive(unit, appender, records, received)
        batch.appended(await appender.flush())
        await copy_rows(unit.connection, training_session, rows["session"])
        await copy_rows(unit.connection, session_factory, rows["part"])
        await copy_rows(unit.connection, attendance, rows["attendance"])
        for start in range(0, len(factory_rows), UPSERT_ROWS):
            await upsert(unit, factory, factory_rows[start : start + UPSERT_ROWS])
        await add_figures(unit, rows["figure"], moved=False)
        await figures_moved(unit)


async def import_visits(deps: Dependencies, batch: ImportBatch[AdvisoryVisitRecord]) -> None:
    """Completed visits: each visit's stream (which publishes `AdvisoryVisitCompleted` on the
    day of the visit, marked imported) and its row."""
    actor, today = _importer(batch), deps.clock().date()
    items = sorted(batch.records, key=lambda item: (item.record.visited_on, item.line))
    async with deps.store.unit_of_work(connection=batch.connection) as unit:
        factory_ids = {history.factory_id(item.record.factory) for item in items}
        known = {
            fid: record for fid, (_, record) in (await _states(unit, FACTORY, factory_ids)).items()
        }
        ids = [history.visit_id(item.record.source_id) for item in items]
        existing = await _existing(unit, VISIT, ids)
        visits: list[tuple[Numbered[AdvisoryVisitRecord], PastVisit]] = []
        for item, new_id in zip(items, ids, strict=True):
            try:
                past = history.past_visit(
                    item.record,
                    actor=actor,
                    factory=known.get(history.factory_id(item.record.factory)),
                    today=today,
                    exists=new_id in existing,
                )
            except Rejected as rejected:
                batch.reject(item, rejected.field, rejected.reason)
                continue
            batch.scope(item, past.visit.country)
            visits.append((item, past))
        if batch.errors:
            return
        appender = Appender(unit)
        rows = []
        for item, past in visits:
            contexts = [_context(batch, step.day, item) for step in past.steps]
            recorded_at = await _append_new(
                appender, VISIT, past.visit_id, past.steps, contexts, past.visit.factory_id
            )
            version = sum(len(step.events) for step in past.steps)
            rows.append(visit_row(past.visit, version, recorded_at))
        batch.appended(await appender.flush())
        await copy_rows(unit.connection, advisory_visit, rows)


IMPORTS: list[ImportKind[Dependencies]] = [
    ImportKind(
        name="training-sessions",
        record=TrainingSessionRecord,
        apply=import_sessions,
        summary="Import delivered training sessions with their attendance (admin)",
        description="Delivered training sessions of the programme's history, each scheduled on "
        "its first day, its attendance signed and its delivery recorded on its last (business "
        "time), by the live rules: a course of the catalogue, factories this service knows in "
        "the admin's country programmes, room for the course's training days, each attendee "
        "signing the session's first `days_attended` days (1 to the course's training days; "
        "completion: every training day). The capacity is the number of attendees.",
    ),
    ImportKind(
        name="advisory-visits",
        record=AdvisoryVisitRecord,
        apply=import_visits,
        summary="Import completed advisory visits (admin)",
        description="Advisory visits of the programme's history, planned and completed on the "
        "day they took place (business time), to factories this service knows in the admin's "
        "country programmes, in half days up to 10 as the live API takes them. The importer is "
        "the visit's advisor (the bundle names none).",
    ),
]
