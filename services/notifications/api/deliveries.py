"""Routes of deliveries: the attempt log of an endpoint or a message, and sending again (one
message, or every failed message of an endpoint since a time)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from libs.domain.errors import DomainError, NotFound
from libs.domain.types import ResourceId
from libs.servicekit.http import IdempotencyKey, Int64, Page, Pagination, next_page
from libs.servicekit.service import RunCommand
from services.notifications import queries
from services.notifications.api.common import AdminOrBuyer, Deps, endpoint_or_404, reading, tenant
from services.notifications.commands import Recover, Redeliver
from services.notifications.schemas import (
    AttemptPublic,
    MessagePublic,
    RecoverCreate,
    RecoverReceipt,
    RedeliverCreate,
)

router = APIRouter(prefix="/v1/deliveries", tags=["deliveries"])


@router.get("", response_model=Page[AttemptPublic])
async def list_attempts(
    deps: Deps,
    principal: AdminOrBuyer,
    page: Pagination,
    endpoint_id: Annotated[ResourceId | None, Query()] = None,
    message_id: Annotated[ResourceId | None, Query()] = None,
) -> dict[str, Any]:
    """Every attempt of one endpoint or one message, newest first (a buyer: of the messages it
    may read)."""
    buyer = tenant(principal)
    if endpoint_id is None and message_id is None:
        raise DomainError("name an endpoint_id or a message_id")
    if endpoint_id is not None:
        await endpoint_or_404(deps, endpoint_id, buyer)
    if message_id is not None:
        async with reading(deps) as connection:
            if await queries.message_row(connection, message_id, buyer) is None:
                raise NotFound(f"message {message_id} not found")
    position = page.position(before=Int64)  # attempt ids are a bigserial
    async with reading(deps) as connection:
        rows = await queries.attempts(
            connection,
            endpoint_id=endpoint_id,
            message_id=message_id,
            buyer_id=buyer,
            before=position["before"] if position else None,
            limit=page.limit,
        )
    items, cursor = next_page(rows, page.limit, lambda row: {"before": row["attempt_id"]})
    return {"items": items, "next_cursor": cursor}


@router.post("/redeliver", status_code=202, response_model=MessagePublic)
async def redeliver(
    body: RedeliverCreate,
    principal: AdminOrBuyer,
    run: RunCommand,
    _key: IdempotencyKey = None,
) -> Any:
    """Send one message again, on a fresh retry schedule (a message a buyer may not read, such
    as one of a factory that revoked its grant, is a 404)."""
    change = await run(Redeliver(message_id=body.message_id, caller_buyer_id=tenant(principal)))
    return change.answer


@router.post("/recover", status_code=202, response_model=RecoverReceipt)
async def recover(
    body: RecoverCreate,
    principal: AdminOrBuyer,
    run: RunCommand,
    _key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Send again every failed message of an endpoint created since a time (those a buyer may
    read: of a factory, only while its grant is in force)."""
    command = Recover(
        endpoint_id=body.endpoint_id, caller_buyer_id=tenant(principal), since=body.since
    )
    change = await run(command)
    return {"endpoint_id": body.endpoint_id, "recovering": change.answer}
