"""Buyer sharing's own domain errors, on the shared bases of `libs.domain.errors` (mapped to
problem+json once, by the library's defaults and service.py's PROBLEMS). A missing or unshared
resource is always `libs.domain.errors.NotFound` (404), never a 403: a buyer must not learn that an
unshared factory exists."""

from __future__ import annotations

from libs.domain.errors import Conflict, DomainError


class AlreadyDecided(Conflict):
    """The access request was already approved or declined (409 `already-decided`)."""


class TooManyOpenRequests(Conflict):
    """The buyer has as many pending access requests as it may (409 `too-many-open-requests`,
    with the `limit`)."""


class InvalidPeriod(DomainError):
    """A date or period that cannot be (422 `invalid-period`)."""


class UnknownAssessment(DomainError):
    """A reliance names no completed assessment of its factory (422 `unknown-assessment`)."""


class RejectedRecord(DomainError):
    """A record of a programme's history breaks a rule of the domain: `field` is the record's
    field at fault (the import's row error; nothing of the request is imported)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail, field=field)
        self.field = field
