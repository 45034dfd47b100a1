"""The one base of every service's domain errors: plain exceptions with a `detail` and, when the
client needs more (the allowed transitions, the unanswered questions), `extensions` members.
`libs.servicekit.problems.default_problems` maps these bases (and the library's own errors) to
problem+json once; a service maps only its own subclasses that need another status or slug."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    """A rule of the domain refused the command; nothing was changed (422 unless mapped)."""

    def __init__(
        self, detail: str, extensions: Mapping[str, Any] | None = None, **members: Any
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self._extensions: dict[str, Any] = {**(extensions or {}), **members}

    @property
    def extensions(self) -> Mapping[str, Any]:
        """Extension members of the problem document (subclasses may compute them)."""
        return self._extensions


class NotFound(DomainError):
    """No such resource, or one the caller may not know exists (404, never 403: a caller must not
    learn that another tenant's resource exists)."""


class Conflict(DomainError):
    """The command conflicts with the aggregate's current state (409)."""


class AlreadyExists(Conflict):
    """The identifier is taken (409)."""
