"""Kinds the advisory service imports: delivered training sessions and advisory visits."""

from __future__ import annotations

from datetime import date
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.domain.history.bundle import SOURCE_ID_PATTERN, Record


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class AttendeeEntry(_Part):
    """One participant (no name: the programme's history keeps counts, not people)."""

    factory: str = Field(pattern=SOURCE_ID_PATTERN)
    role: Literal["worker", "supervisor", "manager", "committee_member"]
    gender: Literal["female", "male", "other", "undisclosed"]
    days_attended: int = Field(ge=0, le=60)


class TrainingSessionRecord(Record):
    """A delivered training session of a course in the catalogue, with its attendance."""

    course_code: str = Field(min_length=1, max_length=40)
    factories: tuple[str, ...] = Field(min_length=1)
    start_date: date
    end_date: date
    language: str = Field(default="en", pattern=r"^[a-z]{2}$")
    trainer: str | None = Field(default=None, max_length=200)
    attendees: tuple[AttendeeEntry, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        if len(set(self.factories)) != len(self.factories):
            raise ValueError("a factory is named twice")
        if any(attendee.factory not in self.factories for attendee in self.attendees):
            raise ValueError("an attendee's factory is not among the session's factories")
        return self


class AdvisoryVisitRecord(Record):
    factory: str = Field(pattern=SOURCE_ID_PATTERN)
    visited_on: date
    duration_days: float = Field(gt=0, le=30, multiple_of=0.5)
    purpose: Literal[
        "committee_support",
        "improvement_plan",
        "management_systems",
        "training_follow_up",
        "other",
    ]
    notes: str = Field(default="", max_length=4000)
