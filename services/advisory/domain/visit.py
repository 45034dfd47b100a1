"""The AdvisoryVisit aggregate: an enterprise advisor's visit to a factory between assessments,
planned, then completed (the day, the days spent, internal notes, the improvement plan items and
the committee meeting it supported) or cancelled. Its notes never leave the service."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from libs.domain.aggregate import AggregateType
from libs.domain.envelope import DomainEvent
from libs.domain.errors import AlreadyExists
from services.advisory.domain.actor import ADMIN, ASSESSOR, Actor
from services.advisory.domain.factory import FactoryRecord
from services.advisory.domain.vocabulary import VisitStatus
from services.advisory.errors import (
    DateOutOfRange,
    NoSuchVisit,
    NotResponsible,
    UnknownFactory,
    VisitClosed,
)
from services.advisory.ids import VISIT_STREAM_PREFIX

PLANNING_HORIZON = timedelta(days=366)


class VisitPlanned(DomainEvent):
    visit_id: str
    factory_id: str
    country: str
    advisor: str
    planned_for: date
    purpose: str
    description: str = ""


class VisitCompleted(DomainEvent):
    visit_id: str
    factory_id: str
    visited_on: date
    duration_days: float
    notes: str
    plan_item_ids: tuple[str, ...]
    committee_meeting_id: str | None


class VisitCancelled(DomainEvent):
    visit_id: str
    reason: str


@dataclass(frozen=True)
class Visit:
    visit_id: str
    factory_id: str
    country: str
    advisor: str
    planned_for: date
    purpose: str
    description: str
    status: VisitStatus = VisitStatus.PLANNED
    visited_on: date | None = None
    duration_days: float | None = None
    notes: str | None = None
    plan_item_ids: tuple[str, ...] = ()
    committee_meeting_id: str | None = None
    cancel_reason: str | None = None


def evolve(visit: Visit | None, event: DomainEvent) -> Visit | None:
    if isinstance(event, VisitPlanned):
        return Visit(
            visit_id=event.visit_id,
            factory_id=event.factory_id,
            country=event.country,
            advisor=event.advisor,
            planned_for=event.planned_for,
            purpose=event.purpose,
            description=event.description,
        )
    if visit is None:
        return None
    if isinstance(event, VisitCompleted):
        return replace(
            visit,
            status=VisitStatus.COMPLETED,
            visited_on=event.visited_on,
            duration_days=event.duration_days,
            notes=event.notes,
            plan_item_ids=tuple(event.plan_item_ids),
            committee_meeting_id=event.committee_meeting_id,
        )
    if isinstance(event, VisitCancelled):
        return replace(visit, status=VisitStatus.CANCELLED, cancel_reason=event.reason)
    return visit


def _factory_of(visit_id: str, visit: Visit | None) -> str:
    """A visit's events are about its factory (the CloudEvents subject)."""
    return visit.factory_id if visit is not None else visit_id


VISIT: AggregateType[Visit | None] = AggregateType(
    stream_type="advisory_visit", stream_prefix=VISIT_STREAM_PREFIX, initial=None, evolve=evolve
)


def visible(visit: Visit | None, visit_id: str, actor: Actor) -> Visit:
    if visit is None or not actor.sees(visit.country, (visit.factory_id,)):
        raise NoSuchVisit(f"advisory visit {visit_id} does not exist")
    return visit


def _responsible(visit: Visit, actor: Actor) -> None:
    if not (actor.role == ADMIN or (actor.role == ASSESSOR and actor.subject == visit.advisor)):
        raise NotResponsible(f"only the visit's advisor ({visit.advisor}) changes it")


def _open(visit: Visit) -> None:
    if visit.status is not VisitStatus.PLANNED:
        raise VisitClosed(f"the visit was {visit.status.value}", status=visit.status.value)


def plan_visit(
    visit: Visit | None,
    *,
    visit_id: str,
    actor: Actor,
    factory_id: str,
    factory: FactoryRecord,
    advisor: str | None,
    planned_for: date,
    purpose: str,
    description: str,
    today: date,
) -> list[DomainEvent]:
    if visit is not None:
        raise AlreadyExists(f"advisory visit {visit_id} exists")
    if not factory.known or not actor.works_in(factory.country):
        raise UnknownFactory(f"factory {factory_id} is not known", factory=factory_id)
    if planned_for > today + PLANNING_HORIZON:
        raise DateOutOfRange(f"a visit is planned at most {PLANNING_HORIZON.days} days ahead")
    if actor.role == ASSESSOR and advisor not in (None, actor.subject):
        raise NotResponsible("an advisor plans their own visits")
    if actor.role != ASSESSOR and advisor is None:
        raise NotResponsible("name the visit's advisor")
    assert factory.country is not None
    return [
        VisitPlanned(
            visit_id=visit_id,
            factory_id=factory_id,
            country=factory.country,
            advisor=advisor or actor.subject,
            planned_for=planned_for,
            purpose=purpose,
            description=description,
        )
    ]


def complete_visit(
    visit: Visit,
    actor: Actor,
    *,
    visited_on: date,
    duration_days: float,
    notes: str,
    plan_item_ids: tuple[str, ...],
    committee_meeting_id: str | None,
    today: date,
) -> list[DomainEvent]:
    _open(visit)
    _responsible(visit, actor)
    if visited_on > today:
        raise DateOutOfRange("a visit is completed on or after the day it took place")
    return [
        VisitCompleted(
            visit_id=visit.visit_id,
            factory_id=visit.factory_id,
            visited_on=visited_on,
            duration_days=duration_days,
            notes=notes,
            plan_item_ids=plan_item_ids,
            committee_meeting_id=committee_meeting_id,
        )
    ]


def cancel_visit(visit: Visit, actor: Actor, reason: str) -> list[DomainEvent]:
    _open(visit)
    _responsible(visit, actor)
    return [VisitCancelled(visit_id=visit.visit_id, reason=reason)]


subject_of = _factory_of
"""The repository's `subject_of` for visits."""
