"""REST routers: `/v1/improvement-plans` (items, status changes, verification, publication, record)
and `/v1/committees`. Each route authorizes the path, builds a command and runs its handler, or
runs a query, and shapes the answer; transactions belong to the handlers, SQL to `queries`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.aggregate import Change
from libs.domain.envelope import event_context
from libs.servicekit.auth import CurrentPrincipal, Principal, Role
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
from libs.servicekit.problems import Forbidden, NotFound
from libs.servicekit.types import PathId
from services.remediation import projections, queries
from services.remediation.commands import (
    ChangeItemDetails,
    ChangeItemStatus,
    LogCommitteeMeeting,
    NewMember,
    PublishPlan,
    SetCommitteeMembers,
)
from services.remediation.domain.plan_events import Actor, ItemStatus
from services.remediation.schemas import (
    MEETINGS_ON_COMMITTEE,
    CommitteePublic,
    ItemDetailsUpdate,
    ItemPublic,
    MeetingCreate,
    MembersUpdate,
    PlanPublic,
    RecordEntry,
    RemediationRecord,
    StatusChange,
    plan_public,
)

__all__ = ["MEETINGS_ON_COMMITTEE", "ROUTERS", "committees_router", "plans_router"]

plans_router = APIRouter(prefix="/v1/improvement-plans", tags=["improvement-plans"])
committees_router = APIRouter(prefix="/v1/committees", tags=["committees"])


RunCommand = Callable[[object], Awaitable[Change[Any]]]
"""Runs a command through its handler (app.py builds it from handlers.COMMAND_HANDLERS)."""


async def _run(
    request: Request, principal: Principal, correlation_id: str | None, command: object
) -> Change[Any]:
    run_command: RunCommand = request.app.state.run_command
    with event_context(correlation_id=correlation_id, actor=principal.subject):
        return await run_command(command)


@asynccontextmanager
async def _read(request: Request) -> AsyncIterator[AsyncConnection]:
    """The connection for queries: the request's own transaction when it has one."""
    async with request.app.state.remediation.store.reading() as connection:
        yield connection


def check_access(principal: Principal, factory_id: str) -> None:
    """Buyers have no access here; a factory sees only its own plan and committee."""
    if principal.role is Role.BUYER:
        raise Forbidden("Buyers see remediation progress through buyer sharing, not here.")
    if principal.role is Role.FACTORY and principal.factory_id != factory_id:
        raise NotFound(f"No improvement plan or committee for factory {factory_id}.")


def require_factory_user(principal: Principal, factory_id: str, what: str) -> None:
    check_access(principal, factory_id)
    if principal.role is not Role.FACTORY:
        raise Forbidden(f"Only the factory's own users {what}.")


def require_committee_editor(principal: Principal, factory_id: str) -> None:
    check_access(principal, factory_id)
    if principal.role not in (Role.FACTORY, Role.ADMIN):
        raise Forbidden("Only the factory's users and admins keep its committee.")


# plans -------------------------------------------------------------------------------------------


@plans_router.get("", response_model=Page[PlanPublic])
async def list_plans(
    request: Request, principal: CurrentPrincipal, pagination: Pagination
) -> Page[PlanPublic]:
    """Improvement plans (a factory user sees only its own)."""
    if principal.role is Role.BUYER:
        raise Forbidden("Buyers have no access to improvement plans here.")
    position = pagination.position(factory_id=str)
    async with _read(request) as connection:
        rows = await queries.plan_rows(
            connection,
            after=position["factory_id"] if position else None,
            limit=pagination.limit + 1,
            factory_id=principal.factory_id if principal.role is Role.FACTORY else None,
        )
    rows, cursor = next_page(rows, pagination.limit, lambda row: {"factory_id": row["factory_id"]})
    return Page[PlanPublic](items=[plan_public(row) for row in rows], next_cursor=cursor)


@plans_router.get("/{factory_id}", response_model=PlanPublic)
async def get_plan(
    factory_id: PathId, request: Request, principal: CurrentPrincipal, response: Response
) -> PlanPublic:
    """A factory's plan: progress and publication; the ETag is the plan's version."""
    check_access(principal, factory_id)
    async with _read(request) as connection:
        row = await queries.plan_row(connection, factory_id)
    if row is None:
        raise NotFound(f"No improvement plan for factory {factory_id}.")
    set_etag(response, row["version"])
    return plan_public(row)


