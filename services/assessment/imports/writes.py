"""How an imported record's history is written: its stream in one append (each event at its
business time, attributed to the bundle), its snapshot, and the read models' rows of a whole
request by binary COPY, worked out by the rebuild's functions from the events just appended (so a
rebuild gives the same rows)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.aggregate import AggregateType
from libs.domain.envelope import DomainEvent, EventContext, current_context
from libs.events.history import copy_rows
from libs.events.store import UnitOfWork
from libs.servicekit.imports import ImportBatch, Numbered
from services.assessment.domain.history import History, Rejected


@dataclass(frozen=True, slots=True)
class Appended:
    """An event just appended, with its version and business time (a `rebuild.Fact`)."""

    event: DomainEvent
    version: int
    occurred_at: datetime


def reject(batch: ImportBatch[Any], item: Numbered[Any], rejected: Rejected) -> None:
    for rejection in rejected.rejections:
        batch.reject(item, rejection.field, rejection.reason)


async def append_history(
    unit: UnitOfWork,
    batch: ImportBatch[Any],
    item: Numbered[Any],
    aggregate: AggregateType[Any],
    aggregate_id: str,
    history: History[Any],
    *,
    subject: str,
) -> list[Appended]:
    """The record's new stream in one statement, each step's events at the step's day; a
    snapshot of the last state when the stream is as long as the aggregate snapshots (a later
    live command then loads it, not the whole stream)."""
    events: list[DomainEvent] = []
    contexts: list[EventContext] = []
    for step in history.steps:
        with batch.at(step.on, item):
            context = current_context()
        events.extend(step.events)
        contexts.extend([context] * len(step.events))
    stream_id = aggregate.stream_id(aggregate_id)
    envelopes = await unit.append(
        stream_id,
        stream_type=aggregate.stream_type,
        expected_version=0,  # a new stream: a concurrent import of the same record is a 409
        events=events,
        subject=subject,
        contexts=contexts,
    )
    snapshots = aggregate.snapshots
    if snapshots is not None and len(events) >= snapshots.every:
        await unit.save_snapshot(
            stream_id,
            len(events),
            {"_shape": snapshots.version, "state": snapshots.dump(history.state)},
        )
    batch.appended(len(events))
    return [
        Appended(event, envelope.streamversion, envelope.time)
        for event, envelope in zip(events, envelopes, strict=True)
    ]


async def write_rows(
    connection: AsyncConnection, rows: Mapping[Table, Sequence[dict[str, Any]]]
) -> None:
    """Each table's rows by binary COPY, tables in the order given."""
    for table, table_rows in rows.items():
        await copy_rows(connection, table, table_rows)
