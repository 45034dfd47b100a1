"""FastAPI routers of notifications: authorize the path (admins, or a buyer user for its own
buyer), build a command, run its handler, shape the answer; reads go through `store.reading()`.

Another buyer's endpoint, message or delivery is a 404 (never a 403).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.envelope import event_context
from libs.domain.types import ResourceId
from libs.events.store import EventStore
from libs.servicekit.auth import Principal, Role, require_roles
from libs.servicekit.http import (
    CorrelationId,
    IdempotencyKey,
    IfMatch,
    Page,
    Pagination,
    next_page,
    parse_if_match,
    set_etag,
)
from libs.servicekit.problems import BadRequest
from libs.servicekit.types import PathId
from services.notifications import handlers, queries
from services.notifications.commands import (
    DeleteEndpoint,
    Recover,
    Redeliver,
    RegisterEndpoint,
    RotateSecret,
    SendTestMessage,
    UpdateEndpoint,
)
from services.notifications.errors import DomainError, NotFound
from services.notifications.ids import new_endpoint_id
from services.notifications.schemas import (
    AttemptPublic,
    EndpointCreate,
    EndpointCreated,
    EndpointPublic,
    EndpointUpdate,
    MessageDetail,
    MessagePublic,
    MessageStatus,
    RecoverCreate,
    RecoverReceipt,
    RedeliverCreate,
    RotateCreate,
    SecretRotated,
    TestReceipt,
)

T = TypeVar("T")
AdminOrBuyer = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.BUYER))]


def _deps(request: Request) -> handlers.Dependencies:
    deps: handlers.Dependencies = request.app.state.dependencies
    return deps


@asynccontextmanager
async def _read(request: Request) -> AsyncIterator[AsyncConnection]:
    store: EventStore = request.app.state.runtime.store
    async with store.reading() as connection:
        yield connection


async def _run(principal: Principal, correlation_id: str | None, work: Awaitable[T]) -> T:
    with event_context(correlation_id=correlation_id, actor=principal.subject):
        return await work


def _tenant(principal: Principal) -> str | None:
    """The buyer a buyer user is limited to; None for admins (every buyer)."""
    if principal.role is Role.BUYER:
        if not principal.buyer_id:
            raise NotFound("no buyer")  # a buyer token without its buyer sees nothing
        return principal.buyer_id
    return None


async def _endpoint(request: Request, endpoint_id: str, tenant: str | None) -> Any:
    async with _read(request) as connection:
        row = await queries.endpoint_row(connection, endpoint_id, tenant)
    if row is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return row


# --- webhook endpoints --------------------------------------------------------------------------

endpoints_router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhook-endpoints"])


@endpoints_router.post("", status_code=201, response_model=EndpointCreated)
async def create_endpoint(
    body: EndpointCreate,
    request: Request,
    response: Response,
    principal: AdminOrBuyer,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """Register an endpoint; the answer carries its secret, shown only this once."""
    tenant = _tenant(principal)
    if tenant is not None and body.buyer_id not in (None, tenant):
        raise NotFound(f"buyer {body.buyer_id} not found")
    buyer_id = tenant or body.buyer_id
    if buyer_id is None:
        raise DomainError("admins name the buyer the endpoint is for (buyer_id)")
    command = RegisterEndpoint(
        endpoint_id=new_endpoint_id(),
        buyer_id=buyer_id,
        url=body.url,
        event_types=tuple(body.event_types),
        factory_ids=tuple(body.factory_ids) if body.factory_ids is not None else None,
        description=body.description,
        by=principal.subject,
    )
    change, secret = await _run(
        principal, correlation_id, handlers.register_endpoint(command, _deps(request))
    )
    set_etag(response, change.version)
    # The secret is shown this once: no cache keeps it, nor the Idempotency-Key store.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Location"] = f"/v1/webhook-endpoints/{command.endpoint_id}"
    row = await _endpoint(request, command.endpoint_id, None)
    return {**row, "secret": secret}


@endpoints_router.get("", response_model=Page[EndpointPublic])
async def list_endpoints(
    request: Request,
    principal: AdminOrBuyer,
    page: Pagination,
    buyer_id: Annotated[ResourceId | None, Query(description="Admins: one buyer's.")] = None,
) -> dict[str, Any]:
    """The caller's buyer's endpoints (admins: every buyer's, or one buyer's)."""
    tenant = _tenant(principal) or buyer_id
    position = page.position(endpoint_id=str)
    async with _read(request) as connection:
        rows = await queries.endpoints(
            connection, tenant, position["endpoint_id"] if position else None, page.limit
        )
    items, cursor = next_page(rows, page.limit, lambda row: {"endpoint_id": row["endpoint_id"]})
    return {"items": items, "next_cursor": cursor}


@endpoints_router.get("/{endpoint_id}", response_model=EndpointPublic)
async def get_endpoint(
    endpoint_id: PathId, request: Request, response: Response, principal: AdminOrBuyer
) -> Any:
    """One endpoint (its version in ETag)."""
    row = await _endpoint(request, endpoint_id, _tenant(principal))
    set_etag(response, row["version"])
    return row


@endpoints_router.patch("/{endpoint_id}", response_model=EndpointPublic)
async def update_endpoint(
    endpoint_id: PathId,
    body: EndpointUpdate,
    request: Request,
    response: Response,
    principal: AdminOrBuyer,
    if_match: IfMatch = None,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> Any:
    """Change the URL, event types, factories or description; enable or disable it."""
    tenant = _tenant(principal)
    command = UpdateEndpoint(
        endpoint_id=endpoint_id,
        caller_buyer_id=tenant,
        url=body.url,
        event_types=tuple(body.event_types) if body.event_types is not None else None,
        factory_ids=tuple(body.factory_ids) if body.factory_ids is not None else None,
        factory_ids_given="factory_ids" in body.model_fields_set,
        description=body.description,
        enabled=body.enabled,
        expected_version=parse_if_match(if_match),
        by=principal.subject,
    )
    change = await _run(
        principal, correlation_id, handlers.update_endpoint(command, _deps(request))
    )
    set_etag(response, change.version)
    return await _endpoint(request, endpoint_id, tenant)


@endpoints_router.delete("/{endpoint_id}", status_code=204)
async def delete_endpoint(
    endpoint_id: PathId,
    request: Request,
    principal: AdminOrBuyer,
    if_match: IfMatch = None,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> Response:
    """Delete the endpoint; its pending messages are cancelled."""
    command = DeleteEndpoint(
        endpoint_id=endpoint_id,
        caller_buyer_id=_tenant(principal),
        expected_version=parse_if_match(if_match),
        by=principal.subject,
    )
    await _run(principal, correlation_id, handlers.delete_endpoint(command, _deps(request)))
    return Response(status_code=204)


@endpoints_router.post("/{endpoint_id}/rotate-secret", response_model=SecretRotated)
async def rotate_secret(
    endpoint_id: PathId,
    body: RotateCreate,
    request: Request,
    response: Response,
    principal: AdminOrBuyer,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """A new secret (shown once); the previous one signs beside it until the overlap ends."""
    overlap = body.overlap_seconds
    if overlap is None:
        overlap = request.app.state.settings.rotation_overlap_seconds
    command = RotateSecret(
        endpoint_id=endpoint_id,
        caller_buyer_id=_tenant(principal),
        overlap_seconds=overlap,
        by=principal.subject,
    )
    change, secret, valid_until = await _run(
        principal, correlation_id, handlers.rotate_secret(command, _deps(request))
    )
    set_etag(response, change.version)
    response.headers["Cache-Control"] = "no-store"  # the new secret is shown this once
    response.headers["Location"] = f"/v1/webhook-endpoints/{endpoint_id}"
    event = change.events[-1]
    return {
        "endpoint_id": endpoint_id,
        "secret": secret,
        "secret_fingerprint": getattr(event, "secret_fingerprint", ""),
        "previous_valid_until": valid_until,
    }


@endpoints_router.post("/{endpoint_id}/test", status_code=202, response_model=TestReceipt)
async def send_test(
    endpoint_id: PathId,
    request: Request,
    principal: AdminOrBuyer,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """Queue a test message (type `org.betterwork.notifications.WebhookTest.v1`)."""
    command = SendTestMessage(
        endpoint_id=endpoint_id, caller_buyer_id=_tenant(principal), by=principal.subject
    )
    message_id = await _run(
        principal, correlation_id, handlers.send_test_message(command, _deps(request))
    )
    return {"message_id": message_id}


# --- messages -----------------------------------------------------------------------------------

messages_router = APIRouter(prefix="/v1/messages", tags=["messages"])


@messages_router.get("", response_model=Page[MessagePublic])
async def list_messages(
    request: Request,
    principal: AdminOrBuyer,
    page: Pagination,
    endpoint_id: Annotated[ResourceId, Query(description="The endpoint's messages.")],
    status: Annotated[MessageStatus | None, Query()] = None,
) -> dict[str, Any]:
    """An endpoint's messages, newest first."""
    await _endpoint(request, endpoint_id, _tenant(principal))
    position = page.position(at=str, id=str)
    after = None
    if position is not None:
        try:
            after = (datetime.fromisoformat(position["at"]), position["id"])
        except ValueError:
            raise BadRequest("The cursor is not one this API issued.") from None
    async with _read(request) as connection:
        rows = await queries.messages(
            connection, endpoint_id=endpoint_id, status=status, after=after, limit=page.limit
        )
    items, cursor = next_page(
        rows, page.limit, lambda row: {"at": row["created_at"].isoformat(), "id": row["message_id"]}
    )
    return {"items": items, "next_cursor": cursor}


