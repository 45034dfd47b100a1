"""Read-side queries of notifications for the API: endpoints, messages and the attempt log, each
limited to one buyer unless the caller is an admin, with cursor positions. What a buyer reads of
the message log passes one rule, `readable_by`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notifications.tables import SCHEMA, attempt, endpoint, message


def readable_by(buyer_id: str) -> ColumnElement[bool]:
    """The messages a buyer may read (and have sent again): its own, and of those about a
    factory's data only while the factory's grant to it is in force now. The rule itself is the
    SQL function `buyer_may_read` (migration 0003), which the dispatcher and the redelivery and
    recovery commands call too."""
    rule = getattr(func, SCHEMA).buyer_may_read
    return and_(
        message.c.buyer_id == buyer_id,
        rule(message.c.gated, message.c.factory_id, message.c.buyer_id),
    )


async def endpoint_row(connection: AsyncConnection, endpoint_id: str, buyer_id: str | None) -> Any:
    query = select(endpoint).where(endpoint.c.endpoint_id == endpoint_id, ~endpoint.c.deleted)
    if buyer_id is not None:
        query = query.where(endpoint.c.buyer_id == buyer_id)
    return (await connection.execute(query)).mappings().one_or_none()


async def endpoints(
    connection: AsyncConnection, buyer_id: str | None, after: str | None, limit: int
) -> list[Any]:
    query = select(endpoint).where(~endpoint.c.deleted).order_by(endpoint.c.endpoint_id)
    if buyer_id is not None:
        query = query.where(endpoint.c.buyer_id == buyer_id)
    if after is not None:
        query = query.where(endpoint.c.endpoint_id > after)
    return list((await connection.execute(query.limit(limit + 1))).mappings().all())


MESSAGE_COLUMNS = [column for column in message.c if column.name != "payload"]


async def message_row(connection: AsyncConnection, message_id: str, buyer_id: str | None) -> Any:
    """The message with its payload; for a buyer (`buyer_id`), only one it may read."""
    query = select(*MESSAGE_COLUMNS, message.c.payload).where(message.c.message_id == message_id)
    if buyer_id is not None:
        query = query.where(readable_by(buyer_id))
    return (await connection.execute(query)).mappings().one_or_none()


async def messages(
    connection: AsyncConnection,
    *,
    endpoint_id: str,
    buyer_id: str | None,
    status: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Any]:
    """Newest first; for a buyer, those it may read."""
    query = (
        select(*MESSAGE_COLUMNS)
        .where(message.c.endpoint_id == endpoint_id)
        .order_by(message.c.created_at.desc(), message.c.message_id.desc())
    )
    if buyer_id is not None:
        query = query.where(readable_by(buyer_id))
    if status is not None:
        query = query.where(message.c.status == status)
    if after is not None:
        at, last = after
        query = query.where(
            or_(
                message.c.created_at < at,
                and_(message.c.created_at == at, message.c.message_id < last),
            )
        )
    return list((await connection.execute(query.limit(limit + 1))).mappings().all())


async def attempts(
    connection: AsyncConnection,
    *,
    endpoint_id: str | None,
    message_id: str | None,
    buyer_id: str | None,
    before: int | None,
    limit: int,
) -> list[Any]:
    """Newest first, of one endpoint or one message; for a buyer, the attempts of the messages
    it may read."""
    query = select(attempt).order_by(attempt.c.attempt_id.desc())
    if buyer_id is not None:
        query = query.join(message, message.c.message_id == attempt.c.message_id).where(
            readable_by(buyer_id)
        )
    if endpoint_id is not None:
        query = query.where(attempt.c.endpoint_id == endpoint_id)
    if message_id is not None:
        query = query.where(attempt.c.message_id == message_id)
    if before is not None:
        query = query.where(attempt.c.attempt_id < before)
    return list((await connection.execute(query.limit(limit + 1))).mappings().all())
