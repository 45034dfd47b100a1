"""Domain errors of notifications, on the one base of `libs.domain.errors`: only those that need a
status, title or slug of their own are mapped (service.py). Another buyer's endpoint, message or
delivery is always a `NotFound` (404)."""

from __future__ import annotations

from libs.domain.errors import Conflict, DomainError, NotFound


class UnknownEventTypes(DomainError):
    """The endpoint asks for event types that are not deliverable (422, lists the known ones)."""


class UnsafeUrl(DomainError):
    """The URL is not https, or its host resolves to an address webhooks may not reach (422)."""


class InvalidUrl(DomainError):
    """The URL cannot be parsed: no host, an empty or over-long label, a port out of range (422)."""


class EndpointDeleted(NotFound):
    """The endpoint was deleted; nothing more can be done with it (404)."""


class EndpointLimitReached(Conflict):
    """The buyer has as many endpoints as it may have (409, with the limit)."""


class EndpointDisabled(Conflict):
    """The endpoint is disabled: enable it before redelivering (409)."""


class PayloadExpired(DomainError):
    """The message's payload is past its retention and cannot be sent again (410)."""


class OverlapOutOfRange(DomainError):
    """A rotation's overlap is negative or longer than 7 days (422)."""
