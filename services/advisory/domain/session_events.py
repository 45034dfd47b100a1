"""What a training session's commands carry (sign-in sheet lines, survey forms: validated where
built) and its internal events (stored facts, decoded without request rules)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from libs.domain.envelope import DomainEvent
from libs.domain.types import PlausibleDate, ResourceId, SafeLine
from services.advisory.domain.vocabulary import Gender, ItemId, ParticipantRole, Phase

MAX_PLAN_ITEMS = 50
MAX_FACTORIES = 50
MAX_CAPACITY = 500
MAX_SHEET_DAYS = 30


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class FactoryPart(_Request):
    """A factory taking part in a session, with the improvement plan items the session addresses
    there (the remediation service's item ids)."""

    factory_id: ResourceId
    plan_item_ids: tuple[ResourceId, ...] = Field((), max_length=MAX_PLAN_ITEMS)

    @field_validator("plan_item_ids")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("plan item ids must not repeat")
        return value


class AttendeeLine(_Request):
    """One line of a sign-in sheet: a participant and the session days they attended."""

    participant_id: ResourceId = Field(
        description="The factory's pseudonymous id of the participant (unique in the factory)."
    )
    factory_id: ResourceId | None = Field(
        None, description="The participant's factory; may be left out in a one-factory session."
    )
    role: ParticipantRole
    gender: Gender
    name: SafeLine | None = Field(
        None, min_length=1, max_length=200, description="Optional; never leaves the service."
    )
    attended_on: tuple[PlausibleDate, ...] = Field(min_length=1, max_length=MAX_SHEET_DAYS)

    @field_validator("attended_on")
    @classmethod
    def _distinct_days(cls, value: tuple[date, ...]) -> tuple[date, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a day is signed once per line")
        return value


class ResponseLine(_Request):
    """One participant's survey form: before (pre) or after (post) the training."""

    participant_id: ResourceId
    factory_id: ResourceId | None = None
    phase: Phase
    survey_version: int = Field(ge=1, le=10_000)
    answers: dict[ItemId, Annotated[int, Field(ge=1, le=10)]] = Field(
        min_length=1,
        max_length=50,
        description="Item id to the answer on the instrument's scale.",
        # the keys' pattern is the only way in: no other property is valid
        json_schema_extra={"additionalProperties": False},
    )


# --- stored values (no request rules) ---------------------------------------------------------


class SessionFactory(BaseModel):
    model_config = ConfigDict(frozen=True)

    factory_id: str
    plan_item_ids: tuple[str, ...] = ()


class Attendee(BaseModel):
    model_config = ConfigDict(frozen=True)

    participant_id: str
    factory_id: str
    role: str
    gender: str
    name: str | None = None
    attended_on: tuple[date, ...]


class SurveyResponse(BaseModel):
    model_config = ConfigDict(frozen=True)

    participant_id: str
    factory_id: str
    phase: str
    survey_id: str
    survey_version: int
    answers: dict[str, int]
    score_sum: int
    score_items: int


# --- internal events --------------------------------------------------------------------------


class SessionScheduled(DomainEvent):
    session_id: str
    course_code: str
    course_version: int
    course_title: str
    training_days: int
    country: str
    open_session: bool
    factories: tuple[SessionFactory, ...]
    trainer: str
    start_date: date
    end_date: date
    capacity: int
    language: str
    survey_id: str | None = None


class SessionRescheduled(DomainEvent):
    """The session's plan as it now is."""

    session_id: str
    trainer: str
    start_date: date
    end_date: date
    capacity: int
    language: str


class AttendanceRecorded(DomainEvent):
    """One sign-in sheet, whole."""

    session_id: str
    attendees: tuple[Attendee, ...]


class SurveyResponsesRecorded(DomainEvent):
    session_id: str
    responses: tuple[SurveyResponse, ...]


class SessionDelivered(DomainEvent):
    session_id: str
    delivered_on: date


class SessionCancelled(DomainEvent):
    session_id: str
    reason: str
