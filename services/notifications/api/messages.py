"""Routes of the messages queued for an endpoint: an endpoint's messages, newest first, and one
message with the body it carries."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from libs.domain.errors import NotFound
from libs.domain.types import ResourceId
from libs.servicekit.http import Page, Pagination, next_page
from libs.servicekit.types import PathId
from services.notifications import queries
from services.notifications.api.common import AdminOrBuyer, Deps, endpoint_or_404, reading, tenant
from services.notifications.schemas import MessageDetail, MessagePublic, MessageStatus

router = APIRouter(prefix="/v1/messages", tags=["messages"])


@router.get("", response_model=Page[MessagePublic])
async def list_messages(
    deps: Deps,
    principal: AdminOrBuyer,
    page: Pagination,
    endpoint_id: Annotated[ResourceId, Query(description="The endpoint's messages.")],
    status: Annotated[MessageStatus | None, Query()] = None,
) -> dict[str, Any]:
    """An endpoint's messages, newest first (a buyer: those it may read, see `/v1/messages/{id}`)."""
    buyer = tenant(principal)
    await endpoint_or_404(deps, endpoint_id, buyer)
    # range-checked: a time in 2000-2100 (in UTC), an id of at most 200 characters
    position = page.position(at=datetime, id=str)
    after = (position["at"], position["id"]) if position is not None else None
    async with reading(deps) as connection:
        rows = await queries.messages(
            connection,
            endpoint_id=endpoint_id,
            buyer_id=buyer,
            status=status,
            after=after,
            limit=page.limit,
        )
    items, cursor = next_page(
        rows, page.limit, lambda row: {"at": row["created_at"].isoformat(), "id": row["message_id"]}
    )
    return {"items": items, "next_cursor": cursor}


@router.get("/{message_id}", response_model=MessageDetail)
async def get_message(message_id: PathId, deps: Deps, principal: AdminOrBuyer) -> Any:
    """One message with the body it carries (null past retention). A buyer reads a message about
    a factory's data only while the factory's grant to it is in force: after a revocation it is
    a 404, whether it was delivered or not."""
    async with reading(deps) as connection:
        row = await queries.message_row(connection, message_id, tenant(principal))
    if row is None:
        raise NotFound(f"message {message_id} not found")
    payload = row["payload"]
    return {**row, "payload": json.loads(bytes(payload)) if payload is not None else None}
