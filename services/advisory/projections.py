"""Read models of the advisory service, projected in the unit of work that appends the events
(`Repository(project=…)`): each aggregate's rows from its state after the change (the same
functions as the rebuild's, `domain/views.py`), and the programme's running totals (figures,
survey results) incremented once, by the event that adds to them, in the same statement that
records what was added."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert

from libs.domain.aggregate import Change
from libs.events.store import UnitOfWork
from services.advisory.domain.course import Course
from services.advisory.domain.factory import AssessmentCycleRecorded, FactoryRecord
from services.advisory.domain.session import ParticipantKey, Session
from services.advisory.domain.session_events import (
    AttendanceRecorded,
    SessionDelivered,
    SurveyResponsesRecorded,
)
from services.advisory.domain.survey import Survey
from services.advisory.domain.views import (
    attendance_rows,
    course_row,
    cycle_rows,
    factory_row,
    figure_rows,
    merge_figure_rows,
    session_factory_rows,
    session_row,
    survey_change_rows,
    survey_row,
    visit_row,
)
from services.advisory.domain.visit import Visit
from services.advisory.tables import (
    SCHEMA,
    advisory_visit,
    attendance,
    course,
    factory,
    factory_cycle,
    session_factory,
    survey,
    training_session,
)


async def upsert(unit: UnitOfWork, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the rows, or replace every column of the rows already there (by primary key)."""
    if not rows:
        return
    keys = [column.name for column in table.primary_key.columns]
    statement = insert(table).values(list(rows))
    await unit.connection.execute(
        statement.on_conflict_do_update(
            index_elements=keys,
            set_={name: statement.excluded[name] for name in rows[0] if name not in keys},
        )
    )


def _changed_at(change: Change[Any]) -> Any:
    return change.envelopes[-1].recorded_time


async def project_course(unit: UnitOfWork, change: Change[Course | None]) -> None:
    assert change.state is not None
    await upsert(unit, course, [course_row(change.state, change.version, _changed_at(change))])


async def project_survey(unit: UnitOfWork, change: Change[Survey | None]) -> None:
    assert change.state is not None
    await upsert(unit, survey, [survey_row(change.state, change.version, _changed_at(change))])


async def project_visit(unit: UnitOfWork, change: Change[Visit | None]) -> None:
    assert change.state is not None
    row = visit_row(change.state, change.version, _changed_at(change))
    await upsert(unit, advisory_visit, [row])


async def project_factory(unit: UnitOfWork, change: Change[FactoryRecord]) -> None:
    """The factory's row (its version too) and its cycles; the training it received is counted
    from the session (the figures)."""
    record = change.state
    await upsert(unit, factory, [factory_row(record, change.version)])
    if any(isinstance(event, AssessmentCycleRecorded) for event in change.events):
        await upsert(unit, factory_cycle, cycle_rows(record))


async def project_session(unit: UnitOfWork, change: Change[Session | None]) -> None:
    session = change.state
    assert session is not None
    await upsert(
        unit, training_session, [session_row(session, change.version, _changed_at(change))]
    )
    await upsert(unit, session_factory, session_factory_rows(session))
    touched: set[ParticipantKey] = set()
    answered: set[ParticipantKey] = set()
    for event in change.events:
        if isinstance(event, AttendanceRecorded):
            touched.update((line.factory_id, line.participant_id) for line in event.attendees)
        elif isinstance(event, SurveyResponsesRecorded):
            answered.update((line.factory_id, line.participant_id) for line in event.responses)
    await upsert(unit, attendance, _attendance(session, touched | answered))
    if answered:
        await add_survey_changes(unit, survey_change_rows(session, answered))
    if any(isinstance(event, SessionDelivered) for event in change.events):
        await add_figures(unit, figure_rows(session))


def _attendance(session: Session, keys: set[ParticipantKey]) -> list[dict[str, Any]]:
    return attendance_rows(session, keys) if keys else []


