"""Audit reliance: a buyer relies on a shared factory's assessment instead of an own audit,
withdraws it, lists its declarations; the programme's statistics for admins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from libs.servicekit.auth import Role
from libs.servicekit.http import CorrelationId, IdempotencyKey, Page, Pagination, next_page
from libs.servicekit.service import RunCommand, run_as
from libs.servicekit.types import PathId
from services.buyer_sharing.api.common import (
    Admin,
    AdminOrBuyer,
    BuyerUser,
    CountryFilter,
    Deps,
    answer_of,
    staff_countries,
)
from services.buyer_sharing.commands import DeclareAuditReliance, WithdrawAuditReliance
from services.buyer_sharing.ids import new_id
from services.buyer_sharing.queries import consent, statistics
from services.buyer_sharing.schemas import (
    ProgrammeStatistics,
    RelianceCreate,
    ReliancePublic,
    WithdrawCreate,
)

router = APIRouter(prefix="/v1/audit-reliance", tags=["audit-reliance"])


@router.post("", status_code=201, response_model=ReliancePublic)
async def declare_reliance(
    body: RelianceCreate,
    principal: BuyerUser,
    run: RunCommand,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """Rely on a shared factory's assessment instead of an own audit (404 unless shared)."""
    assert principal.buyer_id is not None
    command = DeclareAuditReliance(
        reliance_id=new_id("rel"),
        factory_id=body.factory_id,
        buyer_id=principal.buyer_id,
        assessment_id=body.assessment_id,
        period_start=body.period_start,
        period_end=body.period_end,
        note=body.note,
        by=principal.subject,
    )
    return answer_of(await run_as(run, principal, correlation_id, command))


@router.get("", response_model=Page[ReliancePublic])
async def list_reliances(deps: Deps, principal: AdminOrBuyer, page: Pagination) -> dict[str, Any]:
    """A buyer's own declarations (admins: all)."""
    position = page.position(reliance_id=str)
    async with deps.store.reading() as connection:
        rows = await consent.reliances(
            connection,
            buyer_id=principal.buyer_id if principal.role is Role.BUYER else None,
            after=position["reliance_id"] if position else None,
            limit=page.limit,
            countries=staff_countries(principal),
        )
    items, cursor = next_page(rows, page.limit, lambda row: {"reliance_id": row["reliance_id"]})
    return {"items": items, "next_cursor": cursor}


@router.get("/statistics", response_model=list[ProgrammeStatistics])
async def programme_statistics(
    deps: Deps,
    principal: Admin,
    year: Annotated[int | None, Query(ge=2000, le=2099)] = None,
    country: CountryFilter = None,
) -> list[dict[str, Any]]:
    """Per year and country: buyers participating and relying, factories covered, audits avoided.
    A reliance declaration counts only in the years its factory shared with its buyer; an admin
    of a country programme gets its countries' rows."""
    today = deps.clock().date()
    async with deps.store.reading() as connection:
        return await statistics.statistics(
            connection,
            today=today,
            year=year,
            country=country,
            countries=staff_countries(principal),
        )


@router.post("/{reliance_id}/withdraw", response_model=ReliancePublic)
async def withdraw_reliance(
    reliance_id: PathId,
    body: WithdrawCreate,
    principal: BuyerUser,
    run: RunCommand,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """Withdraw one of the buyer's own declarations."""
    assert principal.buyer_id is not None
    command = WithdrawAuditReliance(
        reliance_id=reliance_id,
        buyer_id=principal.buyer_id,
        reason=body.reason,
        by=principal.subject,
    )
    return answer_of(await run_as(run, principal, correlation_id, command))
