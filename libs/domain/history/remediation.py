"""Kinds the remediation service imports: committees and improvement plan items."""

from __future__ import annotations

from datetime import date
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.domain.history.bundle import SOURCE_ID_PATTERN, Record


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class MemberEntry(_Part):
    name: str = Field(min_length=1, max_length=200)
    side: Literal["management", "worker"]
    position: str | None = Field(default=None, max_length=200)


class MeetingEntry(_Part):
    held_on: date
    decisions: tuple[str, ...] = ()
    endorses_plan: bool = False


class CommitteeRecord(Record):
    """A factory's bipartite worker-management committee (PICC) and its meetings."""

    factory: str = Field(pattern=SOURCE_ID_PATTERN)
    established_on: date
    members: tuple[MemberEntry, ...] = Field(min_length=2)
    meetings: tuple[MeetingEntry, ...] = ()

    @model_validator(mode="after")
    def _bipartite(self) -> Self:
        sides = {member.side for member in self.members}
        if sides != {"management", "worker"}:
            raise ValueError("a committee has members of both sides")
        if any(meeting.held_on < self.established_on for meeting in self.meetings):
            raise ValueError("a meeting is dated before the committee was established")
        return self


class StatusChange(_Part):
    status: Literal["open", "in_progress", "done", "verified"]
    on: date
    by: Literal["factory", "assessor"]
    reason: str | None = Field(default=None, max_length=2000)


class PlanItemRecord(Record):
    """The improvement plan item of one non-compliance of an imported assessment, with its plan
    details and its status history (the item opens on the report date)."""

    assessment: str = Field(pattern=SOURCE_ID_PATTERN, description="The assessment's source id.")
    question_id: str = Field(min_length=1, max_length=40)
    root_cause: str | None = Field(default=None, max_length=4000)
    planned_action: str | None = Field(default=None, max_length=4000)
    responsible_person: str | None = Field(default=None, max_length=200)
    due_date: date | None = None
    status_history: tuple[StatusChange, ...] = ()

    @model_validator(mode="after")
    def _history_in_order(self) -> Self:
        days = [change.on for change in self.status_history]
        if days != sorted(days):
            raise ValueError("status_history must be in date order")
        return self
