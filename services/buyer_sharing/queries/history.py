"""What the import of a programme's history asks the read models, a batch at a time (one
statement per question, in the import request's transaction): the buyers it names and when they
joined, the factories and their countries, the completed assessments and their report dates, and
which factory-buyer pairs have a grant stream already."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.buyer_sharing.tables import SCHEMA, buyer, factory, report


async def buyers_joined(connection: AsyncConnection, buyer_ids: set[str]) -> dict[str, date]:
    """Buyer id -> the day it was registered (joined the programme), of those registered."""
    if not buyer_ids:
        return {}
    rows = await connection.execute(
        select(buyer.c.buyer_id, buyer.c.registered_at).where(buyer.c.buyer_id.in_(buyer_ids))
    )
    return {row.buyer_id: row.registered_at.date() for row in rows}


async def factory_countries(connection: AsyncConnection, factory_ids: set[str]) -> dict[str, str]:
    """Factory id -> its country, of the factories the assessment service registered."""
    if not factory_ids:
        return {}
    rows = await connection.execute(
        select(factory.c.factory_id, factory.c.country).where(factory.c.factory_id.in_(factory_ids))
    )
    return {row.factory_id: row.country for row in rows}


async def reports(
    connection: AsyncConnection, assessment_ids: set[str]
) -> dict[str, tuple[str, date]]:
    """Assessment id -> (its factory, its report date), of the completed assessments."""
    if not assessment_ids:
        return {}
    rows = await connection.execute(
        select(report.c.assessment_id, report.c.factory_id, report.c.report_date).where(
            report.c.assessment_id.in_(assessment_ids)
        )
    )
    return {row.assessment_id: (row.factory_id, row.report_date) for row in rows}


_PAIRS_SQL = text(
    f"""
    SELECT g.factory_id, g.buyer_id FROM "{SCHEMA}".sharing_grant g
    JOIN unnest(CAST(:factories AS text[]), CAST(:buyers AS text[])) AS p(factory_id, buyer_id)
        ON p.factory_id = g.factory_id AND p.buyer_id = g.buyer_id
    """
)


async def granted_pairs(
    connection: AsyncConnection, pairs: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    """The (factory, buyer) pairs among `pairs` with a grant already (their stream exists: a
    pair's stream starts with its first grant)."""
    if not pairs:
        return set()
    ordered = sorted(pairs)
    rows = await connection.execute(
        _PAIRS_SQL,
        {"factories": [pair[0] for pair in ordered], "buyers": [pair[1] for pair in ordered]},
    )
    return {(row.factory_id, row.buyer_id) for row in rows}
