"""The factory as this service knows it: a narrow record of the assessment service's factory (its
country and name, from its public events), its assessment cycles (for advisory days per cycle),
and the training it received, one `TrainingReceived` per delivered session it took part in (so
that each factory's public `TrainingSessionDelivered` is about that factory alone, with it as the
CloudEvents subject, even for an open session of several factories)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict

from libs.domain.aggregate import AggregateType, Snapshots
from libs.domain.envelope import DomainEvent
from services.advisory.ids import FACTORY_STREAM_PREFIX


class GroupCount(BaseModel):
    """Participants of one role and gender, and how many of them completed."""

    model_config = ConfigDict(frozen=True)

    role: str
    gender: str
    participants: int
    completions: int


class FactoryRecorded(DomainEvent):
    """The assessment service registered or updated the factory (its stream's version)."""

    factory_id: str
    name: str
    country: str
    upstream_version: int


class AssessmentCycleRecorded(DomainEvent):
    factory_id: str
    cycle: int
    report_date: date


class TrainingReceived(DomainEvent):
    """The factory's part of a delivered session: counts only, never a participant."""

    factory_id: str
    session_id: str
    country: str
    course_code: str
    course_version: int
    course_title: str
    open_session: bool
    start_date: date
    end_date: date
    training_days: int
    language: str
    plan_item_ids: tuple[str, ...]
    groups: tuple[GroupCount, ...]
    delivered_on: date


@dataclass(frozen=True)
class FactoryRecord:
    factory_id: str = ""
    name: str = ""
    country: str | None = None
    upstream_version: int = 0
    cycles: Mapping[int, date] = field(default_factory=dict)
    trainings: frozenset[str] = frozenset()

    @property
    def known(self) -> bool:
        """Registered by the assessment service (a cycle may arrive first, in a replay)."""
        return self.country is not None


def evolve(record: FactoryRecord, event: DomainEvent) -> FactoryRecord:
    if isinstance(event, FactoryRecorded):
        return replace(
            record,
            factory_id=event.factory_id,
            name=event.name,
            country=event.country,
            upstream_version=event.upstream_version,
        )
    if isinstance(event, AssessmentCycleRecorded):
        cycles = {**record.cycles, event.cycle: event.report_date}
        return replace(record, factory_id=event.factory_id, cycles=cycles)
    if isinstance(event, TrainingReceived):
        return replace(record, trainings=record.trainings | {event.session_id})
    return record


def _dump(record: FactoryRecord) -> dict[str, Any]:
    return {
        "factory_id": record.factory_id,
        "name": record.name,
        "country": record.country,
        "upstream_version": record.upstream_version,
        "cycles": {str(cycle): day.isoformat() for cycle, day in record.cycles.items()},
        "trainings": sorted(record.trainings),
    }


def _restore(data: dict[str, Any]) -> FactoryRecord:
    return FactoryRecord(
        factory_id=data["factory_id"],
        name=data["name"],
        country=data["country"],
        upstream_version=data["upstream_version"],
        cycles={int(cycle): date.fromisoformat(day) for cycle, day in data["cycles"].items()},
        trainings=frozenset(data["trainings"]),
    )


FACTORY: AggregateType[FactoryRecord] = AggregateType(
    stream_type="factory",
    stream_prefix=FACTORY_STREAM_PREFIX,
    initial=FactoryRecord(),
    evolve=evolve,
    snapshots=Snapshots(every=50, dump=_dump, restore=_restore),
)


def record_factory(
    record: FactoryRecord, factory_id: str, name: str, country: str, upstream_version: int
) -> list[DomainEvent]:
    """Order-safe and idempotent: an upstream version at or below the one recorded (a
    redelivery, a replayed dead letter) changes nothing."""
    if upstream_version <= record.upstream_version:
        return []
    return [
        FactoryRecorded(
            factory_id=factory_id,
            name=name,
            country=country.upper(),
            upstream_version=upstream_version,
        )
    ]


def record_cycle(
    record: FactoryRecord, factory_id: str, cycle: int, report_date: date
) -> list[DomainEvent]:
    if record.cycles.get(cycle) == report_date:
        return []
    return [AssessmentCycleRecorded(factory_id=factory_id, cycle=cycle, report_date=report_date)]


def receive_training(record: FactoryRecord, training: TrainingReceived) -> list[DomainEvent]:
    """Once per session and factory: a retried delivery records nothing again."""
    if training.session_id in record.trainings:
        return []
    return [training]


def cycle_on(cycles: Mapping[int, date], day: date) -> int:
    """The assessment cycle a day falls in: the latest cycle whose report came out on or before
    it (0 before the first report). Advisory work between two assessments belongs to the
    cycle of the earlier one."""
    current = 0
    for cycle, report_date in cycles.items():
        if report_date <= day and cycle > current:
            current = cycle
    return current
