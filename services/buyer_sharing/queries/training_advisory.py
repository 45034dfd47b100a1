"""A shared factory's training and advisory summary as a buyer reads it: the compact totals of a
portfolio entry (joined into the portfolio's own statement, after its consent check) and the
fuller summary by course and year of one factory, each statement checking consent with the one
rule (`consent.buyer_may_read`). Only counts: the advisory service publishes no participant, name,
survey answer or visit note, so none is here to show."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.buyer_sharing.queries.consent import buyer_may_read
from services.buyer_sharing.tables import SCHEMA

# The compact totals of the portfolio's page rows (aliased `page`), from the summaries: a few
# rows per factory (its years and courses). The latest training is the course of the group whose
# latest session started last (ties by course code).
TOTALS_JOINS = f"""
    LEFT JOIN LATERAL (
        SELECT sum(ts.sessions) AS training_sessions,
            sum(ts.participants) AS training_participants,
            sum(ts.completions) AS training_completions,
            sum(ts.training_days) AS training_days
        FROM "{SCHEMA}".training_summary ts WHERE ts.factory_id = page.factory_id
    ) tt ON true
    LEFT JOIN LATERAL (
        SELECT ts.course_code AS latest_course_code, ts.course_title AS latest_course_title,
            ts.latest_start_date AS latest_training_started_on
        FROM "{SCHEMA}".training_summary ts WHERE ts.factory_id = page.factory_id
        ORDER BY ts.latest_start_date DESC, ts.course_code
        LIMIT 1
    ) tl ON true
    LEFT JOIN LATERAL (
        SELECT sum(av.visits) AS advisory_visits, sum(av.advisory_days) AS advisory_days,
            max(av.latest_visited_on) AS latest_visited_on
        FROM "{SCHEMA}".advisory_summary av WHERE av.factory_id = page.factory_id
    ) ta ON true
"""
TOTALS_COLUMNS = (
    "training_sessions",
    "training_participants",
    "training_completions",
    "training_days",
    "latest_course_code",
    "latest_course_title",
    "latest_training_started_on",
    "advisory_visits",
    "advisory_days",
    "latest_visited_on",
)


def _days(value: Decimal | float | None) -> float:
    return float(value) if value is not None else 0.0


def totals(row: Mapping[str, Any]) -> dict[str, Any]:
    """The compact summary (`schemas.TrainingAndAdvisory`) of a row with TOTALS_COLUMNS: zeros
    and no latest activity when nothing is known of the factory's training or advisory work."""
    latest = None
    if row["latest_course_code"] is not None:
        latest = {
            "course_code": row["latest_course_code"],
            "course_title": row["latest_course_title"],
            "started_on": row["latest_training_started_on"],
        }
    return {
        "training": {
            "sessions": int(row["training_sessions"] or 0),
            "participants": int(row["training_participants"] or 0),
            "completions": int(row["training_completions"] or 0),
            "training_days": int(row["training_days"] or 0),
            "latest": latest,
        },
        "advisory": {
            "visits": int(row["advisory_visits"] or 0),
            "advisory_days": _days(row["advisory_days"]),
            "latest_visit_on": row["latest_visited_on"],
        },
    }


_SHARED = f"""
    FROM "{SCHEMA}".sharing_grant g
    JOIN "{SCHEMA}".{{table}} s ON s.factory_id = g.factory_id
    WHERE g.factory_id = :factory_id AND g.buyer_id = :buyer_id AND {buyer_may_read("g")}
"""
_BY_COURSE_AND_YEAR = text(
    """SELECT s.year, s.course_code, s.course_title, s.sessions, s.participants, s.completions,
        s.training_days"""
    + _SHARED.format(table="training_summary")
    + "ORDER BY s.year DESC, s.course_code"
)
_BY_YEAR = text(
    "SELECT s.year, s.visits, s.advisory_days"
    + _SHARED.format(table="advisory_summary")
    + "ORDER BY s.year DESC"
)


async def by_course_and_year(
    connection: AsyncConnection, buyer_id: str, factory_id: str, today: date
) -> dict[str, list[dict[str, Any]]]:
    """The factory's training by year and course and its advisory work by year, newest year
    first; nothing unless the factory shares with the buyer now (checked in each statement)."""
    params = {"buyer_id": buyer_id, "factory_id": factory_id, "today": today}
    training = [row._asdict() for row in await connection.execute(_BY_COURSE_AND_YEAR, params)]
    advisory = [
        {**row._asdict(), "advisory_days": _days(row.advisory_days)}
        for row in await connection.execute(_BY_YEAR, params)
    ]
    return {"training_by_course_and_year": training, "advisory_by_year": advisory}
