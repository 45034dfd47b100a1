"""The WebhookEndpoint aggregate: a buyer's https URL, the public event types it wants, an
optional subset of its shared factories, and its signing secret (only the secret's id and
fingerprint are facts here; the secret itself lives encrypted in a table of its own). Its events,
state, `evolve`, decisions, and the rules the handlers check before and around them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from libs.domain.aggregate import AggregateType, Loaded
from libs.domain.envelope import DomainEvent
from libs.domain.errors import NotFound
from services.notifications.errors import (
    EndpointDeleted,
    EndpointDisabled,
    EndpointLimitReached,
    OverlapOutOfRange,
    UnknownEventTypes,
)
from services.notifications.upstream import DELIVERABLE


class WebhookEndpointRegistered(DomainEvent):
    endpoint_id: str
    buyer_id: str
    url: str
    event_types: tuple[str, ...]
    factory_ids: tuple[str, ...] | None = None
    description: str = ""
    secret_id: str
    secret_fingerprint: str
    registered_by: str
    registered_at: datetime


class WebhookEndpointUpdated(DomainEvent):
    endpoint_id: str
    url: str
    event_types: tuple[str, ...]
    factory_ids: tuple[str, ...] | None = None
    description: str = ""
    updated_by: str
    updated_at: datetime


class WebhookEndpointSecretRotated(DomainEvent):
    endpoint_id: str
    secret_id: str
    secret_fingerprint: str
    previous_secret_id: str
    previous_valid_until: datetime
    rotated_by: str
    rotated_at: datetime


class WebhookEndpointEnabled(DomainEvent):
    endpoint_id: str
    enabled_by: str
    enabled_at: datetime


class WebhookEndpointDisabled(DomainEvent):
    endpoint_id: str
    buyer_id: str
    reason: str  # "manual", "gone" (410), "failing" (a message failed its whole schedule)
    detail: str = ""
    disabled_by: str
    disabled_at: datetime


class WebhookEndpointDeleted(DomainEvent):
    endpoint_id: str
    deleted_by: str
    deleted_at: datetime


ENDPOINT_EVENTS: tuple[type[DomainEvent], ...] = (
    WebhookEndpointRegistered,
    WebhookEndpointUpdated,
    WebhookEndpointSecretRotated,
    WebhookEndpointEnabled,
    WebhookEndpointDisabled,
    WebhookEndpointDeleted,
)


@dataclass(frozen=True)
class Endpoint:
    registered: bool = False
    buyer_id: str = ""
    url: str = ""
    event_types: tuple[str, ...] = ()
    factory_ids: tuple[str, ...] | None = None
    description: str = ""
    enabled: bool = False
    deleted: bool = False
    secret_id: str = ""


def evolve(state: Endpoint, event: DomainEvent) -> Endpoint:
    if isinstance(event, WebhookEndpointRegistered):
        return Endpoint(
            registered=True,
            buyer_id=event.buyer_id,
            url=event.url,
            event_types=tuple(event.event_types),
            factory_ids=event.factory_ids,
            description=event.description,
            enabled=True,
            secret_id=event.secret_id,
        )
    if isinstance(event, WebhookEndpointUpdated):
        return replace(
            state,
            url=event.url,
            event_types=tuple(event.event_types),
            factory_ids=event.factory_ids,
            description=event.description,
        )
    if isinstance(event, WebhookEndpointSecretRotated):
        return replace(state, secret_id=event.secret_id)
    if isinstance(event, WebhookEndpointEnabled):
        return replace(state, enabled=True)
    if isinstance(event, WebhookEndpointDisabled):
        return replace(state, enabled=False)
    if isinstance(event, WebhookEndpointDeleted):
        return replace(state, enabled=False, deleted=True)
    return state


# the longest a rotated-out secret keeps signing beside the new one
MAX_OVERLAP_SECONDS = 7 * 24 * 3600

ENDPOINT = AggregateType(
    stream_type="WebhookEndpoint", stream_prefix="endpoint-", initial=Endpoint(), evolve=evolve
)


def _existing(state: Endpoint, endpoint_id: str) -> None:
    if not state.registered:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    if state.deleted:
        raise EndpointDeleted(f"webhook endpoint {endpoint_id} was deleted")


def register(
    state: Endpoint,
    *,
    endpoint_id: str,
    buyer_id: str,
    url: str,
    event_types: tuple[str, ...],
    factory_ids: tuple[str, ...] | None,
    description: str,
    secret_id: str,
    secret_fingerprint: str,
    by: str,
    at: datetime,
) -> list[DomainEvent]:
    if state.registered:
        return []  # the same id again: an idempotent repeat
    return [
        WebhookEndpointRegistered(
            endpoint_id=endpoint_id,
            buyer_id=buyer_id,
            url=url,
            event_types=event_types,
            factory_ids=factory_ids,
            description=description,
            secret_id=secret_id,
            secret_fingerprint=secret_fingerprint,
            registered_by=by,
            registered_at=at,
        )
    ]


def update(
    state: Endpoint,
    *,
    endpoint_id: str,
    url: str | None,
    event_types: tuple[str, ...] | None,
    factory_ids: tuple[str, ...] | None,
    factory_ids_given: bool,
    description: str | None,
    enabled: bool | None,
    by: str,
    at: datetime,
) -> list[DomainEvent]:
    _existing(state, endpoint_id)
    events: list[DomainEvent] = []
    new_url = url if url is not None else state.url
    new_types = event_types if event_types is not None else state.event_types
    new_factories = factory_ids if factory_ids_given else state.factory_ids
    new_description = description if description is not None else state.description
    if (new_url, new_types, new_factories, new_description) != (
        state.url,
        state.event_types,
        state.factory_ids,
        state.description,
    ):
        events.append(
            WebhookEndpointUpdated(
                endpoint_id=endpoint_id,
                url=new_url,
                event_types=new_types,
                factory_ids=new_factories,
                description=new_description,
                updated_by=by,
                updated_at=at,
            )
        )
    if enabled is True and not state.enabled:
        events.append(WebhookEndpointEnabled(endpoint_id=endpoint_id, enabled_by=by, enabled_at=at))
    if enabled is False and state.enabled:
        events.append(
            WebhookEndpointDisabled(
                endpoint_id=endpoint_id,
                buyer_id=state.buyer_id,
                reason="manual",
                disabled_by=by,
                disabled_at=at,
            )
        )
    return events


def disable(
    state: Endpoint, *, endpoint_id: str, reason: str, detail: str, by: str, at: datetime
) -> list[DomainEvent]:
    """The dispatcher's disable (410, or a whole schedule failed); nothing if already disabled."""
    if not state.registered or state.deleted or not state.enabled:
        return []
    return [
        WebhookEndpointDisabled(
            endpoint_id=endpoint_id,
            buyer_id=state.buyer_id,
            reason=reason,
            detail=detail,
            disabled_by=by,
            disabled_at=at,
        )
    ]