_SURVEY_CHANGES = f"""
WITH added AS (
    INSERT INTO {SCHEMA}.survey_change
        (session_id, factory_id, participant_id, course_code, survey_id, country, year, change)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::int[], $8::int[])
    ON CONFLICT DO NOTHING
    RETURNING course_code, survey_id, country, year, change
)
INSERT INTO {SCHEMA}.survey_result AS result
    (course_code, survey_id, country, year, pairs, change_total, change_squares)
SELECT course_code, survey_id, country, year, count(*), sum(change),
       sum(change::bigint * change::bigint)
FROM added GROUP BY course_code, survey_id, country, year
ON CONFLICT (course_code, survey_id, country, year) DO UPDATE SET
    pairs = result.pairs + excluded.pairs,
    change_total = result.change_total + excluded.change_total,
    change_squares = result.change_squares + excluded.change_squares
"""

SURVEY_CHANGE_COLUMNS = (
    "session_id",
    "factory_id",
    "participant_id",
    "course_code",
    "survey_id",
    "country",
    "year",
    "change",
)


async def add_survey_changes(unit: UnitOfWork, rows: Sequence[dict[str, Any]]) -> None:
    """Record each new pair's change and add it to its course, country and year's result; a
    pair recorded already adds nothing."""
    if not rows:
        return
    driver = await unit.driver()
    await driver.execute(
        _SURVEY_CHANGES, *([row[name] for row in rows] for name in SURVEY_CHANGE_COLUMNS)
    )


_FIGURES = f"""
WITH delivered AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[],
                         $7::int[], $8::int[])
        AS d(country, course_code, role, gender, year, factory_id, participants, completions)
), per_factory AS (
    INSERT INTO {SCHEMA}.training_figure_factory AS cell
    -- rows are locked in key order, in both tables: two deliveries that add to the same cells
    -- wait for each other instead of deadlocking (each had locked some cells the other needed)
    SELECT * FROM delivered ORDER BY country, course_code, role, gender, year, factory_id
    ON CONFLICT (country, course_code, role, gender, year, factory_id) DO UPDATE SET
        participants = cell.participants + excluded.participants,
        completions = cell.completions + excluded.completions
    -- xmax is 0 on a row this statement inserted: the factory is new to the cell
    RETURNING country, course_code, role, gender, year, factory_id, (xmax = 0) AS new_factory
)
INSERT INTO {SCHEMA}.training_figure AS figure
    (country, course_code, role, gender, year, participants, completions, factories)
SELECT d.country, d.course_code, d.role, d.gender, d.year, sum(d.participants),
       sum(d.completions), count(*) FILTER (WHERE p.new_factory)
FROM delivered d
JOIN per_factory p USING (country, course_code, role, gender, year, factory_id)
GROUP BY d.country, d.course_code, d.role, d.gender, d.year
ORDER BY d.country, d.course_code, d.role, d.gender, d.year
ON CONFLICT (country, course_code, role, gender, year) DO UPDATE SET
    participants = figure.participants + excluded.participants,
    completions = figure.completions + excluded.completions,
    factories = figure.factories + excluded.factories
"""

FIGURES_MOVED = f"UPDATE {SCHEMA}.figures_version SET version = version + 1 WHERE id = 1"

FIGURE_COLUMNS = (
    "country",
    "course_code",
    "role",
    "gender",
    "year",
    "factory_id",
    "participants",
    "completions",
)


async def add_figures(
    unit: UnitOfWork, rows: Sequence[dict[str, Any]], *, moved: bool = True
) -> None:
    """Add a delivered session's participants to the programme figures (once: a session is
    delivered once), and move the figures' version. Rows of many sessions (an import) are
    merged first, one per cell and factory, since one statement updates a row once; the
    import moves the version once for its whole request (`moved=False`, then
    `figures_moved`): the single row would serialize every record's transaction step."""
    if not rows:
        return
    merged = merge_figure_rows(rows)
    driver = await unit.driver()
    await driver.execute(_FIGURES, *([row[name] for row in merged] for name in FIGURE_COLUMNS))
    if moved:
        await driver.execute(FIGURES_MOVED)


async def figures_moved(unit: UnitOfWork) -> None:
    """The figures changed: answers kept in process from the old ones are not given again."""
    await (await unit.driver()).execute(FIGURES_MOVED)
