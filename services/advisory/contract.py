"""The advisory service's public events: its contract with other services (remediation shows the
capacity building done for a plan item, buyer sharing a factory's training and advisory summary)
and with buyers' webhooks, typed, versioned and documented (docs/asyncapi.yaml), translated from
the internal events in one place (`translate`).

Every public event is about one factory, which is its CloudEvents subject and its `factory_id`:
an open session of several factories publishes one `TrainingSessionDelivered` per factory, with
that factory's counts alone. Only counts leave the service: never a participant, a name, a survey
answer or a visit's notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from libs.domain.contract import PublicContract
from libs.domain.envelope import DomainEvent
from services.advisory.domain import factory as factories
from services.advisory.domain import visit as visits

SERVICE = "advisory"


class PublicModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ParticipantGroup(PublicModel):
    """Participants of one role and gender at the factory."""

    role: str = Field(description="worker, supervisor, manager or committee_member.")
    gender: str = Field(description="female, male, other or undisclosed.")
    participants: int = Field(ge=0)
    completions: int = Field(ge=0, description="Participants who attended every training day.")


class TrainingSessionDelivered(DomainEvent):
    """A training session was delivered with participants of the factory (one event per factory
    of an open session, each with its own counts only).

    `plan_item_ids` are the remediation service's improvement plan items of this factory that the
    session addressed."""

    session_id: str
    factory_id: str
    country: str = Field(description="ISO 3166-1 alpha-2 code of the country programme.")
    course_code: str
    course_version: int = Field(ge=1)
    course_title: str
    open_session: bool = Field(description="A session gathering several factories.")
    start_date: date
    end_date: date
    training_days: int = Field(ge=1, description="The course's training days.")
    language: str = Field(description="ISO 639-1 code.")
    plan_item_ids: tuple[str, ...]
    participants: int = Field(ge=0, description="The factory's participants.")
    completions: int = Field(ge=0, description="Of them, those who attended every day.")
    groups: tuple[ParticipantGroup, ...] = Field(description="By role and gender.")
    delivered_on: date = Field(description="When the trainer recorded the delivery.")


class AdvisoryVisitCompleted(DomainEvent):
    """An enterprise advisor's visit to the factory took place (its notes stay internal).

    `plan_item_ids` are the remediation service's improvement plan items the visit worked on,
    `committee_meeting_id` the committee meeting it supported (if any)."""

    visit_id: str
    factory_id: str
    country: str
    visited_on: date
    duration_days: float = Field(gt=0, description="Advisory days spent, in half days.")
    purpose: str = Field(
        description="committee_support, improvement_plan, management_systems, "
        "training_follow_up or other."
    )
    plan_item_ids: tuple[str, ...]
    committee_meeting_id: str | None


PUBLIC_EVENTS: tuple[type[DomainEvent], ...] = (TrainingSessionDelivered, AdvisoryVisitCompleted)


def translate(event: DomainEvent, state: Any = None) -> Sequence[DomainEvent]:
    """The public events an internal event publishes; every field is mapped by name here, so an
    internal change cannot silently change the contract."""
    if isinstance(event, factories.TrainingReceived):
        return [
            TrainingSessionDelivered(
                session_id=event.session_id,
                factory_id=event.factory_id,
                country=event.country,
                course_code=event.course_code,
                course_version=event.course_version,
                course_title=event.course_title,
                open_session=event.open_session,
                start_date=event.start_date,
                end_date=event.end_date,
                training_days=event.training_days,
                language=event.language,
                plan_item_ids=tuple(event.plan_item_ids),
                participants=sum(group.participants for group in event.groups),
                completions=sum(group.completions for group in event.groups),
                groups=tuple(
                    ParticipantGroup(
                        role=group.role,
                        gender=group.gender,
                        participants=group.participants,
                        completions=group.completions,
                    )
                    for group in event.groups
                ),
                delivered_on=event.delivered_on,
            )
        ]
    if isinstance(event, visits.VisitCompleted):
        visit = state if isinstance(state, visits.Visit) else None
        if visit is None:  # the repository always gives the state; a bare append cannot publish
            raise ValueError("a completed visit is published with the visit's state")
        return [
            AdvisoryVisitCompleted(
                visit_id=event.visit_id,
                factory_id=event.factory_id,
                country=visit.country,
                visited_on=event.visited_on,
                duration_days=event.duration_days,
                purpose=visit.purpose,
                plan_item_ids=tuple(event.plan_item_ids),
                committee_meeting_id=event.committee_meeting_id,
            )
        ]
    # courses, surveys, sessions' own events, planned or cancelled visits and the factory record
    # are the service's own history
    return []


CONTRACT = PublicContract.of(SERVICE, PUBLIC_EVENTS, translate)
