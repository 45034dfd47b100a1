"""Buyers: registration and lookup (admins; a buyer's own users see their buyer)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from libs.domain.errors import NotFound
from libs.servicekit.http import (
    CorrelationId,
    IdempotencyKey,
    Page,
    Pagination,
    next_page,
    set_etag,
)
from libs.servicekit.service import RunCommand, run_as
from libs.servicekit.types import PathId
from services.buyer_sharing.api.common import (
    Admin,
    AdminOrBuyer,
    Deps,
    answer_of,
    own_buyer,
)
from services.buyer_sharing.commands import RegisterBuyer
from services.buyer_sharing.ids import new_id
from services.buyer_sharing.queries import consent
from services.buyer_sharing.schemas import BuyerCreate, BuyerPublic

router = APIRouter(prefix="/v1/buyers", tags=["buyers"])


@router.post("", status_code=201, response_model=BuyerPublic)
async def register_buyer(
    body: BuyerCreate,
    response: Response,
    principal: Admin,
    run: RunCommand,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """Register a buyer (admins)."""
    command = RegisterBuyer(
        buyer_id=body.buyer_id or new_id("buyer"),
        name=body.name,
        country=body.country,
        contact_name=body.contact_name,
        contact_email=body.contact_email,
        by=principal.subject,
    )
    change = await run_as(run, principal, correlation_id, command)
    set_etag(response, change.version)
    return answer_of(change)


@router.get("", response_model=Page[BuyerPublic])
async def list_buyers(deps: Deps, principal: Admin, page: Pagination) -> dict[str, Any]:
    """Every buyer (admins)."""
    position = page.position(buyer_id=str)
    async with deps.store.reading() as connection:
        rows = await consent.buyers(
            connection, position["buyer_id"] if position else None, page.limit
        )
    items, cursor = next_page(rows, page.limit, lambda row: {"buyer_id": row["buyer_id"]})
    return {"items": items, "next_cursor": cursor}


@router.get("/{buyer_id}", response_model=BuyerPublic)
async def get_buyer(
    buyer_id: PathId, deps: Deps, response: Response, principal: AdminOrBuyer
) -> dict[str, Any]:
    """A buyer (admins, or the buyer's own users)."""
    own_buyer(principal, buyer_id)
    async with deps.store.reading() as connection:
        row = await consent.buyer_row(connection, buyer_id)
    if row is None:
        raise NotFound(f"buyer {buyer_id} not found")
    set_etag(response, row["version"])
    return row
