"""The programme's statistics of audit reliance: per calendar year and factory country, buyers
participating and relying, factories covered, audits avoided."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.buyer_sharing.tables import SCHEMA

Row = dict[str, Any]

_INTERVALS_SQL = text(
    f"""
    SELECT h.factory_id, h.buyer_id, h.action, h.at, h.ends_on,
        lead(h.at) OVER (PARTITION BY h.factory_id, h.buyer_id ORDER BY h.version) AS next_at,
        f.country
    FROM "{SCHEMA}".sharing_history h
    LEFT JOIN "{SCHEMA}".factory f ON f.factory_id = h.factory_id
    """
)
_RELIANCE_SQL = text(
    f"""
    SELECT r.factory_id, r.buyer_id, r.period_start, r.period_end, r.withdrawn_at, f.country
    FROM "{SCHEMA}".audit_reliance r
    LEFT JOIN "{SCHEMA}".factory f ON f.factory_id = r.factory_id
    """
)


async def statistics(
    connection: AsyncConnection,
    *,
    today: date,
    year: int | None,
    country: str | None,
    countries: frozenset[str] | None = None,
) -> list[Row]:
    """Per calendar year and factory country: buyers with at least one grant in force during the
    year, buyers relying, factories covered by a grant, and audits avoided (one per factory,
    buyer and year covered by a reliance declaration not withdrawn before the year). A
    declaration counts only in the years its factory shared with its buyer: a period reaching
    back before the grant avoids no audit there, so relying buyers are always participating.
    Grants and periods count up to `today` at most: an end date years ahead counts no year that
    has not begun. `countries`: a staff caller's country programmes (rows of other or unknown
    countries left out)."""
    participating: dict[tuple[int, str], set[str]] = {}
    covered: dict[tuple[int, str], set[str]] = {}
    shared_years: set[tuple[int, str, str]] = set()
    for row in await connection.execute(_INTERVALS_SQL):
        if row.action != "granted":
            continue
        start = row.at.date()
        # the grant's last day: its revocation or new grant, its end date, and never after today
        ends = [d for d in (row.next_at.date() if row.next_at else None, row.ends_on) if d]
        end = min([*ends, today])
        for y in range(start.year, max(start.year, end.year) + 1):
            key = (y, row.country or "")
            participating.setdefault(key, set()).add(row.buyer_id)
            covered.setdefault(key, set()).add(row.factory_id)
            shared_years.add((y, row.factory_id, row.buyer_id))
    relying: dict[tuple[int, str], set[str]] = {}
    avoided: dict[tuple[int, str], set[tuple[str, str]]] = {}
    for row in await connection.execute(_RELIANCE_SQL):
        # a period's last day counted: its end, its withdrawal, and never after today
        last = min(row.period_end, today)
        if row.withdrawn_at is not None:
            last = min(last, row.withdrawn_at.date())
        for y in range(row.period_start.year, last.year + 1):
            if last < row.period_start:
                break
            if (y, row.factory_id, row.buyer_id) not in shared_years:
                continue
            key = (y, row.country or "")
            relying.setdefault(key, set()).add(row.buyer_id)
            avoided.setdefault(key, set()).add((row.factory_id, row.buyer_id))
    keys = sorted(set(participating) | set(relying))
    return [
        {
            "year": y,
            "country": c or None,
            "buyers_participating": len(participating.get((y, c), ())),
            "buyers_relying": len(relying.get((y, c), ())),
            "factories_covered": len(covered.get((y, c), ())),
            "audits_avoided": len(avoided.get((y, c), ())),
        }
        for y, c in keys
        if (year is None or y == year)
        and (country is None or c == country)
        and (countries is None or c in countries)
    ]
