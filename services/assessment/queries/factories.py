"""Reads of factories for the API: one by id, and a page of them (by country, or the caller's own)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from services.assessment.tables import factory


def factory_view(row: RowMapping) -> dict[str, Any]:
    return {
        "factory_id": row["factory_id"],
        "name": row["name"],
        "country": row["country"],
        "address": row["address"],
        "sector_isic": row["sector_isic"],
        "workforce": {"women": row["workforce_women"], "men": row["workforce_men"]},
        "os_id": row["os_id"],
        "version": row["version"],
        "registered_at": row["registered_at"],
        "updated_at": row["updated_at"],
    }


async def get_factory(connection: AsyncConnection, factory_id: str) -> RowMapping | None:
    result = await connection.execute(select(factory).where(factory.c.factory_id == factory_id))
    return result.mappings().first()


async def list_factories(
    connection: AsyncConnection,
    *,
    country: str | None,
    countries: frozenset[str] | None,
    only_factory: str | None,
    after: str | None,
    limit: int,
) -> list[RowMapping]:
    query = select(factory).order_by(factory.c.factory_id).limit(limit)
    if country is not None:
        query = query.where(factory.c.country == country)
    if countries is not None:  # a staff member's country programmes
        query = query.where(factory.c.country.in_(sorted(countries)))
    if only_factory is not None:
        query = query.where(factory.c.factory_id == only_factory)
    if after is not None:
        query = query.where(factory.c.factory_id > after)
    return list((await connection.execute(query)).mappings().all())
