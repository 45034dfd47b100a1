"""Access requests: a buyer asks a factory for access (by factory id or OS ID, answered the same
whether or not the factory exists), and the factory approves (a grant) or declines."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from libs.domain.errors import NotFound
from libs.servicekit.auth import Principal, Role
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
    BuyerUser,
    Deps,
    FactoryUser,
    Party,
    answer_of,
    staff_countries,
)
from services.buyer_sharing.commands import (
    ApproveAccessRequest,
    DeclineAccessRequest,
    RequestAccess,
)
from services.buyer_sharing.dependencies import Dependencies
from services.buyer_sharing.ids import new_id
from services.buyer_sharing.queries import consent
from services.buyer_sharing.schemas import (
    AccessRequestCreate,
    AccessRequestPublic,
    AccessRequestReceipt,
    ApproveCreate,
    DeclineCreate,
    GrantPublic,
    normalise_os_id,
)

router = APIRouter(prefix="/v1/access-requests", tags=["access-requests"])


def _receipt(row: dict[str, Any], named_factory_id: str | None) -> dict[str, Any]:
    return {
        "request_id": row["request_id"],
        "status": row["status"],
        "factory_id": named_factory_id,
        "os_id": row["os_id"],
        "requested_at": row["requested_at"],
    }


@router.post("", status_code=202, response_model=AccessRequestReceipt)
async def request_access(
    body: AccessRequestCreate,
    principal: BuyerUser,
    run: RunCommand,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """Ask a factory for access; the answer is the same whether or not the factory exists."""
    assert principal.buyer_id is not None
    command = RequestAccess(
        request_id=new_id("req"),
        buyer_id=principal.buyer_id,
        factory_id=body.factory_id,
        os_id=normalise_os_id(body.os_id) if body.os_id is not None else None,
        message=body.message,
        by=principal.subject,
    )
    change = await run_as(run, principal, correlation_id, command)
    return _receipt(answer_of(change), body.factory_id)


def as_the_buyer_sees(row: dict[str, Any]) -> dict[str, Any]:
    """A request as the buyer that made it reads it, on every read: never who at the factory
    decided; and for one it made by OS ID, neither the factory the OS ID resolved to nor the
    decision's reason (it can name the factory): what the buyer named, and the outcome."""
    hidden: dict[str, Any] = {"decided_by": None}
    if row["os_id"]:
        hidden.update(factory_id=None, decision_reason=None)
    return {**row, **hidden}


RequestStatus = Annotated[Literal["pending", "approved", "declined"] | None, Query()]


@router.get("", response_model=Page[AccessRequestPublic])
async def list_access_requests(
    deps: Deps, principal: Party, page: Pagination, status: RequestStatus = None
) -> dict[str, Any]:
    """A buyer's own requests, or those addressed to a factory user's factory (by id or OS ID)."""
    position = page.position(request_id=str)
    after = position["request_id"] if position else None
    async with deps.store.reading() as connection:
        rows = await consent.access_requests(
            connection,
            buyer_id=principal.buyer_id if principal.role is Role.BUYER else None,
            factory_id=principal.factory_id if principal.role is Role.FACTORY else None,
            status=status,
            after=after,
            limit=page.limit,
            countries=staff_countries(principal),
        )
    items, cursor = next_page(rows, page.limit, lambda row: {"request_id": row["request_id"]})
    if principal.role is Role.BUYER:
        items = [as_the_buyer_sees(row) for row in items]
    return {"items": items, "next_cursor": cursor}


async def _visible_request(
    deps: Dependencies, principal: Principal, request_id: str
) -> dict[str, Any]:
    async with deps.store.reading() as connection:
        row = await consent.access_request_row(connection, request_id)
        os_id = (
            await consent.factory_os_id(connection, principal.factory_id)
            if principal.factory_id
            else None
        )
        country = await consent.request_country(connection, row) if row is not None else None
    visible = row is not None and (
        (principal.role is Role.ADMIN and principal.works_in(country))
        or (principal.role is Role.BUYER and row["buyer_id"] == principal.buyer_id)
        or (
            principal.role is Role.FACTORY
            and (
                row["factory_id"] == principal.factory_id
                or (row["factory_id"] is None and os_id is not None and row["os_id"] == os_id)
            )
        )
    )
    if not visible or row is None:
        raise NotFound(f"access request {request_id} not found")
    return as_the_buyer_sees(row) if principal.role is Role.BUYER else row


@router.get("/{request_id}", response_model=AccessRequestPublic)
async def get_access_request(request_id: PathId, deps: Deps, principal: Party) -> dict[str, Any]:
    """One request (the buyer that made it, the factory it is addressed to, admins)."""
    return await _visible_request(deps, principal, request_id)


@router.post("/{request_id}/approve", response_model=GrantPublic)
async def approve_access_request(
    request_id: PathId,
    body: ApproveCreate,
    response: Response,
    principal: FactoryUser,
    run: RunCommand,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """Approve: the buyer gets access (a grant naming this request)."""
    assert principal.factory_id is not None
    command = ApproveAccessRequest(
        request_id=request_id,
        factory_id=principal.factory_id,
        ends_on=body.ends_on,
        reason=body.reason,
        by=principal.subject,
    )
    change = await run_as(run, principal, correlation_id, command)
    set_etag(response, change.version)
    return answer_of(change)


@router.post("/{request_id}/decline", response_model=AccessRequestPublic)
async def decline_access_request(
    request_id: PathId,
    body: DeclineCreate,
    principal: FactoryUser,
    run: RunCommand,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """Decline, with a reason the buyer will see."""
    assert principal.factory_id is not None
    command = DeclineAccessRequest(
        request_id=request_id,
        factory_id=principal.factory_id,
        reason=body.reason,
        by=principal.subject,
    )
    # the factory it is addressed to sees it whole (only a buyer's view hides the resolution)
    return answer_of(await run_as(run, principal, correlation_id, command))
