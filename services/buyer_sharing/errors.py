"""Domain errors of buyer sharing: plain exceptions with a `detail`, mapped to problem+json once,
in app.py. A missing or unshared resource is always `NotFound` (404), never a 403: a buyer must not
learn that an unshared factory exists."""

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
    """The resource does not exist, or the caller may not know that it does (404)."""


class AlreadyExists(DomainError):
    """The identifier is taken (409)."""


class AlreadyDecided(DomainError):
    """The access request was already approved or declined (409)."""


class InvalidPeriod(DomainError):
    """A date or period that cannot be (422)."""
