"""/v1/advisory-visits: enterprise advisors' visits to factories. Assessors acting as advisors
(their own visits) and admins write; staff of the factory's country and the factory's users
read (a factory user never sees the notes); another factory's or country's visit is a 404."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from libs.domain.types import ID_MAX_LENGTH, ID_PATTERN
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
    Advisor,
    Country,
    Deps,
    IdQuery,
    Reader,
    actor_of,
    answered,
    upper,
)
from services.advisory.commands import CancelVisit, CompleteVisit, PlanVisit
from services.advisory.domain.vocabulary import VisitStatus
from services.advisory.errors import NoSuchVisit, UnknownFactory
from services.advisory.ids import new_id
from services.advisory.queries import visits as queries
from services.advisory.schemas import (
    AdvisoryDays,
    Cancellation,
    VisitCompletion,
    VisitCreate,
    VisitPage,
    VisitPublic,
)

router = APIRouter(prefix="/v1/advisory-visits", tags=["advisory-visits"])


@router.post("", status_code=201, response_model=VisitPublic)
async def plan_visit(
    body: VisitCreate,
    run: RunCommand,
    response: Response,
    principal: Advisor,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Plan a visit to a factory (at most a year ahead). A factory this service does not know,
    or one outside the caller's country programmes, is a 404."""
    visit_id = new_id()
    actor = actor_of(principal)
    command = PlanVisit(
        visit_id=visit_id,
        factory_id=body.factory_id,
        planned_for=body.planned_for,
        purpose=body.purpose.value,
        actor=actor,
        advisor=body.advisor,
        description=body.description,
    )
    change = await run_as(run, principal, correlation_id, command)
    response.headers["Location"] = f"/v1/advisory-visits/{visit_id}"
    return queries.visit_view(answered(change, response), actor)


@router.get("", response_model=VisitPage)
async def list_visits(
    deps: Deps,
    principal: Reader,
    pagination: Pagination,
    country: Country = None,
    factory_id: IdQuery = None,
    status: VisitStatus | None = None,
) -> dict[str, Any]:
    """Visits, newest first: staff see their country programmes', a factory user its own."""
    actor = actor_of(principal)
    position = pagination.position(planned_for=date, visit_id=str)
    async with deps.store.reading() as connection:
        rows = await queries.list_visits(
            connection,
            actor,
            after=(position["planned_for"], position["visit_id"]) if position else None,
            limit=pagination.limit + 1,
            country=upper(country),
            factory_id=factory_id,
            status=status.value if status else None,
        )
    page, next_cursor = next_page(
        rows,
        pagination.limit,
        lambda row: {"planned_for": row["planned_for"].isoformat(), "visit_id": row["visit_id"]},
    )
    return {"items": [queries.visit_view(row, actor) for row in page], "next_cursor": next_cursor}


@router.get("/days", response_model=AdvisoryDays)
async def advisory_days(
    deps: Deps,
    principal: Reader,
    factory_id: Annotated[str, Query(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)],
) -> dict[str, Any]:
    """The factory's completed visits and advisory days per assessment cycle."""
    actor = actor_of(principal)
    async with deps.store.reading() as connection:
        country = await queries.factory_country(connection, factory_id)
        if country is None or not actor.sees(country, (factory_id,)):
            raise UnknownFactory(f"factory {factory_id} is not known")
        cycles = await queries.advisory_days(connection, factory_id)
    return {"factory_id": factory_id, "cycles": cycles}


@router.get("/{visit_id}", response_model=VisitPublic)
async def get_visit(
    visit_id: PathId, deps: Deps, response: Response, principal: Reader
) -> dict[str, Any]:
    """A visit; its version is the ETag."""
    actor = actor_of(principal)
    async with deps.store.reading() as connection:
        row = await queries.get_visit(connection, visit_id)
    if row is None or not actor.sees(row["country"], (row["factory_id"],)):
        raise NoSuchVisit(f"advisory visit {visit_id} does not exist")
    set_etag(response, row["version"])
    return queries.visit_view(row, actor)


@router.post("/{visit_id}/completion", response_model=VisitPublic)
async def complete_visit(
    visit_id: PathId,
    body: VisitCompletion,
    run: RunCommand,
    response: Response,
    principal: Advisor,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """The visit took place: the day, the days spent, internal notes, the improvement plan items
    and the committee meeting it supported. Final; the factory's buyers and remediation learn of
    it (`AdvisoryVisitCompleted`, without the notes)."""
    actor = actor_of(principal)
    command = CompleteVisit(
        visit_id=visit_id,
        visited_on=body.visited_on,
        duration_days=body.duration_days,
        notes=body.notes,
        actor=actor,
        plan_item_ids=body.plan_item_ids,
        committee_meeting_id=body.committee_meeting_id,
        expected_version=parse_if_match(if_match),
    )
    change = await run_as(run, principal, correlation_id, command)
    return queries.visit_view(answered(change, response), actor)


@router.post("/{visit_id}/cancellation", response_model=VisitPublic)
async def cancel_visit(
    visit_id: PathId,
    body: Cancellation,
    run: RunCommand,
    response: Response,
    principal: Advisor,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Cancel a planned visit."""
    actor = actor_of(principal)
    command = CancelVisit(visit_id, body.reason, actor, parse_if_match(if_match))
    change = await run_as(run, principal, correlation_id, command)
    return queries.visit_view(answered(change, response), actor)
