"""/v1/factories: register, read, list and update factories, and a factory's compliance trend.
Staff see and change only factories of their country programmes; another country's is a 404."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy.engine import RowMapping

from libs.domain.aggregate import Change
from libs.servicekit.auth import Principal, Role
from libs.servicekit.http import (
    CorrelationId,
    IdempotencyKey,
    IfMatch,
    Pagination,
    next_page,
    parse_if_match,
    set_etag,
)
from libs.servicekit.problems import NotFound
from libs.servicekit.service import RunCommand, run_as
from libs.servicekit.types import PathId
from services.assessment.api.common import (
    Country,
    Reader,
    ReadModels,
    Staff,
    after_id,
    listed_countries,
    may_read_country,
    scope_of,
)
from services.assessment.commands import RegisterFactory, UpdateFactory
from services.assessment.domain.factory import FactoryDetails
from services.assessment.handlers.dependencies import Reads
from services.assessment.queries import factories as queries
from services.assessment.queries.reports import compliance_trend as trend_of
from services.assessment.schemas import FactoryPage, FactoryPublic, FactoryUpdate

router = APIRouter(prefix="/v1/factories", tags=["factories"])


async def _factory_or_404(reads: Reads, principal: Principal, factory_id: str) -> RowMapping:
    if principal.role is Role.FACTORY and principal.factory_id != factory_id:
        raise NotFound(f"factory {factory_id} does not exist")
    async with reads.store.reading() as connection:
        row = await queries.get_factory(connection, factory_id)
    if row is None or not may_read_country(principal, row["country"]):
        raise NotFound(f"factory {factory_id} does not exist")
    return row


def _changed_factory(change: Change[Any], response: Response) -> dict[str, Any]:
    """A command's answer: the factory's row as the command's own transaction left it."""
    row = change.answer
    if row is None:
        raise RuntimeError(f"no answer was read for factory {change.before.aggregate_id}")
    set_etag(response, row["version"])
    return queries.factory_view(row)


@router.post("", status_code=201, response_model=FactoryPublic)
async def register_factory(
    body: FactoryDetails,
    run: RunCommand,
    response: Response,
    principal: Staff,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Register a factory (in a country of the caller's programmes: another is a 403)."""
    factory_id = str(uuid.uuid4())
    command = RegisterFactory(factory_id, body, scope=scope_of(principal))
    change = await run_as(run, principal, correlation_id, command)
    response.headers["Location"] = f"/v1/factories/{factory_id}"
    return _changed_factory(change, response)


@router.get("", response_model=FactoryPage)
async def list_factories(
    reads: ReadModels,
    principal: Reader,
    pagination: Pagination,
    country: Country = None,
) -> dict[str, Any]:
    """List factories (a factory user sees only its own; staff those of their country
    programmes), optionally by country."""
    async with reads.store.reading() as connection:
        rows = await queries.list_factories(
            connection,
            country=country.upper() if country else None,
            countries=listed_countries(principal),
            only_factory=principal.factory_id if principal.role is Role.FACTORY else None,
            after=after_id(pagination),
            limit=pagination.limit + 1,
        )
    page, next_cursor = next_page(rows, pagination.limit, lambda row: {"after": row["factory_id"]})
    return {"items": [queries.factory_view(row) for row in page], "next_cursor": next_cursor}


@router.get("/{factory_id}", response_model=FactoryPublic)
async def get_factory(
    factory_id: PathId, reads: ReadModels, response: Response, principal: Reader
) -> dict[str, Any]:
    """A factory; its version is the ETag (another country programme's is a 404)."""
    row = await _factory_or_404(reads, principal, factory_id)
    set_etag(response, row["version"])
    return queries.factory_view(row)


@router.patch("/{factory_id}", response_model=FactoryPublic)
async def update_factory(
    factory_id: PathId,
    body: FactoryUpdate,
    run: RunCommand,
    response: Response,
    principal: Staff,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Change a factory's details (send If-Match to avoid overwriting a concurrent change);
    moving it to a country outside the caller's programmes is a 403."""
    changes = body.model_dump(exclude_unset=True)
    command = UpdateFactory(
        factory_id, changes, parse_if_match(if_match), scope=scope_of(principal)
    )
    change = await run_as(run, principal, correlation_id, command)
    return _changed_factory(change, response)


@router.get("/{factory_id}/compliance-trend")
async def compliance_trend(
    factory_id: PathId, reads: ReadModels, principal: Reader
) -> dict[str, Any]:
    """The factory's completed assessments by cycle, with the change in non-compliance."""
    await _factory_or_404(reads, principal, factory_id)
    async with reads.store.reading() as connection:
        cycles = await trend_of(connection, factory_id)
    return {"factory_id": factory_id, "cycles": cycles}
