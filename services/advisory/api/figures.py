"""/v1/training-sessions/figures: the programme figures, public (no authentication): participants
trained and completions per year and country (and course, role, gender on request), with running
totals since the first year of data; cells below the minimum counts are withheld. Answers are
kept in process while the figures do not change (libs/servicekit/answers.py), with a strong ETag."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response

from services.advisory.api.common import Country, Deps, Year, upper
from services.advisory.domain.vocabulary import CourseCode
from services.advisory.queries.figures import figures_version_now, programme_figures
from services.advisory.schemas import Figures

router = APIRouter(prefix="/v1/training-sessions", tags=["programme-figures"])

Dimension = Literal["course_code", "role", "gender"]


@router.get(
    "/figures",
    response_model=Figures,
    responses={304: {"description": "Not modified: the figures are those of `If-None-Match`."}},
)
async def figures(
    deps: Deps,
    country: Country = None,
    course_code: CourseCode | None = None,
    from_year: Year = None,
    to_year: Year = None,
    by: Annotated[
        list[Dimension] | None,
        Query(max_length=3, description="Group by these too (repeat the parameter)."),
    ] = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match", max_length=200)] = None,
) -> Response:
    """Participants trained and completions of delivered sessions (by the year a session
    started), per country and year, optionally by course, role and gender, with running totals
    since the group's first year. Public: a figure counting fewer participants or factories than
    the minimums is withheld (null, `suppressed`), and so is whatever would reveal one."""
    dimensions = sorted(set(by or ()))
    publication = deps.publication
    key = (upper(country), course_code, from_year, to_year, tuple(dimensions))
    async with deps.store.reading() as connection:
        version = await figures_version_now(connection)
        answer = deps.figure_answers.get(key, version)
        if answer is None:
            rows = await programme_figures(
                connection,
                by=dimensions,
                minimums=publication.figures,
                country=upper(country),
                course_code=course_code,
                from_year=from_year,
                to_year=to_year,
            )
            body = {
                "min_participants": publication.figures.participants,
                "min_factories": publication.figures.factories,
                "by": dimensions,
                "figures": rows,
            }
            payload = json.dumps(body, separators=(",", ":")).encode()
            answer = deps.figure_answers.put(key, version, payload)
    headers = {
        "Cache-Control": f"public, max-age={publication.figures_max_age_seconds}",
        "ETag": answer.etag,
    }
    if if_none_match is not None and answer.etag in {
        tag.strip() for tag in if_none_match.split(",")
    }:
        return Response(status_code=304, headers=headers)
    return Response(answer.payload, media_type="application/json", headers=headers)
