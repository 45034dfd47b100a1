"""Routes of a buyer's webhook endpoints: register (the secret shown once), list, read, change,
delete, rotate the secret (the new one shown once), and queue a test message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from libs.domain.errors import DomainError, NotFound
from libs.domain.types import ResourceId
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
from libs.servicekit.service import RunCommand, run_as
from libs.servicekit.types import PathId
from services.notifications import queries
from services.notifications.api.common import (
    AdminOrBuyer,
    Deps,
    endpoint_or_404,
    reading,
    tenant,
)
from services.notifications.commands import (
    DeleteEndpoint,
    RegisterEndpoint,
    RotateSecret,
    SendTestMessage,
    UpdateEndpoint,
)
from services.notifications.handlers import EndpointAnswer, NewSecret
from services.notifications.ids import new_endpoint_id
from services.notifications.schemas import (
    EndpointCreate,
    EndpointCreated,
    EndpointPublic,
    EndpointUpdate,
    RotateCreate,
    SecretRotated,
    TestReceipt,
)

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhook-endpoints"])


def _endpoint(answer: EndpointAnswer, endpoint_id: str) -> Mapping[str, Any]:
    if answer.endpoint is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return answer.endpoint


def _secret(answer: EndpointAnswer) -> NewSecret:
    assert answer.secret is not None, "the command made a secret"
    return answer.secret


@router.post("", status_code=201, response_model=EndpointCreated)
async def create_endpoint(
    body: EndpointCreate,
    response: Response,
    principal: AdminOrBuyer,
    run: RunCommand,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """Register an endpoint (a buyer has at most `BW_WEBHOOK_MAX_ENDPOINTS_PER_BUYER`, 20:
    beyond it a 409 `endpoint-limit-reached`); the answer carries its secret, shown only this
    once. A URL that cannot be parsed is a 422 `invalid-url`, one webhooks may not reach a 422
    `unsafe-url`; the URL is kept with its host IDNA-encoded."""
    buyer = tenant(principal)
    if buyer is not None and body.buyer_id not in (None, buyer):
        raise NotFound(f"buyer {body.buyer_id} not found")
    buyer_id = buyer or body.buyer_id
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
    change = await run_as(run, principal, correlation_id, command)
    answer: EndpointAnswer = change.answer
    set_etag(response, change.version)
    # The secret is shown this once: no cache keeps it, nor the Idempotency-Key store.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Location"] = f"/v1/webhook-endpoints/{command.endpoint_id}"
    secret = answer.secret.value if answer.secret is not None else None
    return {**_endpoint(answer, command.endpoint_id), "secret": secret}


@router.get("", response_model=Page[EndpointPublic])
async def list_endpoints(
    deps: Deps,
    principal: AdminOrBuyer,
    page: Pagination,
    buyer_id: Annotated[ResourceId | None, Query(description="Admins: one buyer's.")] = None,
) -> dict[str, Any]:
    """The caller's buyer's endpoints (admins: every buyer's, or one buyer's)."""
    buyer = tenant(principal) or buyer_id
    position = page.position(endpoint_id=str)
    async with reading(deps) as connection:
        rows = await queries.endpoints(
            connection, buyer, position["endpoint_id"] if position else None, page.limit
        )
    items, cursor = next_page(rows, page.limit, lambda row: {"endpoint_id": row["endpoint_id"]})
    return {"items": items, "next_cursor": cursor}


@router.get("/{endpoint_id}", response_model=EndpointPublic)
async def get_endpoint(
    endpoint_id: PathId, deps: Deps, response: Response, principal: AdminOrBuyer
) -> Any:
    """One endpoint (its version in ETag)."""
    row = await endpoint_or_404(deps, endpoint_id, tenant(principal))
    set_etag(response, row["version"])
    return row


@router.patch("/{endpoint_id}", response_model=EndpointPublic)
async def update_endpoint(
    endpoint_id: PathId,
    body: EndpointUpdate,
    response: Response,
    principal: AdminOrBuyer,
    run: RunCommand,
    if_match: IfMatch = None,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> Any:
    """Change the URL, event types, factories or description; enable or disable it."""
    command = UpdateEndpoint(
        endpoint_id=endpoint_id,
        caller_buyer_id=tenant(principal),
        url=body.url,
        event_types=tuple(body.event_types) if body.event_types is not None else None,
        factory_ids=tuple(body.factory_ids) if body.factory_ids is not None else None,
        factory_ids_given="factory_ids" in body.model_fields_set,
        description=body.description,
        enabled=body.enabled,
        expected_version=parse_if_match(if_match),
        by=principal.subject,
    )
    change = await run_as(run, principal, correlation_id, command)
    set_etag(response, change.version)
    return _endpoint(change.answer, endpoint_id)


@router.delete("/{endpoint_id}", status_code=204)
async def delete_endpoint(
    endpoint_id: PathId,
    principal: AdminOrBuyer,
    run: RunCommand,
    if_match: IfMatch = None,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> Response:
    """Delete the endpoint; its pending messages are cancelled."""
    command = DeleteEndpoint(
        endpoint_id=endpoint_id,
        caller_buyer_id=tenant(principal),
        expected_version=parse_if_match(if_match),
        by=principal.subject,
    )
    await run_as(run, principal, correlation_id, command)
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate-secret", response_model=SecretRotated)
async def rotate_secret(
    endpoint_id: PathId,
    body: RotateCreate,
    response: Response,
    principal: AdminOrBuyer,
    run: RunCommand,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """A new secret (shown once); the previous one signs beside it until the overlap ends."""
    command = RotateSecret(
        endpoint_id=endpoint_id,
        caller_buyer_id=tenant(principal),
        overlap_seconds=body.overlap_seconds,
        by=principal.subject,
    )
    change = await run_as(run, principal, correlation_id, command)
    secret = _secret(change.answer)
    set_etag(response, change.version)
    response.headers["Cache-Control"] = "no-store"  # the new secret is shown this once
    response.headers["Location"] = f"/v1/webhook-endpoints/{endpoint_id}"
    return {
        "endpoint_id": endpoint_id,
        "secret": secret.value,
        "secret_fingerprint": secret.fingerprint,
        "previous_valid_until": secret.previous_valid_until,
    }


@router.post("/{endpoint_id}/test", status_code=202, response_model=TestReceipt)
async def send_test(
    endpoint_id: PathId,
    principal: AdminOrBuyer,
    run: RunCommand,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """Queue a test message (type `org.betterwork.notifications.WebhookTest.v1`)."""
    command = SendTestMessage(
        endpoint_id=endpoint_id, caller_buyer_id=tenant(principal), by=principal.subject
    )
    change = await run_as(run, principal, correlation_id, command)
    return {"message_id": change.answer}