def rotate_secret(
    state: Endpoint,
    *,
    endpoint_id: str,
    secret_id: str,
    secret_fingerprint: str,
    previous_valid_until: datetime,
    by: str,
    at: datetime,
) -> list[DomainEvent]:
    _existing(state, endpoint_id)
    return [
        WebhookEndpointSecretRotated(
            endpoint_id=endpoint_id,
            secret_id=secret_id,
            secret_fingerprint=secret_fingerprint,
            previous_secret_id=state.secret_id,
            previous_valid_until=previous_valid_until,
            rotated_by=by,
            rotated_at=at,
        )
    ]


def delete(state: Endpoint, *, endpoint_id: str, by: str, at: datetime) -> list[DomainEvent]:
    _existing(state, endpoint_id)
    return [WebhookEndpointDeleted(endpoint_id=endpoint_id, deleted_by=by, deleted_at=at)]


def within_endpoint_limit(buyer_id: str, endpoints: int, limit: int) -> None:
    """A buyer registers a new endpoint only while it has fewer than `limit` (not deleted)."""
    if endpoints >= limit:
        raise EndpointLimitReached(
            f"buyer {buyer_id} has {endpoints} webhook endpoints, the most it may have: delete "
            "one first",
            {"limit": limit},
        )


def checked_event_types(types: tuple[str, ...]) -> tuple[str, ...]:
    """The types without repeats, in the order given; refused if one is not deliverable."""
    unknown = sorted(set(types) - set(DELIVERABLE))
    if unknown:
        raise UnknownEventTypes(
            f"unknown event types: {', '.join(unknown)}",
            {"unknown": unknown, "known": sorted(DELIVERABLE)},
        )
    return tuple(dict.fromkeys(types))


def rotation_overlap_ends(at: datetime, overlap_seconds: int) -> datetime:
    """Until when the rotated-out secret keeps signing beside the new one."""
    if not 0 <= overlap_seconds <= MAX_OVERLAP_SECONDS:
        raise OverlapOutOfRange(
            f"overlap_seconds must be between 0 and {MAX_OVERLAP_SECONDS} (7 days)",
            {"maximum": MAX_OVERLAP_SECONDS},
        )
    return at + timedelta(seconds=overlap_seconds)


def owned_by(caller_buyer_id: str | None, endpoint_id: str) -> Callable[[Loaded[Endpoint]], None]:
    """The authorization of a command on an endpoint: it exists, is not deleted, and is the
    caller's buyer's (None: an admin, any buyer's). Anything else is a 404, never a 403."""

    def authorize(loaded: Loaded[Endpoint]) -> None:
        state = loaded.state
        if not state.registered or state.deleted:
            raise NotFound(f"webhook endpoint {endpoint_id} not found")
        if caller_buyer_id is not None and state.buyer_id != caller_buyer_id:
            raise NotFound(f"webhook endpoint {endpoint_id} not found")

    return authorize


def require_enabled(state: Endpoint, endpoint_id: str, hint: str = "") -> None:
    """For what sends to the endpoint (a test message, a redelivery, a recovery)."""
    if not state.enabled:
        raise EndpointDisabled(f"webhook endpoint {endpoint_id} is disabled{hint}")
