"""/v1/training-sessions/{id}/attendance and survey forms: a trainer enters a whole sign-in
sheet, or a batch of survey forms, at once (all or nothing); readers see the attendees (a
factory user its own) and the session's aggregated survey result, never anyone's answers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from libs.servicekit.http import (
    CorrelationId,
    IdempotencyKey,
    IfMatch,
    Pagination,
    next_page,
    parse_if_match,
)
from libs.servicekit.service import RunCommand, run_as
from libs.servicekit.types import PathId
from services.advisory.api.common import Deps, Reader, Trainer, actor_of, answered
from services.advisory.api.sessions import visible_session
from services.advisory.commands import RecordAttendance, RecordSurveyResponses
from services.advisory.domain.actor import FACTORY
from services.advisory.queries import sessions as queries
from services.advisory.schemas import (
    AttendanceSheet,
    AttendeePage,
    SessionPublic,
    SurveyForms,
    SurveyResultPublic,
)

router = APIRouter(prefix="/v1/training-sessions", tags=["training-sessions"])


@router.post("/{session_id}/attendance", response_model=SessionPublic)
async def record_attendance(
    session_id: PathId,
    body: AttendanceSheet,
    run: RunCommand,
    response: Response,
    principal: Trainer,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Record a sign-in sheet: each line a participant (the factory's pseudonymous id, role,
    gender, an optional name) and the days they attended. A participant already in may sign
    further days; a day signed twice, a factory outside the session, a day outside the session
    or in the future, or more participants than the capacity refuse the whole sheet."""
    actor = actor_of(principal)
    command = RecordAttendance(session_id, body.attendees, actor, parse_if_match(if_match))
    change = await run_as(run, principal, correlation_id, command)
    return queries.session_view(answered(change, response), actor)


@router.get("/{session_id}/attendance", response_model=AttendeePage)
async def list_attendance(
    session_id: PathId, deps: Deps, principal: Reader, pagination: Pagination
) -> dict[str, Any]:
    """The session's attendees by factory and participant id (a factory user: its own)."""
    actor = actor_of(principal)
    await visible_session(deps, actor, session_id)
    position = pagination.position(factory_id=str, participant_id=str)
    async with deps.store.reading() as connection:
        rows = await queries.list_attendance(
            connection,
            session_id,
            only_factory=actor.factory_id if actor.role == FACTORY else None,
            after=(position["factory_id"], position["participant_id"]) if position else None,
            limit=pagination.limit + 1,
        )
    page, next_cursor = next_page(
        rows,
        pagination.limit,
        lambda row: {"factory_id": row["factory_id"], "participant_id": row["participant_id"]},
    )
    return {"items": page, "next_cursor": next_cursor}


@router.post("/{session_id}/survey-responses", response_model=SessionPublic)
async def record_survey_responses(
    session_id: PathId,
    body: SurveyForms,
    run: RunCommand,
    response: Response,
    principal: Trainer,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Record survey forms of the session's attendees, before (pre) or after (post) the
    training, on the session's instrument: each answers every item of its version, once per
    participant and phase. The answers stay in the service; only aggregates leave it."""
    actor = actor_of(principal)
    command = RecordSurveyResponses(session_id, body.responses, actor, parse_if_match(if_match))
    change = await run_as(run, principal, correlation_id, command)
    return queries.session_view(answered(change, response), actor)


@router.get("/{session_id}/survey-results", response_model=SurveyResultPublic)
async def survey_result(session_id: PathId, deps: Deps, principal: Reader) -> dict[str, Any]:
    """The session's mean change of score (post - pre) with its 95% confidence interval, over
    the participants with both responses (a factory user: its own), withheld below the
    minimum count."""
    actor = actor_of(principal)
    await visible_session(deps, actor, session_id)
    async with deps.store.reading() as connection:
        return await queries.session_survey_result(
            connection,
            session_id,
            only_factory=actor.factory_id if actor.role == FACTORY else None,
            min_pairs=deps.publication.survey_min_pairs,
        )
