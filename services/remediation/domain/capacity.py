"""Capacity building done for a factory's plan items: the training sessions and advisory visits the
advisory service reported (its public events) that named items of the factory's plan, recorded as
this service's own history (aggregate `CapacityBuilding`, one stream per factory), so that a
rebuild replays them like every other fact. Pure.

An activity is kept under the factory its event is about and the item ids it names, whether the
plan has those items yet or not: the read side shows it on an item of that factory's plan once
the item exists (an activity that arrived before the finding it addresses), and never on another
factory's item."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from pydantic import BaseModel, ConfigDict

from libs.domain.aggregate import AggregateType, Snapshots
from libs.domain.envelope import DomainEvent
from libs.domain.types import ID_MAX_LENGTH
from services.remediation.ids import CAPACITY_STREAM_PREFIX


class TrainingSessionRecorded(DomainEvent):
    """A training session delivered with participants of the factory addressed these items of its
    plan (the factory's counts only: no participant leaves the advisory service)."""

    factory_id: str
    session_id: str
    course_code: str
    course_title: str
    start_date: date
    end_date: date
    training_days: int
    participants: int
    completions: int
    plan_item_ids: tuple[str, ...]


class AdvisoryVisitRecorded(DomainEvent):
    """An enterprise advisor's visit to the factory worked on these items of its plan."""

    factory_id: str
    visit_id: str
    visited_on: date
    duration_days: float
    purpose: str
    committee_meeting_id: str | None = None
    plan_item_ids: tuple[str, ...]


Activity = TrainingSessionRecorded | AdvisoryVisitRecorded

CAPACITY_EVENTS: tuple[type[DomainEvent], ...] = (TrainingSessionRecorded, AdvisoryVisitRecorded)


class CapacityBuilding(BaseModel):
    """The factory's recorded sessions and visits, by their advisory ids."""

    model_config = ConfigDict(frozen=True)

    sessions: dict[str, TrainingSessionRecorded] = {}
    visits: dict[str, AdvisoryVisitRecorded] = {}

    def activities(self) -> list[Activity]:
        return [*self.sessions.values(), *self.visits.values()]

    def knows(self, activity: Activity) -> bool:
        if isinstance(activity, TrainingSessionRecorded):
            return activity.session_id in self.sessions
        return activity.visit_id in self.visits


def evolve(state: CapacityBuilding, event: DomainEvent) -> CapacityBuilding:
    match event:
        case TrainingSessionRecorded():
            return state.model_copy(
                update={"sessions": {**state.sessions, event.session_id: event}}
            )
        case AdvisoryVisitRecorded():
            return state.model_copy(update={"visits": {**state.visits, event.visit_id: event}})
        case _:
            return state


CAPACITY = AggregateType(
    stream_type="CapacityBuilding",
    stream_prefix=CAPACITY_STREAM_PREFIX,
    initial=CapacityBuilding(),
    evolve=evolve,
    # a factory gathers a few dozen sessions and visits a year; each new one loads the stream
    snapshots=Snapshots(
        every=50,
        dump=lambda state: state.model_dump(mode="json"),
        restore=CapacityBuilding.model_validate,
    ),
)


def addressed_items(item_ids: Iterable[str]) -> tuple[str, ...]:
    """The ids that can name an item of a plan, each once, in the order given. This service's item
    ids are identifiers of at most 64 characters: a longer one (which the producer's contract does
    not allow) could never show on an item, and would not fit the read model's key."""
    kept: dict[str, None] = {}
    for item_id in item_ids:
        if 0 < len(item_id) <= ID_MAX_LENGTH:
            kept.setdefault(item_id, None)
    return tuple(kept)


def record_activity(state: CapacityBuilding, activity: Activity) -> list[DomainEvent]:
    """Record a session or visit once: the same session or visit again (a redelivery under
    another event id, a replayed dead letter) decides nothing, whatever the order of arrival,
    since the producer publishes each once. One that names no plan item is no capacity building
    of the plan: nothing is recorded."""
    if state.knows(activity):
        return []
    item_ids = addressed_items(activity.plan_item_ids)
    if not item_ids:
        return []
    return [activity.model_copy(update={"plan_item_ids": item_ids})]
