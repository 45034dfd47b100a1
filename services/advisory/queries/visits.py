"""Advisory visits as their readers see them (a factory user never sees a visit's notes), and the
advisory days per factory and assessment cycle."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from services.advisory.domain.actor import FACTORY, Actor
from services.advisory.domain.factory import cycle_on
from services.advisory.domain.vocabulary import VisitStatus
from services.advisory.tables import advisory_visit, factory, factory_cycle


async def get_visit(connection: AsyncConnection, visit_id: str) -> dict[str, Any] | None:
    query = select(advisory_visit).where(advisory_visit.c.visit_id == visit_id)
    row = (await connection.execute(query)).mappings().first()
    return dict(row) if row is not None else None


def visit_view(row: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """The notes stay with the programme's staff."""
    view = dict(row)
    if isinstance(view.get("duration_days"), Decimal):
        view["duration_days"] = float(view["duration_days"])
    if actor.role == FACTORY:
        view["notes"] = None
    return view


async def list_visits(
    connection: AsyncConnection,
    actor: Actor,
    *,
    after: tuple[date, str] | None,
    limit: int,
    country: str | None = None,
    factory_id: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Newest first, by (planned date, visit id); only what the caller may see."""
    visit = advisory_visit
    if actor.role == FACTORY:
        factory_id = actor.factory_id
    query = select(visit)
    if factory_id is not None:
        query = query.where(visit.c.factory_id == factory_id)
    if actor.role != FACTORY and actor.countries is not None:
        query = query.where(visit.c.country.in_(sorted(actor.countries)))
    if country is not None:
        query = query.where(visit.c.country == country)
    if status is not None:
        query = query.where(visit.c.status == status)
    order = (visit.c.planned_for, visit.c.visit_id)
    if after is not None:
        query = query.where(tuple_(*order) < tuple_(*after))
    query = query.order_by(order[0].desc(), order[1].desc()).limit(limit)
    return [dict(row) for row in (await connection.execute(query)).mappings()]


async def advisory_days(connection: AsyncConnection, factory_id: str) -> list[dict[str, Any]]:
    """Completed visits and their days per assessment cycle of the factory (cycle 0: before its
    first report), every cycle listed from the first report on."""
    cycles = {
        row.cycle: row.report_date
        for row in await connection.execute(
            select(factory_cycle.c.cycle, factory_cycle.c.report_date).where(
                factory_cycle.c.factory_id == factory_id
            )
        )
    }
    visits = await connection.execute(
        select(advisory_visit.c.visited_on, advisory_visit.c.duration_days).where(
            advisory_visit.c.factory_id == factory_id,
            advisory_visit.c.status == VisitStatus.COMPLETED.value,
        )
    )
    tally: dict[int, list[Decimal]] = {cycle: [] for cycle in cycles}
    for visited_on, duration_days in visits:
        tally.setdefault(cycle_on(cycles, visited_on), []).append(Decimal(duration_days))
    return [
        {
            "cycle": cycle,
            "report_date": cycles.get(cycle),
            "visits": len(days),
            "days": float(sum(days, Decimal(0))),
        }
        for cycle, days in sorted(tally.items())
    ]


async def factory_country(connection: AsyncConnection, factory_id: str) -> str | None:
    """The country of a factory this service knows (None: unknown)."""
    value = await connection.scalar(
        select(factory.c.country).where(factory.c.factory_id == factory_id)
    )
    return str(value) if value is not None else None
