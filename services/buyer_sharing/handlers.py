"""Command handlers of buyer sharing: each runs its aggregate through the repository (load,
authorize, decide, append, project the own read models, read the caller's answer, commit), and
at the end the registry COMMAND_HANDLERS that the service definition runs commands through.

Authorization that needs the aggregate (is this access request addressed to the caller's factory?)
runs in `authorize=`, before the idempotency replay point; the route has already checked the role
and the caller's own tenant. The reactions to upstream events are the consumers' (consumers.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from libs.domain.aggregate import Change, Loaded
from libs.domain.errors import NotFound
from libs.events.store import ConcurrencyConflict
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
from services.buyer_sharing.dependencies import Dependencies, answering
from services.buyer_sharing.domain import access_request, buyer, sharing
from services.buyer_sharing.ids import pair_id

# A consumer's or a second request's concurrent append to the same stream: decide again.
CONFLICT_RETRIES = 3


async def register_buyer(command: RegisterBuyer, deps: Dependencies) -> Change[buyer.Buyer]:
    at = deps.clock()
    return await deps.buyers.execute(
        command.buyer_id,
        lambda state: buyer.register_buyer(
            state,
            buyer_id=command.buyer_id,
            name=command.name,
            country=command.country,
            contact_name=command.contact_name,
            contact_email=command.contact_email,
            by=command.by,
            at=at,
        ),
        answer=answering(deps, lambda answers, unit: answers.buyer(unit, command.buyer_id)),
    )


async def _require_buyer(deps: Dependencies, unit: Any, buyer_id: str) -> None:
    if not (await deps.buyers.load(unit, buyer_id)).state.registered:
        raise NotFound(f"buyer {buyer_id} not found")


async def grant_sharing(command: GrantSharing, deps: Dependencies) -> Change[sharing.Sharing]:
    at = deps.clock()
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        await _require_buyer(deps, unit, command.buyer_id)
        return await deps.sharing.execute(
            pair_id(command.factory_id, command.buyer_id),
            lambda state: sharing.grant(
                state,
                factory_id=command.factory_id,
                buyer_id=command.buyer_id,
                by=command.by,
                at=at,
                ends_on=command.ends_on,
                reason=command.reason,
            ),
            expected_version=command.expected_version,
            unit=unit,
            answer=answering(
                deps,
                lambda answers, unit: answers.grant(unit, command.factory_id, command.buyer_id),
            ),
        )


async def revoke_sharing(command: RevokeSharing, deps: Dependencies) -> Change[sharing.Sharing]:
    at = deps.clock()
    return await deps.sharing.execute(
        pair_id(command.factory_id, command.buyer_id),
        lambda state: sharing.revoke(
            state,
            factory_id=command.factory_id,
            buyer_id=command.buyer_id,
            by=command.by,
            at=at,
            reason=command.reason,
        ),
        expected_version=command.expected_version,
        # a caller that sent If-Match decided on the version it saw: no deciding again
        conflict_retries=CONFLICT_RETRIES if command.expected_version is None else 0,
        answer=answering(
            deps, lambda answers, unit: answers.grant(unit, command.factory_id, command.buyer_id)
        ),
    )


async def request_access(
    command: RequestAccess, deps: Dependencies
) -> Change[access_request.AccessRequest]:
    """Recorded the same way whether or not the factory exists: the buyer learns nothing."""
    at = deps.clock()
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        await _require_buyer(deps, unit, command.buyer_id)
        factory_id = command.factory_id
        if factory_id is None and command.os_id is not None:
            factory_id = await deps.lookups.factory_by_os_id(unit, command.os_id)
        # counted under the buyer's lock, so requests racing each other never pass the limit
        open_requests = await deps.lookups.open_requests(unit, command.buyer_id)
        return await deps.requests.execute(
            command.request_id,
            lambda state: access_request.request_access(
                state,
                request_id=command.request_id,
                buyer_id=command.buyer_id,
                factory_id=factory_id,
                os_id=command.os_id,
                message=command.message,
                by=command.by,
                at=at,
                open_requests=open_requests,
                max_open_requests=deps.max_open_requests,
            ),
            unit=unit,
            answer=answering(
                deps, lambda answers, unit: answers.access_request(unit, command.request_id)
            ),
        )


def _addressed_to(
    factory_id: str, os_id: str | None, request_id: str
) -> Callable[[Loaded[access_request.AccessRequest]], None]:
    def authorize(loaded: Loaded[access_request.AccessRequest]) -> None:
        if not access_request.addressed_to(loaded.state, factory_id, os_id):
            raise NotFound(f"access request {request_id} not found")

    return authorize


async def approve_access_request(
    command: ApproveAccessRequest, deps: Dependencies
) -> Change[sharing.Sharing]:
    """Approve: the request is decided and the grant made in one transaction."""
    at = deps.clock()
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        os_id = await deps.lookups.factory_os_id(unit, command.factory_id)
        decided = await deps.requests.execute(
            command.request_id,
            lambda state: access_request.approve(
                state,
                request_id=command.request_id,
                factory_id=command.factory_id,
                by=command.by,
                at=at,
                ends_on=command.ends_on,
                reason=command.reason,
            ),
            authorize=_addressed_to(command.factory_id, os_id, command.request_id),
            unit=unit,
        )
        buyer_id = decided.state.buyer_id
        return await deps.sharing.execute(
            pair_id(command.factory_id, buyer_id),
            lambda state: sharing.grant(
                state,
                factory_id=command.factory_id,
                buyer_id=buyer_id,
                by=command.by,
                at=at,
                ends_on=command.ends_on,
                reason=command.reason,
                access_request_id=command.request_id,
            ),
            unit=unit,
            answer=answering(
                deps, lambda answers, unit: answers.grant(unit, command.factory_id, buyer_id)
            ),
        )


async def decline_access_request(
    command: DeclineAccessRequest, deps: Dependencies
) -> Change[access_request.AccessRequest]:
    at = deps.clock()
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        os_id = await deps.lookups.factory_os_id(unit, command.factory_id)
        return await deps.requests.execute(
            command.request_id,
            lambda state: access_request.decline(
                state,
                request_id=command.request_id,
                factory_id=command.factory_id,
                by=command.by,
                at=at,
                reason=command.reason,
            ),
            authorize=_addressed_to(command.factory_id, os_id, command.request_id),
            unit=unit,
            answer=answering(
                deps, lambda answers, unit: answers.access_request(unit, command.request_id)
            ),
        )


async def declare_audit_reliance(
    command: DeclareAuditReliance, deps: Dependencies
) -> Change[sharing.Sharing]:
    """Declared on the pair's stream, naming a completed assessment of the factory; decided
    again on a concurrent append to the pair (a revocation, another declaration)."""
    at = deps.clock()
    attempt = 0
    while True:
        try:
            return await _declare_once(command, deps, at)
        except ConcurrencyConflict:
            attempt += 1
            if attempt > CONFLICT_RETRIES:
                raise


async def _declare_once(
    command: DeclareAuditReliance, deps: Dependencies, at: datetime
) -> Change[sharing.Sharing]:
    """One attempt, in one unit of work: the assessment looked up, then decided after consent
    (`sharing.declare_reliance`: an unshared factory is a 404 whatever it names)."""
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        completed = await deps.lookups.completed_assessment(
            unit, command.factory_id, command.assessment_id
        )
        return await deps.sharing.execute(
            pair_id(command.factory_id, command.buyer_id),
            lambda state: sharing.declare_reliance(
                state,
                reliance_id=command.reliance_id,
                factory_id=command.factory_id,
                buyer_id=command.buyer_id,
                assessment_id=command.assessment_id,
                assessment_completed=completed,
                period_start=command.period_start,
                period_end=command.period_end,
                by=command.by,
                at=at,
                note=command.note,
            ),
            unit=unit,
            answer=answering(
                deps, lambda answers, unit: answers.reliance(unit, command.reliance_id)
            ),
        )


async def withdraw_audit_reliance(
    command: WithdrawAuditReliance, deps: Dependencies
) -> Change[sharing.Sharing]:
    at = deps.clock()
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        factory_id = await deps.lookups.reliance_factory(
            unit, command.reliance_id, command.buyer_id
        )
        if factory_id is None:
            raise NotFound(f"audit reliance {command.reliance_id} not found")
        return await deps.sharing.execute(
            pair_id(factory_id, command.buyer_id),
            lambda state: sharing.withdraw_reliance(
                state,
                reliance_id=command.reliance_id,
                factory_id=factory_id,
                buyer_id=command.buyer_id,
                by=command.by,
                at=at,
                reason=command.reason,
            ),
            unit=unit,
            answer=answering(
                deps, lambda answers, unit: answers.reliance(unit, command.reliance_id)
            ),
        )


COMMAND_HANDLERS: Mapping[type[Any], Callable[[Any, Dependencies], Awaitable[Change[Any]]]] = {
    RegisterBuyer: register_buyer,
    GrantSharing: grant_sharing,
    RevokeSharing: revoke_sharing,
    RequestAccess: request_access,
    ApproveAccessRequest: approve_access_request,
    DeclineAccessRequest: decline_access_request,
    DeclareAuditReliance: declare_audit_reliance,
    WithdrawAuditReliance: withdraw_audit_reliance,
}
