"""How an imported record's history is written: its stream in one append (each event at its
business time, attributed to the bundle), and, for a whole request, the read models' rows by
binary COPY, worked out by the rebuild's functions from the events just appended (so a rebuild
gives the same rows).

Fast (issue 19: 20,000 events/s): a request appends while it decides (`Appender`: the database
stores one record's stream while the next record is decided)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
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
    """The record's new stream in one statement, each step's events at the step's day.

    No snapshot is written: a later live command on an imported stream (a correction of an old
    report, rare) folds its hundred events, while a snapshot per imported assessment cost the
    import as much as all its findings' rows (measured)."""
    events: list[DomainEvent] = []
    contexts: list[EventContext] = []
    for step in history.steps:
        with batch.at(step.on, item):
            context = current_context()
        events.extend(step.events)
        contexts.extend([context] * len(step.events))
    envelopes = await unit.append(
        aggregate.stream_id(aggregate_id),
        stream_type=aggregate.stream_type,
        expected_version=0,  # a new stream: a concurrent import of the same record is a 409
        events=events,
        subject=subject,
        contexts=contexts,
    )
    batch.appended(len(events))
    return [
        Appended(event, envelope.streamversion, envelope.time)
        for event, envelope in zip(events, envelopes, strict=True)
    ]


@dataclass
class Appender:
    """Appends one record's stream at a time, without waiting for it: `append` starts the
    statement and returns as soon as it is sent, so the caller decides the next record while
    the database stores this one; `written` waits for the last one and gives them all."""

    unit: UnitOfWork
    done: list[list[Appended]] = field(default_factory=list)
    _pending: asyncio.Task[list[Appended]] | None = None

    async def append(
        self,
        batch: ImportBatch[Any],
        item: Numbered[Any],
        aggregate: AggregateType[Any],
        aggregate_id: str,
        history: History[Any],
        *,
        subject: str,
    ) -> None:
        await self._settle()  # one statement at a time on the connection
        self._pending = asyncio.create_task(
            append_history(
                self.unit, batch, item, aggregate, aggregate_id, history, subject=subject
            )
        )
        await asyncio.sleep(0)  # it builds its envelopes and sends its statement

    async def written(self) -> list[list[Appended]]:
        await self._settle()
        return self.done

    async def _settle(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.done.append(await pending)

    async def abandon(self) -> None:
        """Wait for the statement under way before the caller's error leaves the unit (the
        statement's own error, if any, is dropped: the caller's is the one raised)."""
        with suppress(Exception):
            await self._settle()


async def write_rows(
    connection: AsyncConnection, rows: Mapping[Table, Sequence[dict[str, Any]]]
) -> None:
    """Each table's rows by binary COPY, tables in the order given."""
    for table, table_rows in rows.items():
        await copy_rows(connection, table, table_rows)
