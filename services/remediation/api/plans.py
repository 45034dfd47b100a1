"""`/v1/improvement-plans`: plans, their items, status changes and verification, publication and
the remediation record. A route authorizes the path, then runs a command (and answers with the
row it left, `change.answer`) or a query on `store.reading()`; no transaction and no SQL here."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from libs.servicekit.auth import CurrentPrincipal, Role
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
from libs.servicekit.problems import Forbidden, NotFound
from libs.servicekit.service import RunCommand, run_as
from libs.servicekit.types import PathId
from services.remediation import queries
from services.remediation.api.common import (
    Deps,
    check_access,
    require_factory_user,
)
from services.remediation.commands import ChangeItemDetails, ChangeItemStatus, PublishPlan
from services.remediation.domain.plan_events import Actor, ItemStatus
from services.remediation.schemas import (
    ItemDetailsUpdate,
    ItemPublic,
    PlanPublic,
    RecordEntry,
    RemediationRecord,
    StatusChange,
    plan_public,
)

plans_router = APIRouter(prefix="/v1/improvement-plans", tags=["improvement-plans"])


@plans_router.get("", response_model=Page[PlanPublic])
async def list_plans(
    deps: Deps, principal: CurrentPrincipal, pagination: Pagination
) -> Page[PlanPublic]:
    """Improvement plans (a factory user sees only its own, staff those of their countries)."""
    if principal.role in (Role.BUYER, Role.TRAINER):
        raise Forbidden("Buyers and trainers have no access to improvement plans here.")
    position = pagination.position(factory_id=str)
    async with deps.store.reading() as connection:
        rows = await queries.plan_rows(
            connection,
            after=position["factory_id"] if position else None,
            limit=pagination.limit + 1,
            factory_id=principal.factory_id if principal.role is Role.FACTORY else None,
            countries=principal.countries if principal.is_staff else None,
        )
    rows, cursor = next_page(rows, pagination.limit, lambda row: {"factory_id": row["factory_id"]})
    return Page[PlanPublic](items=[plan_public(row) for row in rows], next_cursor=cursor)


@plans_router.get("/{factory_id}", response_model=PlanPublic)
async def get_plan(
    factory_id: PathId, deps: Deps, principal: CurrentPrincipal, response: Response
) -> PlanPublic:
    """A factory's plan: progress and publication; the ETag is the plan's version."""
    await check_access(deps, principal, factory_id)
    async with deps.store.reading() as connection:
        row = await queries.plan_row(connection, factory_id)
    if row is None:
        raise NotFound(f"No improvement plan for factory {factory_id}.")
    set_etag(response, row["version"])
    return plan_public(row)


@plans_router.get("/{factory_id}/items", response_model=Page[ItemPublic])
async def list_items(
    factory_id: PathId,
    deps: Deps,
    principal: CurrentPrincipal,
    pagination: Pagination,
    status_filter: Annotated[ItemStatus | None, Query(alias="status")] = None,
    critical: bool | None = None,
    overdue: bool | None = None,
    persistent: bool | None = None,
) -> Page[ItemPublic]:
    """The plan's items by due date, filterable by status, critical, overdue and persistent, each
    with the capacity building done for it."""
    await check_access(deps, principal, factory_id)
    position = pagination.position(due_date=date, item_id=str)
    after = (position["due_date"], position["item_id"]) if position else None
    async with deps.store.reading() as connection:
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
        done = await queries.capacity_building_of(
            connection, factory_id, [row["item_id"] for row in rows]
        )
    items = [ItemPublic(**row, capacity_building=done.get(row["item_id"], [])) for row in rows]
    return Page[ItemPublic](items=items, next_cursor=cursor)


@plans_router.get("/{factory_id}/items/{item_id}", response_model=ItemPublic)
async def get_item(
    factory_id: PathId, item_id: PathId, deps: Deps, principal: CurrentPrincipal
) -> ItemPublic:
    """One item of the plan, with the capacity building done for it."""
    await check_access(deps, principal, factory_id)
    async with deps.store.reading() as connection:
        row = await queries.item_row(connection, factory_id, item_id)
        if row is None:
            raise NotFound(f"No item {item_id} in the plan of factory {factory_id}.")
        done = await queries.capacity_building_of(connection, factory_id, [item_id])
    return ItemPublic(**row, capacity_building=done.get(item_id, []))


@plans_router.patch("/{factory_id}/items/{item_id}", response_model=ItemPublic)
async def update_item(
    factory_id: PathId,
    item_id: PathId,
    body: ItemDetailsUpdate,
    deps: Deps,
    run: RunCommand,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> ItemPublic:
    """Fill in root cause, planned action, responsible person, due date (factory users)."""
    await require_factory_user(deps, principal, factory_id, "fill in their plan")
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
    change = await run_as(run, principal, correlation_id, command)
    set_etag(response, change.version)
    return ItemPublic(**change.answer)


@plans_router.post("/{factory_id}/items/{item_id}/status", response_model=ItemPublic)
async def change_status(
    factory_id: PathId,
    item_id: PathId,
    body: StatusChange,
    deps: Deps,
    run: RunCommand,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> ItemPublic:
    """Move an item: open → in_progress → done (factory); verify or reopen a done item (assessor)."""
    await check_access(deps, principal, factory_id)
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
    change = await run_as(run, principal, correlation_id, command)
    set_etag(response, change.version)
    return ItemPublic(**change.answer)


@plans_router.post(
    "/{factory_id}/publications", response_model=PlanPublic, status_code=status.HTTP_201_CREATED
)
async def publish(
    factory_id: PathId,
    deps: Deps,
    run: RunCommand,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> PlanPublic:
    """Publish the plan to the factory's buyers, after a two-sided committee endorsement."""
    await require_factory_user(deps, principal, factory_id, "publish their plan")
    command = PublishPlan(
        factory_id=factory_id,
        published_by=principal.subject,
        expected_version=parse_if_match(if_match),
    )
    change = await run_as(run, principal, correlation_id, command)
    set_etag(response, change.version)
    return plan_public(change.answer)


@plans_router.get("/{factory_id}/record", response_model=RemediationRecord)
async def get_record(
    factory_id: PathId, deps: Deps, principal: CurrentPrincipal
) -> RemediationRecord:
    """The factory's remediation record over its assessments: opened, verified, days to verify."""
    await check_access(deps, principal, factory_id)
    async with deps.store.reading() as connection:
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
