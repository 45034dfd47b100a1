"""Courses and survey instruments: one by key, and cursor pages in key order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.advisory.tables import course, survey


async def get_course(connection: AsyncConnection, code: str) -> dict[str, Any] | None:
    row = (await connection.execute(select(course).where(course.c.code == code))).mappings().first()
    return dict(row) if row is not None else None


async def list_courses(
    connection: AsyncConnection,
    *,
    after: str | None,
    limit: int,
    audience_role: str | None = None,
    topic: str | None = None,
    include_retired: bool = True,
) -> list[dict[str, Any]]:
    query = select(course).order_by(course.c.code).limit(limit)
    if after is not None:
        query = query.where(course.c.code > after)
    if audience_role is not None:
        query = query.where(course.c.audience_roles.contains([audience_role]))
    if topic is not None:
        query = query.where(course.c.topics.contains([topic]))
    if not include_retired:
        query = query.where(course.c.retired.is_(False))
    return [dict(row) for row in (await connection.execute(query)).mappings()]


async def get_survey(connection: AsyncConnection, survey_id: str) -> dict[str, Any] | None:
    query = select(survey).where(survey.c.survey_id == survey_id)
    row = (await connection.execute(query)).mappings().first()
    return dict(row) if row is not None else None


async def list_surveys(
    connection: AsyncConnection, *, after: str | None, limit: int, course_code: str | None
) -> list[dict[str, Any]]:
    query = select(survey).order_by(survey.c.survey_id).limit(limit)
    if after is not None:
        query = query.where(survey.c.survey_id > after)
    if course_code is not None:
        query = query.where(survey.c.course_code == course_code)
    return [dict(row) for row in (await connection.execute(query)).mappings()]