@plans_router.get("/{factory_id}/items", response_model=Page[ItemPublic])
async def list_items(
    factory_id: PathId,
    request: Request,
    principal: CurrentPrincipal,
    pagination: Pagination,
    status_filter: Annotated[ItemStatus | None, Query(alias="status")] = None,
    critical: bool | None = None,
    overdue: bool | None = None,
    persistent: bool | None = None,
) -> Page[ItemPublic]:
    """The plan's items by due date, filterable by status, critical, overdue and persistent."""
    check_access(principal, factory_id)
    position = pagination.position(due_date=date, item_id=str)
    after = (position["due_date"], position["item_id"]) if position else None
    async with _read(request) as connection:
        if await queries.plan_row(connection, factory_id) is None:
            raise NotFound(f"No improvement plan for factory {factory_id}.")
        rows = await queries.item_rows(
            connection,
            factory_id,
            queries.ItemFilter(status_filter, critical, overdue, persistent),
            after=after,
            limit=pagination.limit + 1,
        )
    rows, cursor = next_page(
        rows,
        pagination.limit,
        lambda row: {"due_date": row["due_date"].isoformat(), "item_id": row["item_id"]},
    )
    return Page[ItemPublic](items=[ItemPublic(**row) for row in rows], next_cursor=cursor)


@plans_router.get("/{factory_id}/items/{item_id}", response_model=ItemPublic)
async def get_item(
    factory_id: PathId, item_id: PathId, request: Request, principal: CurrentPrincipal
) -> ItemPublic:
    """One item of the plan."""
    check_access(principal, factory_id)
    async with _read(request) as connection:
        row = await queries.item_row(connection, factory_id, item_id)
    if row is None:
        raise NotFound(f"No item {item_id} in the plan of factory {factory_id}.")
    return ItemPublic(**row)


def _item_answer(change: Change[Any], item_id: str, response: Response) -> ItemPublic:
    set_etag(response, change.version)
    return ItemPublic(**change.state.items[item_id].model_dump())