@messages_router.get("/{message_id}", response_model=MessageDetail)
async def get_message(message_id: PathId, request: Request, principal: AdminOrBuyer) -> Any:
    """One message with the body it carries (null past retention)."""
    async with _read(request) as connection:
        row = await queries.message_row(connection, message_id, _tenant(principal))
    if row is None:
        raise NotFound(f"message {message_id} not found")
    payload = row["payload"]
    return {**row, "payload": json.loads(bytes(payload)) if payload is not None else None}


# --- deliveries ---------------------------------------------------------------------------------

deliveries_router = APIRouter(prefix="/v1/deliveries", tags=["deliveries"])


@deliveries_router.get("", response_model=Page[AttemptPublic])
async def list_attempts(
    request: Request,
    principal: AdminOrBuyer,
    page: Pagination,
    endpoint_id: Annotated[ResourceId | None, Query()] = None,
    message_id: Annotated[ResourceId | None, Query()] = None,
) -> dict[str, Any]:
    """Every attempt of one endpoint or one message, newest first."""
    tenant = _tenant(principal)
    if endpoint_id is None and message_id is None:
        raise DomainError("name an endpoint_id or a message_id")
    if endpoint_id is not None:
        await _endpoint(request, endpoint_id, tenant)
    if message_id is not None:
        async with _read(request) as connection:
            if await queries.message_row(connection, message_id, tenant) is None:
                raise NotFound(f"message {message_id} not found")
    position = page.position(before=int)
    async with _read(request) as connection:
        rows = await queries.attempts(
            connection,
            endpoint_id=endpoint_id,
            message_id=message_id,
            before=position["before"] if position else None,
            limit=page.limit,
        )
    items, cursor = next_page(rows, page.limit, lambda row: {"before": row["attempt_id"]})
    return {"items": items, "next_cursor": cursor}


@deliveries_router.post("/redeliver", status_code=202, response_model=MessagePublic)
async def redeliver(
    body: RedeliverCreate,
    request: Request,
    principal: AdminOrBuyer,
    _key: IdempotencyKey = None,
) -> Any:
    """Send one message again, on a fresh retry schedule."""
    tenant = _tenant(principal)
    await handlers.redeliver(
        Redeliver(message_id=body.message_id, caller_buyer_id=tenant), _deps(request)
    )
    async with _read(request) as connection:
        return await queries.message_row(connection, body.message_id, tenant)


@deliveries_router.post("/recover", status_code=202, response_model=RecoverReceipt)
async def recover(
    body: RecoverCreate,
    request: Request,
    principal: AdminOrBuyer,
    _key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Send again every failed message of an endpoint created since a time."""
    command = Recover(
        endpoint_id=body.endpoint_id, caller_buyer_id=_tenant(principal), since=body.since
    )
    count = await handlers.recover(command, _deps(request))
    return {"endpoint_id": body.endpoint_id, "recovering": count}


ROUTERS = [endpoints_router, messages_router, deliveries_router]
