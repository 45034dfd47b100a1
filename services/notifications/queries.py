"""Read-side queries of notifications for the API: endpoints, messages and the attempt log, each
limited to one buyer unless the caller is an admin, with cursor positions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notifications.tables import attempt, endpoint, message


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
    query = select(*MESSAGE_COLUMNS, message.c.payload).where(message.c.message_id == message_id)
    if buyer_id is not None:
        query = query.where(message.c.buyer_id == buyer_id)
    return (await connection.execute(query)).mappings().one_or_none()


async def messages(
    connection: AsyncConnection,
    *,
    endpoint_id: str,
    status: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Any]:
    """Newest first."""
    query = (
        select(*MESSAGE_COLUMNS)
        .where(message.c.endpoint_id == endpoint_id)
        .order_by(message.c.created_at.desc(), message.c.message_id.desc())
    )
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
    before: int | None,
    limit: int,
) -> list[Any]:
    """Newest first, of one endpoint or one message."""
    query = select(attempt).order_by(attempt.c.attempt_id.desc())
    if endpoint_id is not None:
        query = query.where(attempt.c.endpoint_id == endpoint_id)
    if message_id is not None:
        query = query.where(attempt.c.message_id == message_id)
    if before is not None:
        query = query.where(attempt.c.attempt_id < before)
    return list((await connection.execute(query.limit(limit + 1))).mappings().all())