@plans_router.patch("/{factory_id}/items/{item_id}", response_model=ItemPublic)
async def update_item(
    factory_id: PathId,
    item_id: PathId,
    body: ItemDetailsUpdate,
    request: Request,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> ItemPublic:
    """Fill in root cause, planned action, responsible person, due date (factory users)."""
    require_factory_user(principal, factory_id, "fill in their plan")
    command = ChangeItemDetails(
        factory_id=factory_id,
        item_id=item_id,
        root_cause=body.root_cause,
        planned_action=body.planned_action,
        responsible_person=body.responsible_person,
        due_date=body.due_date,
        changed_by=principal.subject,
        expected_version=parse_if_match(if_match),
    )
    change = await _run(request, principal, correlation_id, command)
    return _item_answer(change, item_id, response)


@plans_router.post("/{factory_id}/items/{item_id}/status", response_model=ItemPublic)
async def change_status(
    factory_id: PathId,
    item_id: PathId,
    body: StatusChange,
    request: Request,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> ItemPublic:
    """Move an item: open → in_progress → done (factory); verify or reopen a done item (assessor)."""
    check_access(principal, factory_id)
    actor: Actor = "factory" if principal.role is Role.FACTORY else "assessor"
    command = ChangeItemStatus(
        factory_id=factory_id,
        item_id=item_id,
        status=body.status,
        actor=actor,
        changed_by=principal.subject,
        reason=body.reason,
        expected_version=parse_if_match(if_match),
    )
    change = await _run(request, principal, correlation_id, command)
    return _item_answer(change, item_id, response)


@plans_router.post(
    "/{factory_id}/publications", response_model=PlanPublic, status_code=status.HTTP_201_CREATED
)
async def publish(
    factory_id: PathId,
    request: Request,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> PlanPublic:
    """Publish the plan to the factory's buyers, after a two-sided committee endorsement."""
    require_factory_user(principal, factory_id, "publish their plan")
    command = PublishPlan(
        factory_id=factory_id,
        published_by=principal.subject,
        expected_version=parse_if_match(if_match),
    )
    change = await _run(request, principal, correlation_id, command)
    set_etag(response, change.version)
    policy = request.app.state.remediation.policy
    return plan_public(projections.plan_summary(factory_id, change.state, policy))


@plans_router.get("/{factory_id}/record", response_model=RemediationRecord)
async def get_record(
    factory_id: PathId, request: Request, principal: CurrentPrincipal
) -> RemediationRecord:
    """The factory's remediation record over its assessments: opened, verified, days to verify."""
    check_access(principal, factory_id)
    async with _read(request) as connection:
        if await queries.plan_row(connection, factory_id) is None:
            raise NotFound(f"No improvement plan for factory {factory_id}.")
        entries = [
            RecordEntry(**row) for row in await queries.remediation_record(connection, factory_id)
        ]
    opened = sum(entry.items_opened for entry in entries)
    verified = sum(entry.items_verified for entry in entries)
    weighted = [
        (entry.average_days_to_verification, entry.items_verified)
        for entry in entries
        if entry.average_days_to_verification is not None
    ]
    average = (
        round(sum(days * count for days, count in weighted) / verified, 1) if weighted else None
    )
    return RemediationRecord(
        factory_id=factory_id,
        assessments=entries,
        items_opened=opened,
        items_verified=verified,
        average_days_to_verification=average,
    )


# committees --------------------------------------------------------------------------------------


def committee_public(row: dict[str, Any], meeting_count: int) -> CommitteePublic:
    """The committee with its first page of meetings (`row["meetings"]` holds at least those)."""
    first_page = MEETINGS_ON_COMMITTEE
    cursor = encode_cursor({"offset": first_page}) if meeting_count > first_page else None
    return CommitteePublic(
        **{**row, "meetings": row["meetings"][:first_page]}, meetings_next_cursor=cursor
    )


def _committee_changed(change: Change[Any], response: Response) -> CommitteePublic:
    """The answer of a committee command, from the committee as the command left it."""
    set_etag(response, change.version)
    row = projections.committee_summary(change.aggregate_id, change.state)
    return committee_public(row, len(row["meetings"]))


@committees_router.get("/{factory_id}", response_model=CommitteePublic)
async def get_committee(
    factory_id: PathId, request: Request, principal: CurrentPrincipal, response: Response
) -> CommitteePublic:
    """The factory's committee: members by side and the meetings logged."""
    check_access(principal, factory_id)
    async with _read(request) as connection:
        row = await queries.committee_row(connection, factory_id, meetings=MEETINGS_ON_COMMITTEE)
    if row is None:
        raise NotFound(f"Factory {factory_id} has no committee yet.")
    set_etag(response, row["version"])
    return committee_public(row, row.pop("meeting_count"))


@committees_router.get("/{factory_id}/meetings", response_model=Page[dict[str, Any]])
async def list_meetings(
    factory_id: PathId,
    request: Request,
    principal: CurrentPrincipal,
    pagination: Pagination,
) -> Page[dict[str, Any]]:
    """The committee's meetings in the order they were logged, a page at a time."""
    check_access(principal, factory_id)
    position = pagination.position(offset=int)
    offset = position["offset"] if position else 0
    async with _read(request) as connection:
        found = await queries.committee_meetings(
            connection, factory_id, offset=offset, limit=pagination.limit
        )
    if found is None:
        raise NotFound(f"Factory {factory_id} has no committee yet.")
    meetings, count = found
    following = offset + len(meetings)
    cursor = encode_cursor({"offset": following}) if following < count else None
    return Page[dict[str, Any]](items=meetings, next_cursor=cursor)


@committees_router.put("/{factory_id}/members", response_model=CommitteePublic)
async def put_members(
    factory_id: PathId,
    body: MembersUpdate,
    request: Request,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> CommitteePublic:
    """Set the committee's members: equal numbers of management and worker representatives."""
    require_committee_editor(principal, factory_id)
    command = SetCommitteeMembers(
        factory_id=factory_id,
        members=[NewMember(m.member_id, m.name, m.side, m.position) for m in body.members],
        changed_by=principal.subject,
        expected_version=parse_if_match(if_match),
    )
    change = await _run(request, principal, correlation_id, command)
    return _committee_changed(change, response)


@committees_router.post(
    "/{factory_id}/meetings", response_model=CommitteePublic, status_code=status.HTTP_201_CREATED
)
async def post_meeting(
    factory_id: PathId,
    body: MeetingCreate,
    request: Request,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> CommitteePublic:
    """Log a meeting: date, attendees (member ids), decisions, and whether it endorsed the plan."""
    require_committee_editor(principal, factory_id)
    command = LogCommitteeMeeting(
        factory_id=factory_id,
        held_on=body.held_on,
        attendees=body.attendees,
        decisions=body.decisions,
        endorses_plan=body.endorses_plan,
        logged_by=principal.subject,
        expected_version=parse_if_match(if_match),
    )
    change = await _run(request, principal, correlation_id, command)
    return _committee_changed(change, response)


ROUTERS = [plans_router, committees_router]
