"""Read-side queries of consent: buyers, sharing grants and their history, access requests and
audit-reliance declarations, on the connection `store.reading()` gives (or a command's own).

Every buyer-facing read checks consent on this service's own grant rows, projected in the
command's transaction: the first request after a revocation committed sees no grant, whatever
the consumers are doing.

Lists take `countries`, the country programmes a staff caller works for (None: no limit): a
factory's country is the one the assessment service registered it with (`factory`); a factory of
unknown country is in no programme's list (only the headquarters' sees it).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.buyer_sharing.tables import (
    SCHEMA,
    access_request,
    audit_reliance,
    buyer,
    factory,
    sharing_grant,
    sharing_history,
)

Row = dict[str, Any]


Countries = frozenset[str] | None


def in_countries(factory_id: Any, countries: frozenset[str]) -> Any:
    """`factory_id` names a factory registered in one of `countries`."""
    return factory_id.in_(
        select(factory.c.factory_id).where(factory.c.country.in_(sorted(countries)))
    )


async def factory_country(connection: AsyncConnection, factory_id: str) -> str | None:
    """The country the factory is registered in; None while unknown here."""
    found: str | None = await connection.scalar(
        select(factory.c.country).where(factory.c.factory_id == factory_id)
    )
    return found


async def request_country(connection: AsyncConnection, row: Row) -> str | None:
    """An access request's country: its factory's, or, for one by an OS ID no known factory has,
    the OS ID's country code (its first two characters)."""
    if row["factory_id"] is not None:
        return await factory_country(connection, row["factory_id"])
    os_id: str | None = row["os_id"]
    return os_id[:2] if os_id else None


def buyer_may_read(grant: str) -> str:
    """The one rule for what a buyer may read, as SQL on the `sharing_grant` row aliased `grant`
    (`:today` bound to the service's date): the factory granted it access, has not revoked it, and
    the grant's end date, if any, is not past. Every buyer-facing read applies it in the statement
    or on the connection that reads the factory's data (the portfolio and its CSV, one factory,
    its reports)."""
    return f"({grant}.active AND ({grant}.ends_on IS NULL OR {grant}.ends_on >= :today))"


_GRANT_IN_FORCE = text(
    f"""SELECT true FROM "{SCHEMA}".sharing_grant g
    WHERE g.factory_id = :factory_id AND g.buyer_id = :buyer_id AND {buyer_may_read("g")}"""
)


async def buyer_row(connection: AsyncConnection, buyer_id: str) -> Row | None:
    row = (await connection.execute(select(buyer).where(buyer.c.buyer_id == buyer_id))).first()
    return row._asdict() if row is not None else None


async def buyers(connection: AsyncConnection, after: str | None, limit: int) -> list[Row]:
    query = select(buyer).order_by(buyer.c.buyer_id).limit(limit + 1)
    if after is not None:
        query = query.where(buyer.c.buyer_id > after)
    return [row._asdict() for row in await connection.execute(query)]


async def grant_in_force(
    connection: AsyncConnection, factory_id: str, buyer_id: str, today: date
) -> bool:
    found = await connection.scalar(
        _GRANT_IN_FORCE, {"factory_id": factory_id, "buyer_id": buyer_id, "today": today}
    )
    return bool(found)


async def grant(connection: AsyncConnection, factory_id: str, buyer_id: str) -> Row | None:
    row = (
        await connection.execute(
            select(sharing_grant).where(
                sharing_grant.c.factory_id == factory_id, sharing_grant.c.buyer_id == buyer_id
            )
        )
    ).first()
    return row._asdict() if row is not None else None


async def grants(
    connection: AsyncConnection,
    *,
    factory_id: str | None,
    buyer_id: str | None,
    active: bool | None,
    after: tuple[str, str] | None,
    limit: int,
    countries: Countries = None,
) -> list[Row]:
    query = (
        select(sharing_grant)
        .order_by(sharing_grant.c.factory_id, sharing_grant.c.buyer_id)
        .limit(limit + 1)
    )
    if factory_id is not None:
        query = query.where(sharing_grant.c.factory_id == factory_id)
    if buyer_id is not None:
        query = query.where(sharing_grant.c.buyer_id == buyer_id)
    if active is not None:
        query = query.where(sharing_grant.c.active == active)
    if countries is not None:
        query = query.where(in_countries(sharing_grant.c.factory_id, countries))
    if after is not None:
        query = query.where(
            (sharing_grant.c.factory_id, sharing_grant.c.buyer_id) > after  # type: ignore[operator]
        )
    return [row._asdict() for row in await connection.execute(query)]


async def grant_history(connection: AsyncConnection, factory_id: str, buyer_id: str) -> list[Row]:
    query = (
        select(sharing_history)
        .where(sharing_history.c.factory_id == factory_id, sharing_history.c.buyer_id == buyer_id)
        .order_by(sharing_history.c.version)
    )
    return [row._asdict() for row in await connection.execute(query)]


async def factory_os_id(connection: AsyncConnection, factory_id: str) -> str | None:
    found: str | None = await connection.scalar(
        select(factory.c.os_id).where(factory.c.factory_id == factory_id)
    )
    return found


def _addressed_to(factory_id: str, os_id: str | None) -> Any:
    by_id = access_request.c.factory_id == factory_id
    if os_id is None:
        return by_id
    return or_(by_id, and_(access_request.c.factory_id.is_(None), access_request.c.os_id == os_id))


async def access_request_row(connection: AsyncConnection, request_id: str) -> Row | None:
    row = (
        await connection.execute(
            select(access_request).where(access_request.c.request_id == request_id)
        )
    ).first()
    return row._asdict() if row is not None else None


async def access_requests(
    connection: AsyncConnection,
    *,
    buyer_id: str | None = None,
    factory_id: str | None = None,
    status: str | None = None,
    after: str | None = None,
    limit: int = 50,
    countries: Countries = None,
) -> list[Row]:
    query = select(access_request).order_by(access_request.c.request_id).limit(limit + 1)
    if countries is not None:
        query = query.where(
            or_(
                in_countries(access_request.c.factory_id, countries),
                and_(
                    access_request.c.factory_id.is_(None),
                    func.substr(access_request.c.os_id, 1, 2).in_(sorted(countries)),
                ),
            )
        )
    if buyer_id is not None:
        query = query.where(access_request.c.buyer_id == buyer_id)
    if factory_id is not None:
        query = query.where(_addressed_to(factory_id, await factory_os_id(connection, factory_id)))
    if status is not None:
        query = query.where(access_request.c.status == status)
    if after is not None:
        query = query.where(access_request.c.request_id > after)
    return [row._asdict() for row in await connection.execute(query)]


async def reliances(
    connection: AsyncConnection,
    *,
    buyer_id: str | None,
    after: str | None,
    limit: int,
    countries: Countries = None,
) -> list[Row]:
    query = select(audit_reliance).order_by(audit_reliance.c.reliance_id).limit(limit + 1)
    if countries is not None:
        query = query.where(in_countries(audit_reliance.c.factory_id, countries))
    if buyer_id is not None:
        query = query.where(audit_reliance.c.buyer_id == buyer_id)
    if after is not None:
        query = query.where(audit_reliance.c.reliance_id > after)
    return [row._asdict() for row in await connection.execute(query)]


async def reliance(connection: AsyncConnection, reliance_id: str) -> Row | None:
    row = (
        await connection.execute(
            select(audit_reliance).where(audit_reliance.c.reliance_id == reliance_id)
        )
    ).first()
    return row._asdict() if row is not None else None
