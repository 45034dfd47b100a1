"""Kinds the buyer sharing service imports: buyers, sharing grants, audit reliance declarations."""

from __future__ import annotations

from datetime import date
from typing import Self

from pydantic import Field, model_validator

from libs.domain.history.bundle import SOURCE_ID_PATTERN, Record


class BuyerRecord(Record):
    name: str = Field(min_length=1, max_length=200)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="Where the buyer is based.")
    contact_name: str = Field(min_length=1, max_length=200)
    contact_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    joined_on: date


class GrantRecord(Record):
    """A factory's grant to a buyer: in force from `granted_on` until `ends_on` (inclusive) or
    until `revoked_on`, whichever is first."""

    buyer: str = Field(pattern=SOURCE_ID_PATTERN)
    factory: str = Field(pattern=SOURCE_ID_PATTERN)
    granted_on: date
    ends_on: date | None = None
    revoked_on: date | None = None
    reason: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _period(self) -> Self:
        if self.ends_on is not None and self.ends_on < self.granted_on:
            raise ValueError("ends_on is before granted_on")
        if self.revoked_on is not None and self.revoked_on < self.granted_on:
            raise ValueError("revoked_on is before granted_on")
        return self


class RelianceRecord(Record):
    """A buyer's declaration that it relies on the programme's assessment instead of its own
    audit, for a period."""

    buyer: str = Field(pattern=SOURCE_ID_PATTERN)
    factory: str = Field(pattern=SOURCE_ID_PATTERN)
    assessment: str = Field(pattern=SOURCE_ID_PATTERN, description="The assessment's source id.")
    declared_on: date
    period_start: date
    period_end: date
    withdrawn_on: date | None = None
    note: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _period(self) -> Self:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        if self.withdrawn_on is not None and self.withdrawn_on < self.declared_on:
            raise ValueError("withdrawn_on is before declared_on")
        return self
