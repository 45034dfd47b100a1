"""Sharing grants: a factory's consent to a buyer, granted (again), revoked at once, listed and
with its history; a factory user acts for its own factory, admins name it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from libs.domain.errors import NotFound
from libs.servicekit.auth import Principal, Role
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
from libs.servicekit.problems import ProblemError
from libs.servicekit.service import RunCommand, run_as
from libs.servicekit.types import PathId
from services.buyer_sharing.api.common import (
    AdminOrFactory,
    Deps,
    Party,
    answer_of,
    require_programme,
    staff_countries,
    within_programme,
)
from services.buyer_sharing.commands import GrantSharing, RevokeSharing
from services.buyer_sharing.queries import consent
from services.buyer_sharing.schemas import GrantCreate, GrantHistoryEntry, GrantPublic, RevokeCreate

router = APIRouter(prefix="/v1/sharing-grants", tags=["sharing-grants"])


def _grant_factory(principal: Principal, factory_id: str | None) -> str:
    """The factory a grant is about: a factory user's own; an admin must name it."""
    if principal.role is Role.FACTORY:
        if factory_id is not None and factory_id != principal.factory_id:
            raise NotFound(f"factory {factory_id} not found")
        assert principal.factory_id is not None  # the token checks guarantee it
        return principal.factory_id
    if factory_id is None:
        raise ProblemError(
            "An admin must name the factory.", status=422, type_slug="factory-id-required"
        )
    return factory_id


@router.post("", status_code=201, response_model=GrantPublic)
async def grant_sharing(
    body: GrantCreate,
    response: Response,
    deps: Deps,
    principal: AdminOrFactory,
    run: RunCommand,
    _key: IdempotencyKey = None,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """Share the factory's reports with a buyer (its factory users, or admins); `If-Match` with
    the pair's ETag re-grants only if nothing changed since it was read. Granting again with an
    earlier end date withdraws the buyer's audit-reliance declarations whose period runs past it.
    An admin of a country programme grants only for its country's factories."""
    factory_id = _grant_factory(principal, body.factory_id)
    await require_programme(deps, principal, factory_id)
    command = GrantSharing(
        factory_id=factory_id,
        buyer_id=body.buyer_id,
        ends_on=body.ends_on,
        reason=body.reason,
        by=principal.subject,
        expected_version=parse_if_match(if_match),
    )
    change = await run_as(run, principal, correlation_id, command)
    set_etag(response, change.version)
    return answer_of(change)


@router.get("", response_model=Page[GrantPublic])
async def list_grants(
    deps: Deps,
    principal: Party,
    page: Pagination,
    active: bool | None = None,
    factory_id: Annotated[
        str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    ] = None,
    buyer_id: Annotated[
        str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    ] = None,
) -> dict[str, Any]:
    """Grants: a factory user sees its own factory's, a buyer user its own buyer's, admins all."""
    if principal.role is Role.FACTORY:
        factory_id = principal.factory_id
    elif principal.role is Role.BUYER:
        buyer_id = principal.buyer_id
    position = page.position(factory_id=str, buyer_id=str)
    async with deps.store.reading() as connection:
        rows = await consent.grants(
            connection,
            factory_id=factory_id,
            buyer_id=buyer_id,
            active=active,
            after=(position["factory_id"], position["buyer_id"]) if position else None,
            limit=page.limit,
            countries=staff_countries(principal),
        )
    items, cursor = next_page(
        rows, page.limit, lambda row: {"factory_id": row["factory_id"], "buyer_id": row["buyer_id"]}
    )
    return {"items": items, "next_cursor": cursor}


def _may_see_grant(principal: Principal, factory_id: str, buyer_id: str) -> None:
    if (principal.role is Role.FACTORY and principal.factory_id != factory_id) or (
        principal.role is Role.BUYER and principal.buyer_id != buyer_id
    ):
        raise NotFound("sharing grant not found")


@router.get("/{factory_id}/{buyer_id}", response_model=GrantPublic)
async def get_grant(
    factory_id: PathId, buyer_id: PathId, deps: Deps, response: Response, principal: Party
) -> dict[str, Any]:
    """One grant (its factory, its buyer, or admins)."""
    _may_see_grant(principal, factory_id, buyer_id)
    async with deps.store.reading() as connection:
        await within_programme(connection, principal, factory_id)
        row = await consent.grant(connection, factory_id, buyer_id)
    if row is None:
        raise NotFound("sharing grant not found")
    set_etag(response, row["version"])
    return row


@router.get("/{factory_id}/{buyer_id}/history", response_model=list[GrantHistoryEntry])
async def grant_history(
    factory_id: PathId, buyer_id: PathId, deps: Deps, principal: Party
) -> list[dict[str, Any]]:
    """Every grant and revocation of this pair: who, when, why."""
    _may_see_grant(principal, factory_id, buyer_id)
    async with deps.store.reading() as connection:
        await within_programme(connection, principal, factory_id)
        rows = await consent.grant_history(connection, factory_id, buyer_id)
    if not rows:
        raise NotFound("sharing grant not found")
    return rows


@router.post("/{factory_id}/{buyer_id}/revoke", response_model=GrantPublic)
async def revoke_grant(
    factory_id: PathId,
    buyer_id: PathId,
    body: RevokeCreate,
    response: Response,
    deps: Deps,
    principal: AdminOrFactory,
    run: RunCommand,
    _key: IdempotencyKey = None,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """Revoke at once: the buyer's next request is a 404."""
    _may_see_grant(principal, factory_id, buyer_id)
    await require_programme(deps, principal, factory_id)
    command = RevokeSharing(
        factory_id=factory_id,
        buyer_id=buyer_id,
        reason=body.reason,
        by=principal.subject,
        expected_version=parse_if_match(if_match),
    )
    change = await run_as(run, principal, correlation_id, command)
    set_etag(response, change.version)
    return answer_of(change)
