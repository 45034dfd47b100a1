"""/v1/training-sessions: scheduling, reading, rescheduling, delivering and cancelling training
sessions. Trainers (their own sessions) and admins write; staff of the session's country and
users of its factories read, each a session of another factory or country being a 404."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Response

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
from services.advisory.api.common import (
    Country,
    Deps,
    IdQuery,
    Reader,
    Trainer,
    actor_of,
    answered,
    upper,
)
from services.advisory.commands import (
    CancelSession,
    DeliverSession,
    RescheduleSession,
    ScheduleSession,
)
from services.advisory.domain.actor import Actor
from services.advisory.domain.vocabulary import CourseCode, SessionStatus
from services.advisory.errors import NoSuchSession
from services.advisory.handlers.dependencies import Dependencies
from services.advisory.ids import new_id
from services.advisory.queries import sessions as queries
from services.advisory.schemas import (
    Cancellation,
    SessionCreate,
    SessionPage,
    SessionPublic,
    SessionUpdate,
)

router = APIRouter(prefix="/v1/training-sessions", tags=["training-sessions"])


async def visible_session(deps: Dependencies, actor: Actor, session_id: str) -> dict[str, Any]:
    """The session's row if the caller may see it; a 404 otherwise (another factory's, another
    country programme's, or none)."""
    async with deps.store.reading() as connection:
        row = await queries.get_session(connection, session_id)
    if row is None or not queries.visible_to(row, actor):
        raise NoSuchSession(f"training session {session_id} does not exist")
    return row


@router.post("", status_code=201, response_model=SessionPublic)
async def schedule_session(
    body: SessionCreate,
    run: RunCommand,
    response: Response,
    principal: Trainer,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Schedule a session of a course at a factory (or an open one for several factories of one
    country programme). A factory this service does not know, or one outside the caller's
    country programmes, is a 404; an unknown course a 422."""
    session_id = new_id()
    actor = actor_of(principal)
    command = ScheduleSession(
        session_id=session_id,
        course_code=body.course_code,
        factories=body.factories,
        open_session=body.open_session,
        trainer=body.trainer,
        start_date=body.start_date,
        end_date=body.end_date,
        capacity=body.capacity,
        language=body.language,
        survey_id=body.survey_id,
        actor=actor,
    )
    change = await run_as(run, principal, correlation_id, command)
    response.headers["Location"] = f"/v1/training-sessions/{session_id}"
    return queries.session_view(answered(change, response), actor)


@router.get("", response_model=SessionPage)
async def list_sessions(
    deps: Deps,
    principal: Reader,
    pagination: Pagination,
    country: Country = None,
    factory_id: IdQuery = None,
    status: SessionStatus | None = None,
    course_code: CourseCode | None = None,
) -> dict[str, Any]:
    """Sessions, newest first: staff see their country programmes', a factory user its own."""
    actor = actor_of(principal)
    position = pagination.position(start_date=date, session_id=str)
    async with deps.store.reading() as connection:
        rows = await queries.list_sessions(
            connection,
            actor,
            after=(position["start_date"], position["session_id"]) if position else None,
            limit=pagination.limit + 1,
            country=upper(country),
            factory_id=factory_id,
            status=status.value if status else None,
            course_code=course_code,
        )
    page, next_cursor = next_page(
        rows,
        pagination.limit,
        lambda row: {"start_date": row["start_date"].isoformat(), "session_id": row["session_id"]},
    )
    return {"items": [queries.session_view(row, actor) for row in page], "next_cursor": next_cursor}


@router.get("/{session_id}", response_model=SessionPublic)
async def get_session(
    session_id: PathId, deps: Deps, response: Response, principal: Reader
) -> dict[str, Any]:
    """A session; its version is the ETag."""
    actor = actor_of(principal)
    row = await visible_session(deps, actor, session_id)
    set_etag(response, row["version"])
    return queries.session_view(row, actor)


@router.patch("/{session_id}", response_model=SessionPublic)
async def reschedule_session(
    session_id: PathId,
    body: SessionUpdate,
    run: RunCommand,
    response: Response,
    principal: Trainer,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Change a scheduled session's trainer (admins), dates (before any attendance), capacity
    or language."""
    actor = actor_of(principal)
    command = RescheduleSession(
        session_id,
        actor,
        **body.model_dump(exclude_unset=True),
        expected_version=parse_if_match(if_match),
    )
    change = await run_as(run, principal, correlation_id, command)
    return queries.session_view(answered(change, response), actor)


@router.post("/{session_id}/delivery", response_model=SessionPublic)
async def deliver_session(
    session_id: PathId,
    run: RunCommand,
    response: Response,
    principal: Trainer,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """The session was delivered (on or after its last day, with attendance): final. Each of its
    factories' buyers and remediation learn of it (`TrainingSessionDelivered`)."""
    actor = actor_of(principal)
    command = DeliverSession(session_id, actor, parse_if_match(if_match))
    change = await run_as(run, principal, correlation_id, command)
    return queries.session_view(answered(change, response), actor)


@router.post("/{session_id}/cancellation", response_model=SessionPublic)
async def cancel_session(
    session_id: PathId,
    body: Cancellation,
    run: RunCommand,
    response: Response,
    principal: Trainer,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Cancel a scheduled session without attendance."""
    actor = actor_of(principal)
    command = CancelSession(session_id, body.reason, actor, parse_if_match(if_match))
    change = await run_as(run, principal, correlation_id, command)
    return queries.session_view(answered(change, response), actor)
