"""/v1/courses: the training catalogue. Everyone authenticated reads it; admins define, revise
and retire courses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from libs.servicekit.http import (
    CorrelationId,
    IdempotencyKey,
    IfMatch,
    Pagination,
    next_page,
    parse_if_match,
    set_etag,
)
from libs.servicekit.service import RunCommand, run_as
from libs.servicekit.types import PathId
from services.advisory.api.common import Admin, Anyone, Deps, actor_of, answered
from services.advisory.commands import DefineCourse, RetireCourse, ReviseCourse
from services.advisory.domain.course import CourseDetails
from services.advisory.domain.vocabulary import Cluster, ParticipantRole
from services.advisory.errors import NoSuchCourse
from services.advisory.queries import catalogue as queries
from services.advisory.schemas import CourseCreate, CoursePage, CoursePublic

router = APIRouter(prefix="/v1/courses", tags=["courses"])


@router.post("", status_code=201, response_model=CoursePublic)
async def define_course(
    body: CourseCreate,
    run: RunCommand,
    response: Response,
    principal: Admin,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Add a course to the catalogue (version 1)."""
    details = CourseDetails.model_validate(body.model_dump(exclude={"code"}))
    command = DefineCourse(body.code, details, actor_of(principal))
    change = await run_as(run, principal, correlation_id, command)
    response.headers["Location"] = f"/v1/courses/{body.code}"
    return answered(change, response)


@router.get("", response_model=CoursePage)
async def list_courses(
    deps: Deps,
    principal: Anyone,
    pagination: Pagination,
    audience_role: ParticipantRole | None = None,
    topic: Cluster | None = None,
    include_retired: Annotated[bool, Query(description="Retired courses too.")] = False,
) -> dict[str, Any]:
    """The catalogue by course code, optionally for an audience or a compliance cluster."""
    position = pagination.position(after=str)
    async with deps.store.reading() as connection:
        rows = await queries.list_courses(
            connection,
            after=position["after"] if position else None,
            limit=pagination.limit + 1,
            audience_role=audience_role.value if audience_role else None,
            topic=topic.value if topic else None,
            include_retired=include_retired,
        )
    page, next_cursor = next_page(rows, pagination.limit, lambda row: {"after": row["code"]})
    return {"items": page, "next_cursor": next_cursor}


@router.get("/{code}", response_model=CoursePublic)
async def get_course(
    code: PathId, deps: Deps, response: Response, principal: Anyone
) -> dict[str, Any]:
    """A course as it now is; its version is the ETag."""
    async with deps.store.reading() as connection:
        row = await queries.get_course(connection, code)
    if row is None:
        raise NoSuchCourse(f"course {code} does not exist")
    set_etag(response, row["version"])
    return row


@router.put("/{code}", response_model=CoursePublic)
async def revise_course(
    code: PathId,
    body: CourseDetails,
    run: RunCommand,
    response: Response,
    principal: Admin,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """A new version of the course (every detail as it should be); the same details change
    nothing. Sessions keep the version they were scheduled with."""
    command = ReviseCourse(code, body, actor_of(principal), parse_if_match(if_match))
    return answered(await run_as(run, principal, correlation_id, command), response)


@router.post("/{code}/retirement", response_model=CoursePublic)
async def retire_course(
    code: PathId,
    run: RunCommand,
    response: Response,
    principal: Admin,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Retire the course: no new sessions or surveys; scheduled sessions keep it."""
    command = RetireCourse(code, actor_of(principal), parse_if_match(if_match))
    return answered(await run_as(run, principal, correlation_id, command), response)
