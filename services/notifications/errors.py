"""Domain errors of notifications: plain exceptions with a `detail`, mapped to problem+json once,
in app.py. Another buyer's endpoint, message or delivery is always `NotFound` (404)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    """A command the domain refuses (422 unless a subclass says otherwise)."""

    def __init__(self, detail: str, extensions: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions: Mapping[str, Any] = dict(extensions or {})


class NotFound(DomainError):
    """The resource does not exist, or belongs to another buyer (404)."""


class UnknownEventTypes(DomainError):
    """The endpoint asks for event types that are not deliverable (422, lists the known ones)."""


class UnsafeUrl(DomainError):
    """The URL is not https, or its host resolves to an address webhooks may not reach (422)."""


class EndpointDeleted(DomainError):
    """The endpoint was deleted; nothing more can be done with it (404 at the edge)."""


class EndpointDisabled(DomainError):
    """The endpoint is disabled: enable it before redelivering (409)."""


class PayloadExpired(DomainError):
    """The message's payload is past its retention and cannot be sent again (410)."""


class OverlapOutOfRange(DomainError):
    """A rotation's overlap is negative or longer than 7 days (422)."""
