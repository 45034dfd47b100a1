"""A factory's training and advisory summary from the advisory service's public events,
set-based: the facts (`training_delivery` per session and factory, `advisory_visit` per visit) are
upserted with the producer's stream version guarding them (the newest wins, so redelivered and
reordered events leave the same rows), then the factories' summaries by course and year
(`training_summary`) and by year (`advisory_summary`) are recomputed from those rows, never
incremented. Kept for every factory, whatever its grants: a buyer reads them only through the
consent rule (queries/consent.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

from libs.domain.envelope import DomainEvent
from services.buyer_sharing import upstream
from services.buyer_sharing.tables import SCHEMA

S = f'"{SCHEMA}"'
SESSION_SQL = f"""
INSERT INTO {S}.training_delivery AS t (session_id, factory_id, course_code, course_title,
    start_date, end_date, training_days, participants, completions, version)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], $6::date[],
    $7::int[], $8::int[], $9::int[], $10::int[])
ON CONFLICT (session_id, factory_id) DO UPDATE SET course_code = excluded.course_code,
    course_title = excluded.course_title, start_date = excluded.start_date,
    end_date = excluded.end_date, training_days = excluded.training_days,
    participants = excluded.participants, completions = excluded.completions,
    version = excluded.version
WHERE t.version < excluded.version
"""
VISIT_SQL = f"""
INSERT INTO {S}.advisory_visit AS t (visit_id, factory_id, visited_on, duration_days, version)
SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::numeric[], $5::int[])
ON CONFLICT (visit_id) DO UPDATE SET factory_id = excluded.factory_id,
    visited_on = excluded.visited_on, duration_days = excluded.duration_days,
    version = excluded.version
WHERE t.version < excluded.version
"""

# Two transactions of the advisory consumer (replicas, or a batch and a dead letter's replay) may
# touch one factory at once: each takes the factory's transaction lock first, in key order, so the
# later one's statements start after the earlier one committed and see its rows.
LOCK_SQL = """
SELECT pg_advisory_xact_lock(key) FROM (
    SELECT DISTINCT hashtextextended('buyer_sharing.training_summary:' || id, 0) AS key
    FROM unnest($1::text[]) AS id ORDER BY 1
) AS keys
"""
_ONLY = "WHERE factory_id = ANY($1::text[])"
# Upserts, not delete-and-insert: a rebuild running beside the live consumer (each in its own
# transaction) may write the same group; the later one waits for the earlier and updates its row.
_TRAINING = f"""
INSERT INTO {S}.training_summary AS t (factory_id, year, course_code, course_title, sessions,
    participants, completions, training_days, latest_start_date)
SELECT factory_id, extract(year FROM start_date)::int AS year, course_code,
    (array_agg(course_title ORDER BY start_date DESC, end_date DESC, session_id DESC))[1],
    count(*), sum(participants), sum(completions), sum(training_days), max(start_date)
FROM {S}.training_delivery {{where}}
GROUP BY factory_id, year, course_code
ON CONFLICT (factory_id, year, course_code) DO UPDATE SET course_title = excluded.course_title,
    sessions = excluded.sessions, participants = excluded.participants,
    completions = excluded.completions, training_days = excluded.training_days,
    latest_start_date = excluded.latest_start_date
"""
_ADVISORY = f"""
INSERT INTO {S}.advisory_summary AS t (factory_id, year, visits, advisory_days,
    latest_visited_on)
SELECT factory_id, extract(year FROM visited_on)::int AS year, count(*), sum(duration_days),
    max(visited_on)
FROM {S}.advisory_visit {{where}}
GROUP BY factory_id, year
ON CONFLICT (factory_id, year) DO UPDATE SET visits = excluded.visits,
    advisory_days = excluded.advisory_days, latest_visited_on = excluded.latest_visited_on
"""
# a group none of whose rows is left (a session or visit moved to another course or year by a
# newer version of its event) goes
_STALE_TRAINING = f"""
DELETE FROM {S}.training_summary s {{where}} NOT EXISTS (
    SELECT 1 FROM {S}.training_delivery d
    WHERE d.factory_id = s.factory_id AND d.course_code = s.course_code
      AND extract(year FROM d.start_date)::int = s.year)
"""
_STALE_ADVISORY = f"""
DELETE FROM {S}.advisory_summary s {{where}} NOT EXISTS (
    SELECT 1 FROM {S}.advisory_visit v
    WHERE v.factory_id = s.factory_id AND extract(year FROM v.visited_on)::int = s.year)
"""
# the touched factories' summaries, from their rows
SUMMARY_SQL = (
    _TRAINING.format(where=_ONLY),
    _ADVISORY.format(where=_ONLY),
    _STALE_TRAINING.format(where="WHERE s.factory_id = ANY($1::text[]) AND"),
    _STALE_ADVISORY.format(where="WHERE s.factory_id = ANY($1::text[]) AND"),
)
# every factory's (the rebuild, once at its end, on emptied tables)
SUMMARY_ALL_SQL = (
    _TRAINING.format(where=""),
    _ADVISORY.format(where=""),
    _STALE_TRAINING.format(where="WHERE"),
    _STALE_ADVISORY.format(where="WHERE"),
)


def _newer(rows: dict[Any, tuple[Any, ...]], key: Any, row: tuple[Any, ...]) -> None:
    """Keep the row with the highest version (its last member) for `key`."""
    current = rows.get(key)
    if current is None or current[-1] < row[-1]:
        rows[key] = row


@dataclass
class TrainingAdvisoryRows:
    """A batch's advisory events as rows, merged per key as the events one by one would leave
    them, and the factories whose summaries they change."""

    sessions: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    visits: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    factories: set[str] = field(default_factory=set)

    def add(self, version: int, event: DomainEvent) -> bool:
        """Take the event if it is one of the advisory service's (False: not ours)."""
        if isinstance(event, upstream.TrainingSessionDelivered):
            key = (event.session_id, event.factory_id)
            _newer(
                self.sessions,
                key,
                (
                    *key,
                    event.course_code,
                    event.course_title,
                    event.start_date,
                    event.end_date,
                    event.training_days,
                    event.participants,
                    event.completions,
                    version,
                ),
            )
        elif isinstance(event, upstream.AdvisoryVisitCompleted):
            _newer(
                self.visits,
                event.visit_id,
                (
                    event.visit_id,
                    event.factory_id,
                    event.visited_on,
                    # the number as the producer wrote it (JSON), not its binary float
                    Decimal(str(event.duration_days)),
                    version,
                ),
            )
        else:
            return False
        self.factories.add(event.factory_id)
        return True

    async def write(self, driver: asyncpg.Connection) -> None:
        for sql, rows in ((SESSION_SQL, self.sessions), (VISIT_SQL, self.visits)):
            if rows:
                await driver.execute(
                    sql, *(list(column) for column in zip(*rows.values(), strict=True))
                )


async def refresh_summaries(driver: asyncpg.Connection, factory_ids: Iterable[str] | None) -> None:
    """Recompute the training and advisory summaries of `factory_ids` (None: of every factory, as
    the rebuild does once at its end), under the factories' locks."""
    if factory_ids is None:
        for sql in SUMMARY_ALL_SQL:
            await driver.execute(sql)
        return
    ids = sorted(set(factory_ids))
    if not ids:
        return
    await driver.execute(LOCK_SQL, ids)
    for sql in SUMMARY_SQL:
        await driver.execute(sql, ids)
