"""What callers ask buyer sharing to do: frozen models with imperative names. `by` is the acting
user's subject; request validation (lengths, patterns) happens at the edge, in schemas.py."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict


class Command(BaseModel):
    model_config = ConfigDict(frozen=True)


class RegisterBuyer(Command):
    buyer_id: str
    name: str
    country: str
    contact_name: str
    contact_email: str
    by: str


class GrantSharing(Command):
    factory_id: str
    buyer_id: str
    ends_on: date | None = None
    reason: str = ""
    by: str
    expected_version: int | None = None
    """The grant's version the caller saw (If-Match); None: whatever it is now."""


class RevokeSharing(Command):
    factory_id: str
    buyer_id: str
    reason: str
    by: str
    expected_version: int | None = None
    """The grant's version the caller saw (If-Match); None: whatever it is now."""


class RequestAccess(Command):
    request_id: str
    buyer_id: str
    factory_id: str | None = None
    os_id: str | None = None
    message: str = ""
    by: str


class ApproveAccessRequest(Command):
    request_id: str
    factory_id: str
    """The approving factory (the caller's own)."""
    ends_on: date | None = None
    reason: str = ""
    by: str


class DeclineAccessRequest(Command):
    request_id: str
    factory_id: str
    reason: str
    by: str


class DeclareAuditReliance(Command):
    reliance_id: str
    factory_id: str
    buyer_id: str
    assessment_id: str
    """A completed assessment of the factory (known from the assessment service's events)."""
    period_start: date
    period_end: date
    note: str = ""
    by: str


class WithdrawAuditReliance(Command):
    reliance_id: str
    buyer_id: str
    reason: str
    by: str
