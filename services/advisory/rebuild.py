"""`python -m services.advisory rebuild`: every read model again from the service's own event
history (the factories it knows are in it too: the reactions to the assessment service's events
record them as this service's own events, so no upstream stream is read). Each stream is folded
once with its aggregate's `evolve`, its rows come from the same functions the live projections
use (domain/views.py), and are written by binary COPY while the history is read ahead on a second
connection; the running totals (survey results, programme figures) are then summed set-based
from the rows. One transaction: readers see the old rows until it commits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.domain.envelope import EventRegistry
from libs.events.history import copy_rows, read_ahead, streams
from libs.events.store import RecordedEvent
from libs.servicekit.service import Progress, RebuildContext
from services.advisory.domain.course import COURSE
from services.advisory.domain.factory import FACTORY
from services.advisory.domain.session import SESSION
from services.advisory.domain.survey import SURVEY
from services.advisory.domain.views import (
    attendance_rows,
    course_row,
    cycle_rows,
    factory_row,
    session_factory_rows,
    session_row,
    survey_change_rows,
    survey_row,
    visit_row,
)
from services.advisory.domain.visit import VISIT
from services.advisory.projections import FIGURES_MOVED
from services.advisory.tables import (
    READ_MODELS,
    SCHEMA,
    advisory_visit,
    attendance,
    course,
    factory,
    factory_cycle,
    session_factory,
    survey,
    survey_change,
    training_session,
)

# rows kept before a COPY: bounds memory, keeps round trips few
FLUSH_ROWS = 2_000

DERIVED = (
    f"""
    INSERT INTO {SCHEMA}.survey_result
        (course_code, survey_id, country, year, pairs, change_total, change_squares)
    SELECT course_code, survey_id, country, year, count(*), sum(change),
           sum(change::bigint * change::bigint)
    FROM {SCHEMA}.survey_change GROUP BY course_code, survey_id, country, year
    """,
    f"""
    INSERT INTO {SCHEMA}.training_figure_factory
        (country, course_code, role, gender, year, factory_id, participants, completions)
    SELECT s.country, s.course_code, a.role, a.gender, extract(year FROM s.end_date)::int,
           a.factory_id, count(*), count(*) FILTER (WHERE a.completed)
    FROM {SCHEMA}.attendance a JOIN {SCHEMA}.training_session s USING (session_id)
    WHERE s.status = 'delivered'
    GROUP BY s.country, s.course_code, a.role, a.gender, extract(year FROM s.end_date),
             a.factory_id
    """,
    f"""
    INSERT INTO {SCHEMA}.training_figure
        (country, course_code, role, gender, year, participants, completions, factories)
    SELECT country, course_code, role, gender, year, sum(participants), sum(completions),
           count(*)
    FROM {SCHEMA}.training_figure_factory GROUP BY country, course_code, role, gender, year
    """,
)


@dataclass(frozen=True)
class RebuildReport:
    events: int
    rows: dict[str, int]

    def summary(self) -> str:
        return ", ".join(f"{count} {name}" for name, count in self.rows.items())


async def rebuild(context: RebuildContext[Any]) -> RebuildReport:
    """The service definition's rebuild."""
    return await rebuild_read_models(context.engine, context.registry, progress=context.progress)


Rows = dict[Table, list[dict[str, Any]]]


def _builders() -> dict[str, Callable[[str, list[RecordedEvent], Rows], None]]:
    def last(history: list[RecordedEvent]) -> tuple[int, Any]:
        return history[-1].version, history[-1].recorded_at

    def courses(_id: str, history: list[RecordedEvent], rows: Rows) -> None:
        state = COURSE.fold(entry.event for entry in history)
        if state is not None:
            rows[course].append(course_row(state, *last(history)))

    def surveys(_id: str, history: list[RecordedEvent], rows: Rows) -> None:
        state = SURVEY.fold(entry.event for entry in history)
        if state is not None:
            rows[survey].append(survey_row(state, *last(history)))

    def sessions(_id: str, history: list[RecordedEvent], rows: Rows) -> None:
        state = SESSION.fold(entry.event for entry in history)
        if state is None:
            return
        rows[training_session].append(session_row(state, *last(history)))
        rows[session_factory].extend(session_factory_rows(state))
        rows[attendance].extend(attendance_rows(state))
        rows[survey_change].extend(survey_change_rows(state))

    def visits(_id: str, history: list[RecordedEvent], rows: Rows) -> None:
        state = VISIT.fold(entry.event for entry in history)
        if state is not None:
            rows[advisory_visit].append(visit_row(state, *last(history)))

    def factories(_id: str, history: list[RecordedEvent], rows: Rows) -> None:
        state = FACTORY.fold(entry.event for entry in history)
        rows[factory].append(factory_row(state, history[-1].version))
        rows[factory_cycle].extend(cycle_rows(state))

    return {
        COURSE.stream_prefix: courses,
        SURVEY.stream_prefix: surveys,
        SESSION.stream_prefix: sessions,
        VISIT.stream_prefix: visits,
        FACTORY.stream_prefix: factories,
    }


async def rebuild_read_models(
    engine: AsyncEngine, registry: EventRegistry, *, progress: Progress | None = None
) -> RebuildReport:
    """Replace the read models with what the whole history gives. Commands that write them wait
    for the rebuild to commit (the tables are locked against writers, not readers)."""
    report = progress or (lambda _phase, _done, _total: None)
    written = [course, survey, training_session, session_factory, attendance, survey_change]
    written += [advisory_visit, factory, factory_cycle]
    pending: Rows = {table: [] for table in written}
    counts = {table.name: 0 for table in READ_MODELS}
    events = 0
    builders = _builders()
    async with engine.begin() as connection, engine.connect() as reader:
        names = ", ".join(f"{SCHEMA}.{table.name}" for table in READ_MODELS)
        await connection.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
        for table in READ_MODELS:
            await connection.execute(delete(table))

        async def flush(force: bool = False) -> None:
            for table, rows in pending.items():
                if rows and (force or len(rows) >= FLUSH_ROWS):
                    await copy_rows(connection, table, rows)
                    counts[table.name] += len(rows)
                    rows.clear()

        # the history is read on its own connection, ahead, while this one writes; its one
        # statement starts after the lock, so it sees every event committed before the rebuild
        history = streams(
            reader, SCHEMA, registry, progress=lambda done, total: report("events", done, total)
        )
        async for stream in read_ahead(history):
            events += len(stream.events)
            for prefix, build in builders.items():
                if stream.stream_id.startswith(prefix):
                    build(stream.stream_id[len(prefix) :], stream.events, pending)
                    break
            await flush()
        await flush(force=True)
        for statement in DERIVED:
            result = await connection.execute(text(statement))
            derived = statement.split("INSERT INTO ", 1)[1].split()[0].split(".")[1]
            counts[derived] = int(result.rowcount or 0)
        # the public figures kept in process were made from the rows replaced
        await connection.execute(text(FIGURES_MOVED))
    return RebuildReport(events, counts)
