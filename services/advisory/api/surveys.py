"""/v1/surveys: outcome-survey instruments (admins publish and revise them; everyone
authenticated reads them) and their aggregated results for programme staff: the mean change per
course, country and year with its 95% confidence interval, never an individual's answers."""

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
    set_etag,
)
from libs.servicekit.service import RunCommand, run_as
from libs.servicekit.types import PathId
from services.advisory.api.common import (
    Admin,
    Anyone,
    Country,
    Deps,
    IdQuery,
    Staff,
    Year,
    actor_of,
    answered,
    upper,
)
from services.advisory.commands import PublishSurvey, ReviseSurvey
from services.advisory.domain.survey import SurveyDefinition
from services.advisory.domain.vocabulary import CourseCode
from services.advisory.errors import NoSuchSurvey
from services.advisory.ids import new_id
from services.advisory.queries import catalogue as queries
from services.advisory.queries.figures import survey_results
from services.advisory.schemas import SurveyCreate, SurveyPage, SurveyPublic, SurveyResults

router = APIRouter(prefix="/v1/surveys", tags=["surveys"])


@router.post("", status_code=201, response_model=SurveyPublic)
async def publish_survey(
    body: SurveyCreate,
    run: RunCommand,
    response: Response,
    principal: Admin,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Attach a survey instrument (Likert items) to a course, at version 1."""
    survey_id = new_id()
    definition = SurveyDefinition.model_validate(
        body.model_dump(exclude={"course_code", "scale_points"})
    )
    command = PublishSurvey(
        survey_id, body.course_code, body.scale_points, definition, actor_of(principal)
    )
    change = await run_as(run, principal, correlation_id, command)
    response.headers["Location"] = f"/v1/surveys/{survey_id}"
    return answered(change, response)


@router.get("", response_model=SurveyPage)
async def list_surveys(
    deps: Deps, principal: Anyone, pagination: Pagination, course_code: CourseCode | None = None
) -> dict[str, Any]:
    """Survey instruments, optionally of one course."""
    position = pagination.position(after=str)
    async with deps.store.reading() as connection:
        rows = await queries.list_surveys(
            connection,
            after=position["after"] if position else None,
            limit=pagination.limit + 1,
            course_code=course_code,
        )
    page, next_cursor = next_page(rows, pagination.limit, lambda row: {"after": row["survey_id"]})
    return {"items": page, "next_cursor": next_cursor}


@router.get("/results", response_model=SurveyResults)
async def results(
    deps: Deps,
    principal: Staff,
    course_code: CourseCode | None = None,
    survey_id: IdQuery = None,
    country: Country = None,
    year: Year = None,
) -> dict[str, Any]:
    """Aggregated outcomes per course, instrument, country and year, within the caller's country
    programmes: the count of participants with both responses, and the mean change of score with
    its 95% confidence interval (withheld below the minimum count)."""
    minimum = deps.publication.survey_min_pairs
    async with deps.store.reading() as connection:
        rows = await survey_results(
            connection,
            actor_of(principal),
            min_pairs=minimum,
            course_code=course_code,
            survey_id=survey_id,
            country=upper(country),
            year=year,
        )
    return {"min_pairs": minimum, "results": rows}


@router.get("/{survey_id}", response_model=SurveyPublic)
async def get_survey(
    survey_id: PathId, deps: Deps, response: Response, principal: Anyone
) -> dict[str, Any]:
    """A survey instrument's current version; its version is the ETag."""
    async with deps.store.reading() as connection:
        row = await queries.get_survey(connection, survey_id)
    if row is None:
        raise NoSuchSurvey(f"survey {survey_id} does not exist")
    set_etag(response, row["version"])
    return row


@router.put("/{survey_id}", response_model=SurveyPublic)
async def revise_survey(
    survey_id: PathId,
    body: SurveyDefinition,
    run: RunCommand,
    response: Response,
    principal: Admin,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """A new version of the items (the scale stays); responses keep the version they answered."""
    command = ReviseSurvey(survey_id, body, actor_of(principal), parse_if_match(if_match))
    return answered(await run_as(run, principal, correlation_id, command), response)
