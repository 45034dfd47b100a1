"""Training sessions as their readers see them: staff of the country everything, a factory user
its own part of a session (its participants, its counts, its plan items) and nothing of the
other factories of an open session."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import BigInteger, and_, cast, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from services.advisory.domain.actor import FACTORY, Actor
from services.advisory.domain.session import CHANGE_SCALE
from services.advisory.domain.statistics import mean_change
from services.advisory.tables import (
    attendance,
    session_factory,
    survey_change,
    training_session,
)


async def get_session(connection: AsyncConnection, session_id: str) -> dict[str, Any] | None:
    """The session's row with its factories' parts (all of them: `session_view` narrows)."""
    query = select(training_session).where(training_session.c.session_id == session_id)
    row = (await connection.execute(query)).mappings().first()
    if row is None:
        return None
    parts = await connection.execute(
        select(session_factory)
        .where(session_factory.c.session_id == session_id)
        .order_by(session_factory.c.factory_id)
    )
    return {**row, "factories": [dict(part) for part in parts.mappings()]}


def visible_to(session: dict[str, Any], actor: Actor) -> bool:
    factory_ids = tuple(part["factory_id"] for part in session["factories"])
    return actor.sees(session["country"], factory_ids)


def session_view(session: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """What the caller sees: a factory user only its own part and counts."""
    view = dict(session)
    parts = [
        {key: part[key] for key in ("factory_id", "plan_item_ids", "participants", "completions")}
        for part in session["factories"]
        if actor.role != FACTORY or part["factory_id"] == actor.factory_id
    ]
    view["factories"] = parts
    if actor.role == FACTORY:
        view["participants"] = sum(part["participants"] for part in parts)
        view["completions"] = sum(part["completions"] for part in parts)
    return view


async def list_sessions(
    connection: AsyncConnection,
    actor: Actor,
    *,
    after: tuple[date, str] | None,
    limit: int,
    country: str | None = None,
    factory_id: str | None = None,
    status: str | None = None,
    course_code: str | None = None,
) -> list[dict[str, Any]]:
    """Newest first, by (start date, session id); only what the caller may see."""
    session = training_session
    if actor.role == FACTORY:
        factory_id = actor.factory_id
    query = select(session)
    order = (session.c.start_date, session.c.session_id)
    if factory_id is not None:
        part = session_factory
        query = query.join(part, part.c.session_id == session.c.session_id).where(
            part.c.factory_id == factory_id
        )
        order = (part.c.start_date, part.c.session_id)
    if actor.role != FACTORY and actor.countries is not None:
        query = query.where(session.c.country.in_(sorted(actor.countries)))
    if country is not None:
        query = query.where(session.c.country == country)
    if status is not None:
        query = query.where(session.c.status == status)
    if course_code is not None:
        query = query.where(session.c.course_code == course_code)
    if after is not None:
        query = query.where(tuple_(*order) < tuple_(*after))
    query = query.order_by(order[0].desc(), order[1].desc()).limit(limit)
    rows = [dict(row) for row in (await connection.execute(query)).mappings()]
    if not rows:
        return []
    parts_query = (
        select(session_factory)
        .where(session_factory.c.session_id.in_([row["session_id"] for row in rows]))
        .order_by(session_factory.c.session_id, session_factory.c.factory_id)
    )
    parts: dict[str, list[dict[str, Any]]] = {}
    for part_row in (await connection.execute(parts_query)).mappings():
        parts.setdefault(part_row["session_id"], []).append(dict(part_row))
    return [{**row, "factories": parts.get(row["session_id"], [])} for row in rows]


async def list_attendance(
    connection: AsyncConnection,
    session_id: str,
    *,
    only_factory: str | None,
    after: tuple[str, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """A session's attendees by (factory, participant): a factory user's own only."""
    query = select(attendance).where(attendance.c.session_id == session_id)
    if only_factory is not None:
        query = query.where(attendance.c.factory_id == only_factory)
    if after is not None:
        query = query.where(
            or_(
                attendance.c.factory_id > after[0],
                and_(attendance.c.factory_id == after[0], attendance.c.participant_id > after[1]),
            )
        )
    query = query.order_by(attendance.c.factory_id, attendance.c.participant_id).limit(limit)
    return [dict(row) for row in (await connection.execute(query)).mappings()]


async def session_survey_result(
    connection: AsyncConnection, session_id: str, *, only_factory: str | None, min_pairs: int
) -> dict[str, Any]:
    """The session's mean change with its interval, over its participants (a factory user's own
    only), withheld below `min_pairs` pairs: an individual's answers never leave the service."""
    query = select(
        func.count(),
        func.coalesce(func.sum(survey_change.c.change), 0),
        func.coalesce(func.sum(cast(survey_change.c.change, BigInteger) ** 2), 0),
    ).where(survey_change.c.session_id == session_id)
    if only_factory is not None:
        query = query.where(survey_change.c.factory_id == only_factory)
    count, total, squares = (await connection.execute(query)).one()
    return result_view(int(count), int(total), int(squares), min_pairs)


def result_view(count: int, total: int, squares: int, min_pairs: int) -> dict[str, Any]:
    suppressed = count < min_pairs
    result = None if suppressed else mean_change(count, total, squares, CHANGE_SCALE)
    return {
        "pairs": count,
        "suppressed": suppressed,
        "mean_change": round(result.mean, 4) if result else None,
        "ci95_low": round(result.low, 4) if result and result.low is not None else None,
        "ci95_high": round(result.high, 4) if result and result.high is not None else None,
    }
