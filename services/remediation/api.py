"""REST routers: `/v1/improvement-plans` (items, status changes, verification, publication, record)
and `/v1/committees`. Each route checks the caller's tenant, runs one command or query, shapes the answer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events import event_context
from libs.servicekit import (
    Conflict,
    CurrentPrincipal,
    Forbidden,
    IdempotencyKey,
    IfMatch,
    NotFound,
    Page,
    Pagination,
    PathId,
    PlausibleDate,
    Principal,
    ResourceId,
    Role,
    SafeLine,
    SafeText,
    encode_cursor,
    parse_if_match,
    set_etag,
)
from services.remediation import projections
from services.remediation.commands import (
    ChangeItemDetails,
    ChangeItemStatus,
    LogCommitteeMeeting,
    NewMember,
    PublishPlan,
    SetCommitteeMembers,
)
from services.remediation.domain import (
    MAX_ATTENDEES,
    MAX_DECISION_LENGTH,
    MAX_DECISIONS,
    MAX_MEMBERS,
    Actor,
    ItemStatus,
    Side,
    TransitionNotAllowed,
)
from services.remediation.handlers import (
    Remediation,
    change_item_details,
    change_item_status,
    log_committee_meeting,
    publish_plan,
    set_committee_members,
)

plans_router = APIRouter(prefix="/v1/improvement-plans", tags=["improvement-plans"])
committees_router = APIRouter(prefix="/v1/committees", tags=["committees"])

CorrelationId = Annotated[
    str | None,
    # printable ASCII: a header's bytes are read as Latin-1, so other text would not round-trip
    Header(alias="X-Correlation-Id", max_length=200, pattern=r"^[\t -~]*$"),
]
# meetings shown with the committee; the rest are under /v1/committees/{factory_id}/meetings
MEETINGS_ON_COMMITTEE = 50


def get_remediation(request: Request) -> Remediation:
    remediation: Remediation = request.app.state.remediation
    return remediation


RemediationDep = Annotated[Remediation, Depends(get_remediation)]


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


@contextmanager
def command_context(principal: Principal, correlation_id: str | None) -> Iterator[None]:
    with event_context(correlation_id=correlation_id, actor=principal.subject):
        yield


# schemas -----------------------------------------------------------------------------------------


class ItemPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    item_id: str
    factory_id: str
    assessment_id: str
    cycle: int
    report_date: date
    cluster_id: str
    cluster_name: str
    compliance_point_id: str
    compliance_point_name: str
    question_id: str
    question_text: str
    critical: bool
    zero_tolerance: bool
    persistent: bool
    evidence: str
    status: ItemStatus
    due_date: date
    latest_due_date: date = Field(description="The latest due date the factory may choose.")
    root_cause: str | None
    planned_action: str | None
    responsible_person: str | None
    overdue: bool
    verified_by: str | None
    verified_at: datetime | None
    reopen_reason: str | None


class Progress(BaseModel):
    by_status: dict[str, int]
    total: int
    share_verified: float
    overdue: int


class PlanPublic(BaseModel):
    factory_id: str
    version: int
    progress: Progress
    first_report_date: date | None
    publication_due_date: date | None
    first_published_at: datetime | None
    last_published_at: datetime | None
    published_version: int | None
    publication_late: bool


class ItemDetailsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    root_cause: SafeText | None = Field(None, min_length=1, max_length=4000)
    planned_action: SafeText | None = Field(None, min_length=1, max_length=4000)
    responsible_person: SafeLine | None = Field(None, min_length=1, max_length=200)
    due_date: PlausibleDate | None = Field(
        None, description="Between the report date and the latest due date of the item."
    )


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ItemStatus = Field(
        description="in_progress or done (factory); verified, or open to reopen (assessor, admin)."
    )
    reason: SafeText | None = Field(None, max_length=4000, description="Required when reopening.")


class RecordEntry(BaseModel):
    assessment_id: str
    cycle: int
    report_date: date
    items_opened: int
    items_verified: int
    items_persistent: int
    average_days_to_verification: float | None


class RemediationRecord(BaseModel):
    factory_id: str
    assessments: list[RecordEntry]
    items_opened: int
    items_verified: int
    average_days_to_verification: float | None


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: ResourceId | None = Field(None, description="Keep to update a member.")
    name: SafeLine = Field(min_length=1, max_length=200)
    side: Side
    position: SafeLine | None = Field(None, max_length=200)


class MembersUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    members: list[MemberIn] = Field(max_length=MAX_MEMBERS)


class MeetingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    held_on: PlausibleDate = Field(description="Not in the future.")
    attendees: list[ResourceId] = Field(
        min_length=1, max_length=MAX_ATTENDEES, description="Member ids."
    )
    decisions: list[Annotated[SafeText, Field(min_length=1, max_length=MAX_DECISION_LENGTH)]] = (
        Field(default_factory=list, max_length=MAX_DECISIONS)
    )
    endorses_plan: bool = False


class CommitteePublic(BaseModel):
    factory_id: str
    version: int
    members: list[dict[str, Any]]
    meetings: list[dict[str, Any]] = Field(
        description=f"The first {MEETINGS_ON_COMMITTEE} meetings in the order they were logged."
    )
    meetings_next_cursor: str | None = Field(
        None,
        description="When there are more meetings: the `cursor` of "
        "`GET /v1/committees/{factory_id}/meetings` for the next page.",
    )


def plan_public(row: dict[str, Any]) -> PlanPublic:
    return PlanPublic(
        **{key: row[key] for key in PlanPublic.model_fields if key in row},
        progress=Progress(
            by_status={s.value: row[s.value] for s in ItemStatus},
            total=row["total"],
            share_verified=row["share_verified"],
            overdue=row["overdue"],
        ),
    )


# plans -------------------------------------------------------------------------------------------


@plans_router.get("", response_model=Page[PlanPublic])
async def list_plans(
    principal: CurrentPrincipal, remediation: RemediationDep, pagination: Pagination
) -> Page[PlanPublic]:
    """Improvement plans (a factory user sees only its own)."""
    if principal.role is Role.BUYER:
        raise Forbidden("Buyers have no access to improvement plans here.")
    position = pagination.position(factory_id=str)
    async with remediation.store.reading() as connection:
        rows = await projections.plan_rows(
            connection,
            after=position["factory_id"] if position else None,
            limit=pagination.limit + 1,
            factory_id=principal.factory_id if principal.role is Role.FACTORY else None,
        )
    more = len(rows) > pagination.limit
    rows = rows[: pagination.limit]
    cursor = encode_cursor({"factory_id": rows[-1]["factory_id"]}) if more else None
    return Page[PlanPublic](items=[plan_public(row) for row in rows], next_cursor=cursor)


@plans_router.get("/{factory_id}", response_model=PlanPublic)
async def get_plan(
    factory_id: PathId, principal: CurrentPrincipal, remediation: RemediationDep, response: Response
) -> PlanPublic:
    """A factory's plan: progress and publication; the ETag is the plan's version."""
    check_access(principal, factory_id)
    async with remediation.store.reading() as connection:
        row = await projections.plan_row(connection, factory_id)
    if row is None:
        raise NotFound(f"No improvement plan for factory {factory_id}.")
    set_etag(response, row["version"])
    return plan_public(row)


@plans_router.get("/{factory_id}/items", response_model=Page[ItemPublic])
async def list_items(
    factory_id: PathId,
    principal: CurrentPrincipal,
    remediation: RemediationDep,
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
    async with remediation.store.reading() as connection:
        if await projections.plan_row(connection, factory_id) is None:
            raise NotFound(f"No improvement plan for factory {factory_id}.")
        rows = await projections.item_rows(
            connection,
            factory_id,
            projections.ItemFilter(status_filter, critical, overdue, persistent),
            after=after,
            limit=pagination.limit + 1,
        )
    more = len(rows) > pagination.limit
    rows = rows[: pagination.limit]
    cursor = (
        encode_cursor(
            {"due_date": rows[-1]["due_date"].isoformat(), "item_id": rows[-1]["item_id"]}
        )
        if more
        else None
    )
    return Page[ItemPublic](items=[ItemPublic(**row) for row in rows], next_cursor=cursor)


@plans_router.get("/{factory_id}/items/{item_id}", response_model=ItemPublic)
async def get_item(
    factory_id: PathId, item_id: PathId, principal: CurrentPrincipal, remediation: RemediationDep
) -> ItemPublic:
    """One item of the plan."""
    check_access(principal, factory_id)
    async with remediation.store.reading() as connection:
        row = await projections.item_row(connection, factory_id, item_id)
    if row is None:
        raise NotFound(f"No item {item_id} in the plan of factory {factory_id}.")
    return ItemPublic(**row)


@plans_router.patch("/{factory_id}/items/{item_id}", response_model=ItemPublic)
async def update_item(
    factory_id: PathId,
    item_id: PathId,
    body: ItemDetailsUpdate,
    principal: CurrentPrincipal,
    remediation: RemediationDep,
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
    with command_context(principal, correlation_id):
        async with remediation.store.unit_of_work() as uow:
            plan = await change_item_details(command, uow, remediation)
    set_etag(response, plan.next_version)
    return ItemPublic(**plan.items[item_id].model_dump())


@plans_router.post("/{factory_id}/items/{item_id}/status", response_model=ItemPublic)
async def change_status(
    factory_id: PathId,
    item_id: PathId,
    body: StatusChange,
    principal: CurrentPrincipal,
    remediation: RemediationDep,
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
    try:
        with command_context(principal, correlation_id):
            async with remediation.store.unit_of_work() as uow:
                plan = await change_item_status(command, uow, remediation)
    except TransitionNotAllowed as refused:
        raise Conflict(
            str(refused),
            title="Transition not allowed",
            type_slug="transition-not-allowed",
            extensions={
                "current_status": refused.current.value,
                "requested_status": refused.requested.value,
                "allowed": [status.value for status in refused.allowed],
            },
        ) from None
    set_etag(response, plan.next_version)
    return ItemPublic(**plan.items[item_id].model_dump())


@plans_router.post(
    "/{factory_id}/publications", response_model=PlanPublic, status_code=status.HTTP_201_CREATED
)
async def publish(
    factory_id: PathId,
    principal: CurrentPrincipal,
    remediation: RemediationDep,
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
    with command_context(principal, correlation_id):
        async with remediation.store.unit_of_work() as uow:
            plan = await publish_plan(command, uow, remediation)
            row = await projections.plan_row(uow.connection, factory_id)
    assert row is not None
    set_etag(response, plan.next_version)
    return plan_public(row)


@plans_router.get("/{factory_id}/record", response_model=RemediationRecord)
async def get_record(
    factory_id: PathId, principal: CurrentPrincipal, remediation: RemediationDep
) -> RemediationRecord:
    """The factory's remediation record over its assessments: opened, verified, days to verify."""
    check_access(principal, factory_id)
    async with remediation.store.reading() as connection:
        if await projections.plan_row(connection, factory_id) is None:
            raise NotFound(f"No improvement plan for factory {factory_id}.")
        entries = [
            RecordEntry(**row)
            for row in await projections.remediation_record(connection, factory_id)
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


async def committee_public(connection: AsyncConnection, factory_id: str) -> CommitteePublic | None:
    """The committee with its first page of meetings."""
    row = await projections.committee_row(connection, factory_id, meetings=MEETINGS_ON_COMMITTEE)
    if row is None:
        return None
    more = row.pop("meeting_count") > MEETINGS_ON_COMMITTEE
    cursor = encode_cursor({"offset": MEETINGS_ON_COMMITTEE}) if more else None
    return CommitteePublic(**row, meetings_next_cursor=cursor)


@committees_router.get("/{factory_id}", response_model=CommitteePublic)
async def get_committee(
    factory_id: PathId, principal: CurrentPrincipal, remediation: RemediationDep, response: Response
) -> CommitteePublic:
    """The factory's committee: members by side and the meetings logged."""
    check_access(principal, factory_id)
    async with remediation.store.reading() as connection:
        committee = await committee_public(connection, factory_id)
    if committee is None:
        raise NotFound(f"Factory {factory_id} has no committee yet.")
    set_etag(response, committee.version)
    return committee


@committees_router.get("/{factory_id}/meetings", response_model=Page[dict[str, Any]])
async def list_meetings(
    factory_id: PathId,
    principal: CurrentPrincipal,
    remediation: RemediationDep,
    pagination: Pagination,
) -> Page[dict[str, Any]]:
    """The committee's meetings in the order they were logged, a page at a time."""
    check_access(principal, factory_id)
    position = pagination.position(offset=int)
    offset = position["offset"] if position else 0
    async with remediation.store.reading() as connection:
        found = await projections.committee_meetings(
            connection, factory_id, offset=offset, limit=pagination.limit
        )
    if found is None:
        raise NotFound(f"Factory {factory_id} has no committee yet.")
    meetings, count = found
    following = offset + len(meetings)
    cursor = encode_cursor({"offset": following}) if following < count else None
    return Page[dict[str, Any]](items=meetings, next_cursor=cursor)


def require_committee_editor(principal: Principal, factory_id: str) -> None:
    check_access(principal, factory_id)
    if principal.role not in (Role.FACTORY, Role.ADMIN):
        raise Forbidden("Only the factory's users and admins keep its committee.")


@committees_router.put("/{factory_id}/members", response_model=CommitteePublic)
async def put_members(
    factory_id: PathId,
    body: MembersUpdate,
    principal: CurrentPrincipal,
    remediation: RemediationDep,
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
    with command_context(principal, correlation_id):
        async with remediation.store.unit_of_work() as uow:
            await set_committee_members(command, uow, remediation)
            committee = await committee_public(uow.connection, factory_id)
    assert committee is not None
    set_etag(response, committee.version)
    return committee


@committees_router.post(
    "/{factory_id}/meetings", response_model=CommitteePublic, status_code=status.HTTP_201_CREATED
)
async def post_meeting(
    factory_id: PathId,
    body: MeetingCreate,
    principal: CurrentPrincipal,
    remediation: RemediationDep,
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
    with command_context(principal, correlation_id):
        async with remediation.store.unit_of_work() as uow:
            await log_committee_meeting(command, uow, remediation)
            committee = await committee_public(uow.connection, factory_id)
    assert committee is not None
    set_etag(response, committee.version)
    return committee
