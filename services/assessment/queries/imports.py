"""What the history import asks the read models, in its request's transaction, once per request:
the factories its assessments name, the OS IDs already held, the cycles already taken."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.assessment.domain.factory import Factory, Headcount
from services.assessment.tables import assessment, factory


async def factories_by_id(
    connection: AsyncConnection, factory_ids: Collection[str]
) -> dict[str, Factory]:
    """The factories (as their read model has them now) among `factory_ids`."""
    rows = await connection.execute(
        select(factory).where(factory.c.factory_id.in_(sorted(factory_ids)))
    )
    return {
        row.factory_id: Factory(
            factory_id=row.factory_id,
            name=row.name,
            country=row.country,
            address=row.address,
            sector_isic=row.sector_isic,
            workforce=Headcount(women=row.workforce_women, men=row.workforce_men),
            os_id=row.os_id,
        )
        for row in rows
    }


async def os_id_owners(connection: AsyncConnection, os_ids: Collection[str]) -> dict[str, str]:
    """OS ID -> the factory holding it, for those of `os_ids` that are held."""
    if not os_ids:
        return {}
    rows = await connection.execute(
        select(factory.c.os_id, factory.c.factory_id).where(factory.c.os_id.in_(sorted(os_ids)))
    )
    return {row.os_id: row.factory_id for row in rows}


async def cycles_of(
    connection: AsyncConnection, factory_ids: Collection[str]
) -> dict[str, list[tuple[int, date]]]:
    """Factory -> its assessments' (cycle, day of the visit), for the factories given."""
    rows = await connection.execute(
        select(assessment.c.factory_id, assessment.c.cycle, assessment.c.scheduled_for).where(
            assessment.c.factory_id.in_(sorted(factory_ids))
        )
    )
    cycles: dict[str, list[tuple[int, date]]] = {identifier: [] for identifier in factory_ids}
    for row in rows:
        cycles[row.factory_id].append((row.cycle, row.scheduled_for))
    return cycles
