"""`/v1/committees`: the factory's bipartite committee (PICC), its members and its meetings, the
first page of them with the committee and the rest a page at a time."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from libs.servicekit.auth import CurrentPrincipal
from libs.servicekit.http import (
    CorrelationId,
    IdempotencyKey,
    IfMatch,
    Page,
    Pagination,
    encode_cursor,
    parse_if_match,
    set_etag,
)
from libs.servicekit.problems import NotFound
from libs.servicekit.service import RunCommand, run_as
from libs.servicekit.types import PathId
from services.remediation import queries
from services.remediation.api.common import Deps, check_access, require_committee_editor
from services.remediation.commands import LogCommitteeMeeting, NewMember, SetCommitteeMembers
from services.remediation.schemas import (
    MEETINGS_ON_COMMITTEE,
    CommitteePublic,
    MeetingCreate,
    MembersUpdate,
)

committees_router = APIRouter(prefix="/v1/committees", tags=["committees"])


def committee_public(row: dict[str, Any], meeting_count: int) -> CommitteePublic:
    """The committee with its first page of meetings (`row["meetings"]` holds at least those)."""
    first_page = MEETINGS_ON_COMMITTEE
    cursor = encode_cursor({"offset": first_page}) if meeting_count > first_page else None
    return CommitteePublic(
        **{**row, "meetings": row["meetings"][:first_page]}, meetings_next_cursor=cursor
    )


@committees_router.get("/{factory_id}", response_model=CommitteePublic)
async def get_committee(
    factory_id: PathId, deps: Deps, principal: CurrentPrincipal, response: Response
) -> CommitteePublic:
    """The factory's committee: members by side and the meetings logged."""
    await check_access(deps, principal, factory_id)
    async with deps.store.reading() as connection:
        row = await queries.committee_row(connection, factory_id, meetings=MEETINGS_ON_COMMITTEE)
    if row is None:
        raise NotFound(f"Factory {factory_id} has no committee yet.")
    set_etag(response, row["version"])
    return committee_public(row, row.pop("meeting_count"))


@committees_router.get("/{factory_id}/meetings", response_model=Page[dict[str, Any]])
async def list_meetings(
    factory_id: PathId,
    deps: Deps,
    principal: CurrentPrincipal,
    pagination: Pagination,
) -> Page[dict[str, Any]]:
    """The committee's meetings in the order they were logged, a page at a time."""
    await check_access(deps, principal, factory_id)
    position = pagination.position(offset=int)
    offset = position["offset"] if position else 0
    async with deps.store.reading() as connection:
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
    deps: Deps,
    run: RunCommand,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> CommitteePublic:
    """Set the committee's members: equal numbers of management and worker representatives."""
    await require_committee_editor(deps, principal, factory_id)
    command = SetCommitteeMembers(
        factory_id=factory_id,
        members=[NewMember(m.member_id, m.name, m.side, m.position) for m in body.members],
        changed_by=principal.subject,
        expected_version=parse_if_match(if_match),
    )
    change = await run_as(run, principal, correlation_id, command)
    set_etag(response, change.version)
    return committee_public(change.answer, len(change.answer["meetings"]))


@committees_router.post(
    "/{factory_id}/meetings", response_model=CommitteePublic, status_code=status.HTTP_201_CREATED
)
async def post_meeting(
    factory_id: PathId,
    body: MeetingCreate,
    deps: Deps,
    run: RunCommand,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> CommitteePublic:
    """Log a meeting: date, attendees (member ids), decisions, and whether it endorsed the plan."""
    await require_committee_editor(deps, principal, factory_id)
    command = LogCommitteeMeeting(
        factory_id=factory_id,
        held_on=body.held_on,
        attendees=body.attendees,
        decisions=body.decisions,
        endorses_plan=body.endorses_plan,
        logged_by=principal.subject,
        expected_version=parse_if_match(if_match),
    )
    change = await run_as(run, principal, correlation_id, command)
    set_etag(response, change.version)
    return committee_public(change.answer, len(change.answer["meetings"]))
