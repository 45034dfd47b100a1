"""The programme figures and the survey results, read from their running totals and published by
the domain's rules (small cells withheld)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.advisory.domain.actor import Actor
from services.advisory.domain.figures import GROUP_DIMENSIONS, Cell, Figure, Minimums, publish
from services.advisory.queries.sessions import result_view
from services.advisory.tables import figures_version, survey_result, training_figure


async def figures_version_now(connection: AsyncConnection) -> int:
    """The figures' version (moved by every change of them)."""
    value = await connection.scalar(
        select(figures_version.c.version).where(figures_version.c.id == 1)
    )
    return int(value or 0)


async def programme_figures(
    connection: AsyncConnection,
    *,
    by: Sequence[str],
    minimums: Minimums,
    country: str | None = None,
    course_code: str | None = None,
    from_year: int | None = None,
    to_year: int | None = None,
) -> list[dict[str, Any]]:
    """Per year and country (and the dimensions of `by`), with running totals since each
    group's first year: every earlier year is read, whatever `from_year` says."""
    figure = training_figure
    dimensions = [figure.c[name] for name in GROUP_DIMENSIONS if name in by]
    query = (
        select(
            figure.c.country,
            *dimensions,
            figure.c.year,
            func.sum(figure.c.participants),
            func.sum(figure.c.completions),
            func.max(figure.c.factories),
        )
        .group_by(figure.c.country, *dimensions, figure.c.year)
        .order_by(figure.c.country, *dimensions, figure.c.year)
    )
    if country is not None:
        query = query.where(figure.c.country == country)
    if course_code is not None:
        query = query.where(figure.c.course_code == course_code)
    if to_year is not None:
        query = query.where(figure.c.year <= to_year)
    cells = []
    for row in await connection.execute(query):
        values = list(row)
        named = dict(
            zip([d.name for d in dimensions], values[1 : 1 + len(dimensions)], strict=True)
        )
        group = (values[0], *(named.get(name) for name in GROUP_DIMENSIONS))
        participants, completions, factories = values[-3:]
        cells.append(Cell(group, values[-4], int(participants), int(completions), int(factories)))
    years = (from_year or 0, to_year or 9999)
    return [_figure_view(figure, by) for figure in publish(cells, minimums, years)]


def _figure_view(figure: Figure, by: Sequence[str]) -> dict[str, Any]:
    country, *dimensions = figure.group
    view: dict[str, Any] = {"year": figure.year, "country": country}
    for name, value in zip(GROUP_DIMENSIONS, dimensions, strict=True):
        if name in by:
            view[name] = value
    view.update(
        participants=figure.participants,
        completions=figure.completions,
        cumulative_participants=figure.cumulative_participants,
        cumulative_completions=figure.cumulative_completions,
        suppressed=figure.suppressed,
        cumulative_suppressed=figure.cumulative_suppressed,
    )
    return view


async def survey_results(
    connection: AsyncConnection,
    actor: Actor,
    *,
    min_pairs: int,
    course_code: str | None = None,
    survey_id: str | None = None,
    country: str | None = None,
    year: int | None = None,
) -> list[dict[str, Any]]:
    """Per course, instrument, country and year: the mean change with its 95% interval and the
    count; within the caller's country programmes."""
    result = survey_result
    query = select(result).order_by(
        result.c.course_code, result.c.survey_id, result.c.country, result.c.year
    )
    if actor.countries is not None:
        query = query.where(result.c.country.in_(sorted(actor.countries)))
    if course_code is not None:
        query = query.where(result.c.course_code == course_code)
    if survey_id is not None:
        query = query.where(result.c.survey_id == survey_id)
    if country is not None:
        query = query.where(result.c.country == country)
    if year is not None:
        query = query.where(result.c.year == year)
    return [
        {
            "course_code": row.course_code,
            "survey_id": row.survey_id,
            "country": row.country,
            "year": row.year,
            **result_view(row.pairs, row.change_total, row.change_squares, min_pairs),
        }
        for row in await connection.execute(query)
    ]
