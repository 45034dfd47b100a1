"""/v1/assessments: schedule a factory's next assessment, list them, read one with its findings,
and a country's yearly synthesis. Staff schedule, list and read only assessments of their country
programmes; the synthesis (aggregates, no factory) answers any staff member for any country."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from libs.domain.errors import NotFound
from libs.domain.types import ResourceId
from libs.servicekit.auth import Role
from libs.servicekit.http import CorrelationId, IdempotencyKey, Pagination, next_page
from libs.servicekit.problems import UnprocessableEntity
from libs.servicekit.service import RunCommand, run_as
from libs.servicekit.types import PathId
from services.assessment.api.answers import assessment_detail, changed_assessment
from services.assessment.api.common import (
    Deps,
    Reader,
    ReadModels,
    Staff,
    after_id,
    listed_countries,
    scope_of,
)
from services.assessment.commands import ScheduleAssessment
from services.assessment.queries import assessments as queries
from services.assessment.queries import synthesis
from services.assessment.schemas import AssessmentCreate, AssessmentDetail, AssessmentPage

router = APIRouter(prefix="/v1/assessments", tags=["assessments"])


@router.post("", status_code=201, response_model=AssessmentDetail)
async def schedule_assessment(
    body: AssessmentCreate,
    run: RunCommand,
    response: Response,
    principal: Staff,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Schedule a factory's next assessment; its cycle follows from the factory's history. A
    factory of another country programme than the caller's is answered as an unknown one (422)."""
    command = ScheduleAssessment(
        assessment_id=str(uuid.uuid4()),
        factory_id=body.factory_id,
        scheduled_for=body.scheduled_for,
        assessors=tuple(body.assessors),
        catalogue_version=body.catalogue_version,
        scope=scope_of(principal),
    )
    try:
        change = await run_as(run, principal, correlation_id, command)
    except NotFound as error:
        # the factory named in the body (unknown, or of another country programme): the
        # request is wrong, not the URL
        raise UnprocessableEntity(
            error.detail, extensions={"factory_id": body.factory_id}
        ) from error
    response.headers["Location"] = f"/v1/assessments/{command.assessment_id}"
    return changed_assessment(change, response, status_code=201)


@router.get("", response_model=AssessmentPage)
async def list_assessments(
    reads: ReadModels,
    principal: Reader,
    pagination: Pagination,
    factory_id: Annotated[ResourceId | None, Query()] = None,
    status: Literal["scheduled", "completed"] | None = None,
) -> dict[str, Any]:
    """List assessments; a factory user sees only its own completed ones, staff those of their
    country programmes."""
    if principal.role is Role.FACTORY:
        if factory_id not in (None, principal.factory_id):
            return {"items": [], "next_cursor": None}
        factory_id, status = principal.factory_id, "completed"
    async with reads.store.reading() as connection:
        rows = await queries.list_assessments(
            connection,
            factory_id=factory_id,
            status=status,
            countries=listed_countries(principal),
            after=after_id(pagination),
            limit=pagination.limit + 1,
        )
    page, next_cursor = next_page(
        rows, pagination.limit, lambda row: {"after": row["assessment_id"]}
    )
    return {"items": [queries.assessment_view(row) for row in page], "next_cursor": next_cursor}


@router.get("/synthesis")
async def yearly_synthesis(
    deps: Deps,
    reads: ReadModels,
    principal: Staff,
    country: Annotated[str, Query(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$")],
    year: Annotated[int, Query(ge=2000, le=2100)],
) -> dict[str, Any]:
    """Non-compliance rates per cluster and compliance point for a country and year.

    Computed once per change of the country's completed assessments: each process keeps the
    answer until a completion or a correction moves the country's synthesis version."""
    country = country.upper()
    kept = reads.synthesis_cache
    async with reads.store.reading() as connection:
        version = await synthesis.synthesis_version(connection, country)
        computed = kept.get(country, year, version)
        if computed is None:
            computed = await synthesis.yearly_synthesis(
                connection, deps.catalogues, country=country, year=year
            )
            kept.put(country, year, version, computed)
    return computed


@router.get("/{assessment_id}", response_model=AssessmentDetail)
async def get_assessment(
    assessment_id: PathId, reads: ReadModels, response: Response, principal: Reader
) -> dict[str, Any]:
    """An assessment with its findings; its version is the ETag (another country programme's is
    a 404 for staff, as another factory's is for a factory user)."""
    return await assessment_detail(reads, response, principal, assessment_id)
