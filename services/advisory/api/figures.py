"""/v1/training-sessions/figures: the programme figures, public (no authentication): participants
trained and completions per year and country (and course, role, gender on request), with running
totals since the first year of data; cells below the minimum counts are withheld."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from services.advisory.api.common import Country, Deps, Year, upper
from services.advisory.domain.vocabulary import CourseCode
from services.advisory.queries.figures import programme_figures
from services.advisory.schemas import Figures

router = APIRouter(prefix="/v1/training-sessions", tags=["programme-figures"])

Dimension = Literal["course_code", "role", "gender"]


@router.get("/figures", response_model=Figures)
async def figures(
    deps: Deps,
    response: Response,
    country: Country = None,
    course_code: CourseCode | None = None,
    from_year: Year = None,
    to_year: Year = None,
    by: Annotated[
        list[Dimension] | None,
        Query(max_length=3, description="Group by these too (repeat the parameter)."),
    ] = None,
) -> dict[str, Any]:
    """Participants trained and completions of delivered sessions (by the year a session
    started), per country and year, optionally by course, role and gender, with running totals
    since the group's first year. Public: a figure counting fewer participants or factories than
    the minimums is withheld (null, `suppressed`), and so is a running total that would reveal
    one."""
    dimensions = sorted(set(by or ()))
    publication = deps.publication
    async with deps.store.reading() as connection:
        rows = await programme_figures(
            connection,
            by=dimensions,
            minimums=publication.figures,
            country=upper(country),
            course_code=course_code,
            from_year=from_year,
            to_year=to_year,
        )
    response.headers["Cache-Control"] = f"public, max-age={publication.figures_max_age_seconds}"
    return {
        "min_participants": publication.figures.participants,
        "min_factories": publication.figures.factories,
        "by": dimensions,
        "figures": rows,
    }
