"""The AccessRequest aggregate: a buyer asks a factory, named by factory id or OS ID, for access;
the factory approves (which grants, on the SharingGrant aggregate) or declines.

A request is recorded whether or not the factory exists, so its answer tells the buyer nothing
before consent; `factory_id` is the factory it was resolved to (by id, or by OS ID when the
factory was known), `os_id` what the buyer typed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Literal

from libs.domain.aggregate import AggregateType
from libs.domain.envelope import DomainEvent
from libs.domain.errors import NotFound
from services.buyer_sharing.errors import AlreadyDecided, TooManyOpenRequests

RequestStatus = Literal["pending", "approved", "declined"]


class AccessRequested(DomainEvent):
    request_id: str
    buyer_id: str
    factory_id: str | None = None
    os_id: str | None = None
    message: str = ""
    requested_by: str
    requested_at: datetime


class AccessApproved(DomainEvent):
    """Internal: the public fact is the SharingGranted that names this request."""

    request_id: str
    factory_id: str
    buyer_id: str
    approved_by: str
    approved_at: datetime
    ends_on: date | None = None
    reason: str = ""


class AccessDeclined(DomainEvent):
    request_id: str
    factory_id: str
    buyer_id: str
    declined_by: str
    declined_at: datetime
    reason: str = ""


ACCESS_REQUEST_EVENTS: tuple[type[DomainEvent], ...] = (
    AccessRequested,
    AccessApproved,
    AccessDeclined,
)


@dataclass(frozen=True)
class AccessRequest:
    exists: bool = False
    buyer_id: str = ""
    factory_id: str | None = None
    os_id: str | None = None
    status: RequestStatus = "pending"


def evolve(request: AccessRequest, event: DomainEvent) -> AccessRequest:
    if isinstance(event, AccessRequested):
        return replace(
            request,
            exists=True,
            buyer_id=event.buyer_id,
            factory_id=event.factory_id,
            os_id=event.os_id,
        )
    if isinstance(event, AccessApproved):
        return replace(request, status="approved", factory_id=event.factory_id)
    if isinstance(event, AccessDeclined):
        return replace(request, status="declined", factory_id=event.factory_id)
    return request


ACCESS_REQUEST = AggregateType(
    stream_type="AccessRequest",
    stream_prefix="access-request-",
    initial=AccessRequest(),
    evolve=evolve,
)


def addressed_to(request: AccessRequest, factory_id: str, factory_os_id: str | None) -> bool:
    """The request names this factory, by id or by its OS ID."""
    if not request.exists:
        return False
    if request.factory_id is not None:
        return request.factory_id == factory_id
    return request.os_id is not None and request.os_id == factory_os_id


def request_access(
    request: AccessRequest,
    *,
    request_id: str,
    buyer_id: str,
    factory_id: str | None,
    os_id: str | None,
    message: str,
    by: str,
    at: datetime,
    open_requests: int = 0,
    max_open_requests: int | None = None,
) -> list[DomainEvent]:
    """A new pending request, unless the buyer already has `max_open_requests` pending ones
    (`open_requests`, counted by the handler)."""
    if request.exists:  # a retried creation: nothing new happened
        return []
    if max_open_requests is not None and open_requests >= max_open_requests:
        raise TooManyOpenRequests(
            f"buyer {buyer_id} has {open_requests} pending access requests, the most it may "
            "have; wait for a factory to decide one",
            limit=max_open_requests,
        )
    return [
        AccessRequested(
            request_id=request_id,
            buyer_id=buyer_id,
            factory_id=factory_id,
            os_id=os_id,
            message=message,
            requested_by=by,
            requested_at=at,
        )
    ]


def _pending(request: AccessRequest, request_id: str) -> None:
    if not request.exists:
        raise NotFound(f"access request {request_id} not found")
    if request.status != "pending":
        raise AlreadyDecided(
            f"access request {request_id} was already {request.status}",
            {"status": request.status},
        )


def approve(
    request: AccessRequest,
    *,
    request_id: str,
    factory_id: str,
    by: str,
    at: datetime,
    ends_on: date | None,
    reason: str = "",
) -> list[DomainEvent]:
    _pending(request, request_id)
    return [
        AccessApproved(
            request_id=request_id,
            factory_id=factory_id,
            buyer_id=request.buyer_id,
            approved_by=by,
            approved_at=at,
            ends_on=ends_on,
            reason=reason,
        )
    ]


def decline(
    request: AccessRequest, *, request_id: str, factory_id: str, by: str, at: datetime, reason: str
) -> list[DomainEvent]:
    _pending(request, request_id)
    return [
        AccessDeclined(
            request_id=request_id,
            factory_id=factory_id,
            buyer_id=request.buyer_id,
            declined_by=by,
            declined_at=at,
            reason=reason,
        )
    ]
