"""FastAPI routers of buyer sharing: authorize the path (role, the caller's own buyer or
factory), build a command, run its handler, shape the answer; reads go through `store.reading()`.

Tenancy: a buyer user acts only for the buyer of its `buyer_id` claim, a factory user only for
the factory of its `factory_id` claim; anything of another tenant, or a factory not shared with
the buyer, is a 404 (never a 403), so nobody learns that it exists.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.envelope import event_context
from libs.servicekit.auth import Principal, Role, require_roles
from libs.servicekit.http import (
    CorrelationId,
    IdempotencyKey,
    IfMatch,
    Page,
    Pagination,
    encode_cursor,
    next_page,
    parse_if_match,
    set_etag,
)
from libs.servicekit.problems import ProblemError
from libs.servicekit.types import PathId
from services.buyer_sharing import handlers, queries
from services.buyer_sharing.commands import (
    ApproveAccessRequest,
    DeclareAuditReliance,
    DeclineAccessRequest,
    GrantSharing,
    RegisterBuyer,
    RequestAccess,
    RevokeSharing,
    WithdrawAuditReliance,
)
from services.buyer_sharing.domain import portfolio, transparency
from services.buyer_sharing.errors import NotFound
from services.buyer_sharing.ids import new_id
from services.buyer_sharing.pagecache import PublicPages
from services.buyer_sharing.ratelimit import TokenBuckets
from services.buyer_sharing.schemas import (
    AccessRequestCreate,
    AccessRequestPublic,
    AccessRequestReceipt,
    ApproveCreate,
    BuyerCreate,
    BuyerPublic,
    CountryCode,
    DeclineCreate,
    GrantCreate,
    GrantHistoryEntry,
    GrantPublic,
    LowComplianceFactory,
    PortfolioFactory,
    ProgrammeStatistics,
    RelianceCreate,
    ReliancePublic,
    ReportPublic,
    RevokeCreate,
    TransparencyFactory,
    WithdrawCreate,
    YearlyRates,
    normalise_os_id,
)

T = TypeVar("T")

Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
AdminOrBuyer = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.BUYER))]
BuyerUser = Annotated[Principal, Depends(require_roles(Role.BUYER))]
FactoryUser = Annotated[Principal, Depends(require_roles(Role.FACTORY))]
AdminOrFactory = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.FACTORY))]
Party = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.BUYER, Role.FACTORY))]
CountryFilter = Annotated[CountryCode | None, Query()]
Year = Annotated[int, Query(ge=2000, le=2099)]


def _deps(request: Request) -> handlers.Dependencies:
    deps: handlers.Dependencies = request.app.state.dependencies
    return deps


@asynccontextmanager
async def _read(request: Request) -> AsyncIterator[AsyncConnection]:
    async with _deps(request).store.reading() as connection:
        yield connection


async def _run(principal: Principal, correlation_id: str | None, work: Awaitable[T]) -> T:
    with event_context(correlation_id=correlation_id, actor=principal.subject):
        return await work


def _own_buyer(principal: Principal, buyer_id: str) -> None:
    """Admins see every buyer; a buyer user only its own (another's is a 404)."""
    if principal.role is Role.BUYER and principal.buyer_id != buyer_id:
        raise NotFound(f"buyer {buyer_id} not found")


# --- buyers -------------------------------------------------------------------------------------

buyers_router = APIRouter(prefix="/v1/buyers", tags=["buyers"])


@buyers_router.post("", status_code=201, response_model=BuyerPublic)
async def register_buyer(
    body: BuyerCreate,
    request: Request,
    response: Response,
    principal: Admin,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """Register a buyer (admins)."""
    buyer_id = body.buyer_id or new_id("buyer")
    command = RegisterBuyer(
        buyer_id=buyer_id,
        name=body.name,
        country=body.country,
        contact_name=body.contact_name,
        contact_email=body.contact_email,
        by=principal.subject,
    )
    change = await _run(principal, correlation_id, handlers.register_buyer(command, _deps(request)))
    set_etag(response, change.version)
    async with _read(request) as connection:
        row = await queries.buyer_row(connection, buyer_id)
    assert row is not None  # projected in the command's transaction
    return row


@buyers_router.get("", response_model=Page[BuyerPublic])
async def list_buyers(request: Request, principal: Admin, page: Pagination) -> dict[str, Any]:
    """Every buyer (admins)."""
    position = page.position(buyer_id=str)
    async with _read(request) as connection:
        rows = await queries.buyers(
            connection, position["buyer_id"] if position else None, page.limit
        )
    items, cursor = next_page(rows, page.limit, lambda row: {"buyer_id": row["buyer_id"]})
    return {"items": items, "next_cursor": cursor}


@buyers_router.get("/{buyer_id}", response_model=BuyerPublic)
async def get_buyer(
    buyer_id: PathId, request: Request, response: Response, principal: AdminOrBuyer
) -> dict[str, Any]:
    """A buyer (admins, or the buyer's own users)."""
    _own_buyer(principal, buyer_id)
    async with _read(request) as connection:
        row = await queries.buyer_row(connection, buyer_id)
    if row is None:
        raise NotFound(f"buyer {buyer_id} not found")
    set_etag(response, row["version"])
    return row


SortParam = Annotated[Literal["risk", "factory_id"], Query(description="Risk: see the docs.")]


async def _portfolio(
    request: Request,
    principal: Principal,
    buyer_id: str,
    *,
    country: str | None,
    has_open_critical_issues: bool | None,
    overdue: bool | None,
    sort: portfolio.SortOrder,
    after: dict[str, Any] | None,
    limit: int | None,
) -> tuple[list[portfolio.Entry], portfolio.Entry | None]:
    _own_buyer(principal, buyer_id)
    today = _deps(request).clock().date()
    async with _read(request) as connection:
        return await queries.portfolio_page(
            connection,
            buyer_id,
            today,
            country=country,
            open_critical=has_open_critical_issues,
            overdue=overdue,
            order=sort,
            after=after,
            limit=limit,
        )


@buyers_router.get("/{buyer_id}/factories", response_model=Page[PortfolioFactory])
async def buyer_portfolio(
    buyer_id: PathId,
    request: Request,
    principal: AdminOrBuyer,
    page: Pagination,
    country: CountryFilter = None,
    has_open_critical_issues: bool | None = None,
    overdue: bool | None = None,
    sort: SortParam = "risk",
) -> dict[str, Any]:
    """The factories shared with the buyer, riskiest first (or by factory id)."""
    position = page.position(**portfolio.position_fields(sort))
    entries, last = await _portfolio(
        request,
        principal,
        buyer_id,
        country=country,
        has_open_critical_issues=has_open_critical_issues,
        overdue=overdue,
        sort=sort,
        after=position,
        limit=page.limit,
    )
    return {
        "items": [entry.row for entry in entries],
        "next_cursor": encode_cursor(last.position(sort)) if last is not None else None,
    }


CSV_COLUMNS = (
    "factory_id",
    "name",
    "country",
    "os_id",
    "report_date",
    "non_compliance_rate",
    "non_compliance_rate_change",
    "critical_issues_found",
    "zero_tolerance_issues_found",
    "open_zero_tolerance_issues",
    "open_critical_issues",
    "plan_open",
    "plan_in_progress",
    "plan_done",
    "plan_verified",
    "plan_overdue",
    "plan_published",
    "plan_publication_late",
)


def _csv_row(row: Mapping[str, Any]) -> list[Any]:
    latest = row["latest_report"] or {}
    change = row["change_since_previous"] or {}
    plan = row["improvement_plan"] or {}
    values = [
        row["factory_id"],
        row["name"],
        row["country"],
        row["os_id"],
        latest.get("report_date"),
        latest.get("non_compliance_rate"),
        change.get("non_compliance_rate_change"),
        latest.get("critical_issues_found"),
        latest.get("zero_tolerance_issues_found"),
        row["open_zero_tolerance_issues"],
        row["open_critical_issues"],
        plan.get("open"),
        plan.get("in_progress"),
        plan.get("done"),
        plan.get("verified"),
        plan.get("overdue"),
        plan.get("published"),
        plan.get("publication_late"),
    ]
    # a leading =, +, - or @ would be a formula in a spreadsheet (CSV injection)
    return [
        f"'{value}" if isinstance(value, str) and value[:1] in "=+-@" else value for value in values
    ]


@buyers_router.get(
    "/{buyer_id}/factories.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def buyer_portfolio_csv(
    buyer_id: PathId,
    request: Request,
    principal: AdminOrBuyer,
    country: CountryFilter = None,
    has_open_critical_issues: bool | None = None,
    overdue: bool | None = None,
    sort: SortParam = "risk",
) -> Response:
    """The same view as CSV, every row, for sourcing teams."""
    entries, _ = await _portfolio(
        request,
        principal,
        buyer_id,
        country=country,
        has_open_critical_issues=has_open_critical_issues,
        overdue=overdue,
        sort=sort,
        after=None,
        limit=None,
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow(_csv_row(entry.row))
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="portfolio-{buyer_id}.csv"'},
    )


@buyers_router.get("/{buyer_id}/factories/{factory_id}", response_model=PortfolioFactory)
async def portfolio_factory(
    buyer_id: PathId, factory_id: PathId, request: Request, principal: AdminOrBuyer
) -> dict[str, Any]:
    """One shared factory of the portfolio (404 unless shared with the buyer now)."""
    _own_buyer(principal, buyer_id)
    today = _deps(request).clock().date()
    async with _read(request) as connection:
        entries, _ = await queries.portfolio_page(
            connection, buyer_id, today, factory_id=factory_id
        )
    if not entries:
        raise NotFound(f"factory {factory_id} not found")
    return dict(entries[0].row)


@buyers_router.get("/{buyer_id}/factories/{factory_id}/reports", response_model=list[ReportPublic])
async def factory_reports(
    buyer_id: PathId, factory_id: PathId, request: Request, principal: AdminOrBuyer
) -> list[dict[str, Any]]:
    """Every completed report of a shared factory, newest first, with findings, responses,
    disputes, corrections and remediation status (404 unless shared with the buyer now)."""
    _own_buyer(principal, buyer_id)
    today = _deps(request).clock().date()
    async with _read(request) as connection:
        # consent first, on the same connection: nothing is read for an unshared factory
        if not await queries.grant_in_force(connection, factory_id, buyer_id, today):
            raise NotFound(f"factory {factory_id} not found")
        return await queries.factory_reports(connection, factory_id)


# --- sharing grants -----------------------------------------------------------------------------

grants_router = APIRouter(prefix="/v1/sharing-grants", tags=["sharing-grants"])


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


@grants_router.post("", status_code=201, response_model=GrantPublic)
async def grant_sharing(
    body: GrantCreate,
    request: Request,
    response: Response,
    principal: AdminOrFactory,
    _key: IdempotencyKey = None,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """Share the factory's reports with a buyer (its factory users, or admins); `If-Match` with
    the pair's ETag re-grants only if nothing changed since it was read. Granting again with an
    earlier end date withdraws the buyer's audit-reliance declarations whose period runs past it."""
    factory_id = _grant_factory(principal, body.factory_id)
    command = GrantSharing(
        factory_id=factory_id,
        buyer_id=body.buyer_id,
        ends_on=body.ends_on,
        reason=body.reason,
        by=principal.subject,
        expected_version=parse_if_match(if_match),
    )
    change = await _run(principal, correlation_id, handlers.grant_sharing(command, _deps(request)))
    set_etag(response, change.version)
    async with _read(request) as connection:
        row = await queries.grant(connection, factory_id, body.buyer_id)
    assert row is not None
    return row


@grants_router.get("", response_model=Page[GrantPublic])
async def list_grants(
    request: Request,
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
    async with _read(request) as connection:
        rows = await queries.grants(
            connection,
            factory_id=factory_id,
            buyer_id=buyer_id,
            active=active,
            after=(position["factory_id"], position["buyer_id"]) if position else None,
            limit=page.limit,
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


@grants_router.get("/{factory_id}/{buyer_id}", response_model=GrantPublic)
async def get_grant(
    factory_id: PathId, buyer_id: PathId, request: Request, response: Response, principal: Party
) -> dict[str, Any]:
    """One grant (its factory, its buyer, or admins)."""
    _may_see_grant(principal, factory_id, buyer_id)
    async with _read(request) as connection:
        row = await queries.grant(connection, factory_id, buyer_id)
    if row is None:
        raise NotFound("sharing grant not found")
    set_etag(response, row["version"])
    return row


@grants_router.get("/{factory_id}/{buyer_id}/history", response_model=list[GrantHistoryEntry])
async def grant_history(
    factory_id: PathId, buyer_id: PathId, request: Request, principal: Party
) -> list[dict[str, Any]]:
    """Every grant and revocation of this pair: who, when, why."""
    _may_see_grant(principal, factory_id, buyer_id)
    async with _read(request) as connection:
        rows = await queries.grant_history(connection, factory_id, buyer_id)
    if not rows:
        raise NotFound("sharing grant not found")
    return rows


@grants_router.post("/{factory_id}/{buyer_id}/revoke", response_model=GrantPublic)
async def revoke_grant(
    factory_id: PathId,
    buyer_id: PathId,
    body: RevokeCreate,
    request: Request,
    response: Response,
    principal: AdminOrFactory,
    _key: IdempotencyKey = None,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """Revoke at once: the buyer's next request is a 404."""
    _may_see_grant(principal, factory_id, buyer_id)
    command = RevokeSharing(
        factory_id=factory_id,
        buyer_id=buyer_id,
        reason=body.reason,
        by=principal.subject,
        expected_version=parse_if_match(if_match),
    )
    change = await _run(principal, correlation_id, handlers.revoke_sharing(command, _deps(request)))
    set_etag(response, change.version)
    async with _read(request) as connection:
        row = await queries.grant(connection, factory_id, buyer_id)
    assert row is not None
    return row


# --- access requests ----------------------------------------------------------------------------

requests_router = APIRouter(prefix="/v1/access-requests", tags=["access-requests"])


def _receipt(row: dict[str, Any], named_factory_id: str | None) -> dict[str, Any]:
    return {
        "request_id": row["request_id"],
        "status": row["status"],
        "factory_id": named_factory_id,
        "os_id": row["os_id"],
        "requested_at": row["requested_at"],
    }


@requests_router.post("", status_code=202, response_model=AccessRequestReceipt)
async def request_access(
    body: AccessRequestCreate,
    request: Request,
    principal: BuyerUser,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """Ask a factory for access; the answer is the same whether or not the factory exists."""
    assert principal.buyer_id is not None
    request_id = new_id("req")
    os_id = normalise_os_id(body.os_id) if body.os_id is not None else None
    command = RequestAccess(
        request_id=request_id,
        buyer_id=principal.buyer_id,
        factory_id=body.factory_id,
        os_id=os_id,
        message=body.message,
        by=principal.subject,
    )
    await _run(principal, correlation_id, handlers.request_access(command, _deps(request)))
    async with _read(request) as connection:
        row = await queries.access_request_row(connection, request_id)
    assert row is not None
    return _receipt(row, body.factory_id)


RequestStatus = Annotated[Literal["pending", "approved", "declined"] | None, Query()]


@requests_router.get("", response_model=Page[AccessRequestPublic])
async def list_access_requests(
    request: Request, principal: Party, page: Pagination, status: RequestStatus = None
) -> dict[str, Any]:
    """A buyer's own requests, or those addressed to a factory user's factory (by id or OS ID)."""
    position = page.position(request_id=str)
    after = position["request_id"] if position else None
    async with _read(request) as connection:
        rows = await queries.access_requests(
            connection,
            buyer_id=principal.buyer_id if principal.role is Role.BUYER else None,
            factory_id=principal.factory_id if principal.role is Role.FACTORY else None,
            status=status,
            after=after,
            limit=page.limit,
        )
    items, cursor = next_page(rows, page.limit, lambda row: {"request_id": row["request_id"]})
    if principal.role is Role.BUYER:
        # what the buyer named, never what it was resolved to
        items = [{**row, "factory_id": None} if row["os_id"] else row for row in items]
    return {"items": items, "next_cursor": cursor}


async def _visible_request(
    request: Request, principal: Principal, request_id: str
) -> dict[str, Any]:
    async with _read(request) as connection:
        row = await queries.access_request_row(connection, request_id)
        os_id = (
            await queries.factory_os_id(connection, principal.factory_id)
            if principal.factory_id
            else None
        )
    visible = row is not None and (
        principal.role is Role.ADMIN
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
    if principal.role is Role.BUYER and row["os_id"]:
        row = {**row, "factory_id": None}
    return row


@requests_router.get("/{request_id}", response_model=AccessRequestPublic)
async def get_access_request(
    request_id: PathId, request: Request, principal: Party
) -> dict[str, Any]:
    """One request (the buyer that made it, the factory it is addressed to, admins)."""
    return await _visible_request(request, principal, request_id)


@requests_router.post("/{request_id}/approve", response_model=GrantPublic)
async def approve_access_request(
    request_id: PathId,
    body: ApproveCreate,
    request: Request,
    response: Response,
    principal: FactoryUser,
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
    change = await _run(
        principal, correlation_id, handlers.approve_access_request(command, _deps(request))
    )
    set_etag(response, change.version)
    buyer_id = change.events[0].buyer_id  # type: ignore[attr-defined]
    async with _read(request) as connection:
        row = await queries.grant(connection, principal.factory_id, buyer_id)
    assert row is not None
    return row


@requests_router.post("/{request_id}/decline", response_model=AccessRequestPublic)
async def decline_access_request(
    request_id: PathId,
    body: DeclineCreate,
    request: Request,
    principal: FactoryUser,
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
    await _run(principal, correlation_id, handlers.decline_access_request(command, _deps(request)))
    return await _visible_request(request, principal, request_id)


# --- audit reliance -----------------------------------------------------------------------------

reliance_router = APIRouter(prefix="/v1/audit-reliance", tags=["audit-reliance"])


@reliance_router.post("", status_code=201, response_model=ReliancePublic)
async def declare_reliance(
    body: RelianceCreate,
    request: Request,
    principal: BuyerUser,
    _key: IdempotencyKey = None,
    correlation_id: CorrelationId = None,
) -> dict[str, Any]:
    """Rely on a shared factory's assessment instead of an own audit (404 unless shared)."""
    assert principal.buyer_id is not None
    reliance_id = new_id("rel")
    command = DeclareAuditReliance(
        reliance_id=reliance_id,
        factory_id=body.factory_id,
        buyer_id=principal.buyer_id,
        assessment_id=body.assessment_id,
        period_start=body.period_start,
        period_end=body.period_end,
        note=body.note,
        by=principal.subject,
    )
    await _run(principal, correlation_id, handlers.declare_audit_reliance(command, _deps(request)))
    async with _read(request) as connection:
        row = await queries.reliance(connection, reliance_id)
    assert row is not None
    return row


@reliance_router.get("", response_model=Page[ReliancePublic])
async def list_reliances(
    request: Request, principal: AdminOrBuyer, page: Pagination
) -> dict[str, Any]:
    """A buyer's own declarations (admins: all)."""
    position = page.position(reliance_id=str)
    async with _read(request) as connection:
        rows = await queries.reliances(
            connection,
            buyer_id=principal.buyer_id if principal.role is Role.BUYER else None,
            after=position["reliance_id"] if position else None,
            limit=page.limit,
        )
    items, cursor = next_page(rows, page.limit, lambda row: {"reliance_id": row["reliance_id"]})
    return {"items": items, "next_cursor": cursor}


@reliance_router.get("/statistics", response_model=list[ProgrammeStatistics])
async def programme_statistics(
    request: Request,
    principal: Admin,
    year: Annotated[int | None, Query(ge=2000, le=2099)] = None,
    country: CountryFilter = None,
) -> list[dict[str, Any]]:
    """Per year and country: buyers participating and relying, factories covered, audits avoided.
    A reliance declaration counts only in the years its factory shared with its buyer."""
    today = _deps(request).clock().date()
    async with _read(request) as connection:
        return await queries.statistics(connection, today=today, year=year, country=country)


@reliance_router.post("/{reliance_id}/withdraw", response_model=ReliancePublic)
async def withdraw_reliance(
    reliance_id: PathId,
    body: WithdrawCreate,
    request: Request,
    principal: BuyerUser,
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
    await _run(principal, correlation_id, handlers.withdraw_audit_reliance(command, _deps(request)))
    async with _read(request) as connection:
        row = await queries.reliance(connection, reliance_id)
    assert row is not None
    return row


# --- public transparency ------------------------------------------------------------------------


async def rate_limited(request: Request) -> None:
    """Per client address (the proxy's X-Forwarded-For when uvicorn trusts it)."""
    buckets: TokenBuckets = request.app.state.transparency_limiter
    client = request.client.host if request.client is not None else "unknown"
    wait = buckets.take(client, time.monotonic())
    if wait > 0:
        raise ProblemError(
            "Too many requests from this address; retry later.",
            status=429,
            type_slug="rate-limited",
            headers={"Retry-After": str(TokenBuckets.retry_after(wait))},
        )


transparency_router = APIRouter(
    prefix="/v1/transparency", tags=["transparency"], dependencies=[Depends(rate_limited)]
)


def _encode(body: Any) -> bytes:
    return json.dumps(jsonable_encoder(body), separators=(",", ":"), sort_keys=True).encode()


async def _public(
    request: Request,
    key: tuple[Any, ...],
    compute: Callable[[AsyncConnection], Awaitable[Any]],
) -> Response:
    """The page's JSON answer, made once per version of the read models it comes from and kept
    in process (pagecache.py), with a strong ETag of its bytes; 304 when the client has it."""
    pages: PublicPages = request.app.state.public_pages
    async with _read(request) as connection:
        version = await queries.public_version(connection)  # before the queries: see put()
        answer = pages.get(key, version)
        if answer is None:
            answer = pages.put(key, version, _encode(await compute(connection)))
    max_age = request.app.state.settings.transparency_max_age_seconds
    headers = {"ETag": answer.etag, "Cache-Control": f"public, max-age={max_age}"}
    candidates = {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}
    if answer.etag in candidates or "*" in candidates:
        return Response(status_code=304, headers=headers)
    return Response(answer.payload, media_type="application/json", headers=headers)


CACHED: dict[int | str, dict[str, Any]] = {
    200: {"description": "OK; `ETag` and `Cache-Control` set."},
    304: {"description": "Not modified (If-None-Match)."},
    429: {"description": "Rate limited; see `Retry-After`."},
}


@transparency_router.get(
    "/factories",
    response_model=Page[TransparencyFactory],
    responses=CACHED,
)
async def public_factories(
    request: Request, page: Pagination, country: CountryFilter = None
) -> Response:
    """Factories with at least two completed assessments: critical issues of the newest report
    and the factory's responses (public, no authentication)."""
    position = page.position(factory_id=str)
    after = position["factory_id"] if position else None

    async def compute(connection: AsyncConnection) -> Any:
        rows = await queries.published_factories(
            connection, country=country, after=after, limit=page.limit
        )
        items, cursor = next_page(rows, page.limit, lambda row: {"factory_id": row["factory_id"]})
        return Page[TransparencyFactory](items=items, next_cursor=cursor)

    return await _public(request, ("factories", country, after, page.limit), compute)


@transparency_router.get(
    "/low-compliance",
    response_model=list[LowComplianceFactory],
    responses=CACHED,
)
async def low_compliance(
    request: Request,
    country: CountryFilter = None,
    year: Annotated[int | None, Query(ge=2000, le=2099)] = None,
) -> Response:
    """Factories with at least three completed assessments more than two standard deviations
    below their country's mean compliance in a calendar year (public)."""

    async def compute(connection: AsyncConnection) -> Any:
        reports = await queries.completed_reports(connection)
        listed = transparency.low_compliance(reports, country=country, year=year)
        return [LowComplianceFactory(**vars(entry)) for entry in listed]

    return await _public(request, ("low-compliance", country, year), compute)


@transparency_router.get("/rates", response_model=YearlyRates, responses=CACHED)
async def yearly_rates(request: Request, year: Year, country: CountryFilter = None) -> Response:
    """Calendar-year non-compliance rates per cluster and compliance point, per country (public)."""

    async def compute(connection: AsyncConnection) -> Any:
        rates = await queries.yearly_rates(connection, year=year, country=country)
        return YearlyRates(year=year, **rates)

    return await _public(request, ("rates", year, country), compute)


ROUTERS = [buyers_router, grants_router, requests_router, reliance_router, transparency_router]
