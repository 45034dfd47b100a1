"""The programme's results (public, no authentication; docs/programme-results.md): per country
and calendar year and cumulative, as JSON, CSV and an SVG chart, each with a strong ETag of its
bytes, `Cache-Control: public`, a 304 when the client has it, and the transparency pages' rate
limit per client address. The table is computed from the facts aggregated per year (one
statement, queries/results.py; the arithmetic in domain/results.py) once per state of the facts,
and kept in process with the public pages' answers."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from libs.servicekit.problems import ProblemError
from services.buyer_sharing.api.common import Deps
from services.buyer_sharing.api.results_chart import chart
from services.buyer_sharing.api.transparency import rate_limited
from services.buyer_sharing.dependencies import Dependencies
from services.buyer_sharing.domain.results import ResultsTable, results_table
from services.buyer_sharing.queries.results import facts_fingerprint, programme_facts

router = APIRouter(
    prefix="/v1/programme", tags=["programme-results"], dependencies=[Depends(rate_limited)]
)

Country = Annotated[
    str,
    Query(
        pattern=r"^[A-Za-z]{2}$",
        description="The country programme: ISO 3166-1 alpha-2 code, any case.",
        examples=["KH"],
    ),
]


class Workers(BaseModel):
    women: int
    men: int
    total: int


class Figures(BaseModel):
    assessments_completed: int = Field(description="Completed assessments, by report date.")
    factories_assessed: int = Field(description="Distinct factories with such an assessment.")
    workers: Workers = Field(
        description="Per factory assessed, its workforce in force on its last report date."
    )
    buyers_participating: int = Field(description="Distinct buyers with a grant in force.")
    buyers_relying: int = Field(description="Distinct buyers with a reliance in force.")
    training_participants: int = Field(description="Attendees of sessions ended then.")
    training_completions: int = Field(description="Of them, those who attended every day.")
    advisory_days: float
    non_compliance_rate: dict[str, float] = Field(
        description="Per cluster answered: the share of the assessments non-compliant in it."
    )


class YearFigures(Figures):
    year: int


class ProgrammeResults(BaseModel):
    country: str
    first_year: int
    last_year: int
    years: list[YearFigures]
    cumulative: Figures = Field(description="From the first year through the last.")


CACHED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified (If-None-Match)."},
    404: {"description": "No fact of this country programme (`programme-not-found`)."},
    429: {"description": "Rate limited; see `Retry-After`."},
}


async def _answer(
    request: Request,
    deps: Dependencies,
    country: str,
    representation: str,
    render: Callable[[ResultsTable], bytes],
    media_type: str,
    **headers: str,
) -> Response:
    """The table rendered, made once per state of the facts and kept in process with the public
    pages' answers (pagecache.py), with a strong ETag of its bytes; 304 when the client has it."""
    code, today = country.upper(), deps.clock().date()
    key = ("programme-results", representation, code, today)
    pages = deps.public.pages
    async with deps.store.reading() as connection:
        # read before the facts, so the answer kept under it is at least that new; each part
        # only grows, so their sum moves whenever one does
        version = sum(await facts_fingerprint(connection))
        answer = pages.get(key, version)
        if answer is None:
            table = results_table(code, await programme_facts(connection, code, today), today)
            if table is None:
                raise ProblemError(
                    f"no results for the country programme {code}",
                    status=404,
                    title="Programme not found",
                    type_slug="programme-not-found",
                )
            answer = pages.put(key, version, render(table))
    cached = {
        "ETag": answer.etag,
        "Cache-Control": f"public, max-age={deps.public.max_age_seconds}",
    }
    candidates = {
        tag.strip().removeprefix("W/")
        for tag in request.headers.get("if-none-match", "").split(",")
    }
    if answer.etag in candidates or "*" in candidates:
        return Response(status_code=304, headers=cached)
    return Response(answer.payload, media_type=media_type, headers={**cached, **headers})


def json_document(table: ResultsTable) -> bytes:
    return json.dumps(table.as_json(), separators=(",", ":")).encode()


@router.get("/results", response_model=ProgrammeResults, responses=CACHED)
async def programme_results(request: Request, deps: Deps, country: Country) -> Response:
    """The country programme's results per calendar year and cumulative (public)."""
    return await _answer(request, deps, country, "json", json_document, "application/json")


def csv_document(table: ResultsTable) -> str:
    """One row per year, then the cumulative one; a rate column per cluster seen in any year
    (empty in a year that did not answer it)."""
    clusters = table.clusters
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(
        [
            "year",
            "assessments_completed",
            "factories_assessed",
            "workers_women",
            "workers_men",
            "workers_total",
            "buyers_participating",
            "buyers_relying",
            "training_participants",
            "training_completions",
            "advisory_days",
            *(f"nc_rate_{cluster}" for cluster in clusters),
        ]
    )
    rows = [(str(year), table.years[year]) for year in sorted(table.years)]
    for label, figures in [*rows, ("cumulative", table.cumulative)]:
        workers = figures.workers
        rates = figures.non_compliance_rate
        writer.writerow(
            [
                label,
                figures.assessments_completed,
                figures.factories_assessed,
                workers.women,
                workers.men,
                workers.total,
                figures.buyers_participating,
                figures.buyers_relying,
                figures.training_participants,
                figures.training_completions,
                float(figures.advisory_days),
                *(rates.get(cluster, "") for cluster in clusters),
            ]
        )
    return buffer.getvalue()


@router.get(
    "/results.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}, **CACHED},
)
async def programme_results_csv(request: Request, deps: Deps, country: Country) -> Response:
    """The same table as CSV, with a header row (public)."""
    return await _answer(
        request,
        deps,
        country,
        "csv",
        lambda table: csv_document(table).encode(),
        "text/csv; charset=utf-8",
        **{"Content-Disposition": f'inline; filename="programme-results-{country.upper()}.csv"'},
    )


@router.get(
    "/results.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}}, **CACHED},
)
async def programme_results_svg(request: Request, deps: Deps, country: Country) -> Response:
    """A chart of the table: assessments per year as bars, buyers participating and relying as
    lines (public)."""
    return await _answer(
        request, deps, country, "svg", lambda table: chart(table).encode(), "image/svg+xml"
    )
