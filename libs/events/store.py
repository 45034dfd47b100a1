"""PostgreSQL event store: append with an expected version, load a stream (optionally from a snapshot),
and the transactional outbox, all in the service's own schema.

An append is a single SQL statement: the stream row is advanced only if it is still at the expected
version, and the events and their outbox entries are inserted in the same statement, so a conflict
writes nothing and a success writes everything, in the caller's transaction.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opentelemetry import propagate
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.events.envelope import (
    DomainEvent,
    Envelope,
    EventRegistry,
    current_context,
    utcnow,
)
from libs.events.nats import subject_for

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def checked_schema(schema: str) -> str:
    """Schema names are interpolated into SQL, so only plain lowercase identifiers are accepted."""
    if not _IDENTIFIER.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return schema


class ConcurrencyConflict(Exception):
    """Another writer appended to the stream since it was loaded (HTTP 409)."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int | None = None):
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(
            f"stream {stream_id!r} is not at version {expected_version}"
            + (f" (it is at {actual_version})" if actual_version is not None else "")
        )


class StreamNotFound(Exception):
    """The stream has no events."""


@dataclass(frozen=True)
class RecordedEvent:
    """A stored event with the facts about its recording."""

    stream_id: str
    version: int
    event_id: str
    event_type: str
    subject: str
    event: DomainEvent
    recorded_at: datetime
    metadata: dict[str, Any]

    @property
    def actor(self) -> str | None:
        value = self.metadata.get("actor")
        return str(value) if value is not None else None


@dataclass
class Snapshot:
    version: int
    state: dict[str, Any]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


class EventStore:
    """One service's event store. `unit_of_work()` opens a transaction for commands and projections."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        schema: str,
        registry: EventRegistry,
        subject_prefix: str = "",
    ) -> None:
        self.engine = engine
        self.schema = checked_schema(schema)
        self.registry = registry
        self.service = registry.service
        self.source = f"/betterwork/{registry.service}"
        self.subject_prefix = subject_prefix
        self.notify_channel = f"{self.schema}_outbox"
        self._after_commit: list[Callable[[], None]] = []
        s = self.schema
        self._append_sql = text(
            f"""
            WITH advanced AS (
                INSERT INTO "{s}".stream AS current (stream_id, stream_type, version, updated_at)
                VALUES (:stream_id, :stream_type, :new_version, :recorded_at)
                ON CONFLICT (stream_id) DO UPDATE
                    SET version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
                    WHERE current.version = :expected_version
                RETURNING version
            ), stored AS (
                INSERT INTO "{s}".event
                    (stream_id, version, event_id, event_type, subject, data, metadata, recorded_at)
                SELECT :stream_id, e.version, e.event_id, e.event_type, :subject,
                       CAST(e.data AS jsonb), CAST(:metadata AS jsonb), :recorded_at
                FROM unnest(CAST(:versions AS int[]), CAST(:event_ids AS uuid[]),
                            CAST(:event_types AS text[]), CAST(:datas AS text[]))
                     AS e(version, event_id, event_type, data)
                WHERE EXISTS (SELECT 1 FROM advanced)
                RETURNING 1
            ), queued AS (
                INSERT INTO "{s}".outbox (event_id, nats_subject, payload, traceparent)
                SELECT o.event_id, o.nats_subject, o.payload, :traceparent
                FROM unnest(CAST(:event_ids AS uuid[]), CAST(:nats_subjects AS text[]),
                            CAST(:payloads AS bytea[])) AS o(event_id, nats_subject, payload)
                WHERE EXISTS (SELECT 1 FROM advanced)
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM advanced) AS advanced,
                   (SELECT count(*) FROM stored) AS stored,
                   (SELECT count(*) FROM queued) AS queued,
                   pg_notify(:channel, '')
            """
        )
        self._load_sql = text(
            f"""
            SELECT version, event_id, event_type, subject, data, metadata, recorded_at
            FROM "{s}".event WHERE stream_id = :stream_id AND version > :after_version
            ORDER BY version
            """
        )
        self._version_sql = text(f'SELECT version FROM "{s}".stream WHERE stream_id = :stream_id')
        self._snapshot_sql = text(
            f'SELECT version, state FROM "{s}".snapshot WHERE stream_id = :stream_id'
        )
        self._save_snapshot_sql = text(
            f"""
            INSERT INTO "{s}".snapshot (stream_id, version, state) VALUES
                (:stream_id, :version, CAST(:state AS jsonb))
            ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version,
                state = EXCLUDED.state, created_at = now()
            WHERE "{s}".snapshot.version < EXCLUDED.version
            """
        )

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` after every committed unit of work that appended (wakes the relay)."""
        self._after_commit.append(callback)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        async with self.engine.begin() as connection:
            unit = UnitOfWork(self, connection)
            yield unit
        if unit.appended:
            for callback in self._after_commit:
                callback()

    async def load(self, stream_id: str, *, after_version: int = 0) -> list[RecordedEvent]:
        async with self.engine.connect() as connection:
            return await UnitOfWork(self, connection).load(stream_id, after_version=after_version)

    async def stream_version(self, stream_id: str) -> int:
        async with self.engine.connect() as connection:
            return await UnitOfWork(self, connection).stream_version(stream_id)


@dataclass
class UnitOfWork:
    """One transaction: load streams, append events (with their outbox entries), update read models."""

    store: EventStore
    connection: AsyncConnection
    appended: list[Envelope] = field(default_factory=list)

    async def load(self, stream_id: str, *, after_version: int = 0) -> list[RecordedEvent]:
        result = await self.connection.execute(
            self.store._load_sql, {"stream_id": stream_id, "after_version": after_version}
        )
        registry = self.store.registry
        return [
            RecordedEvent(
                stream_id=stream_id,
                version=row.version,
                event_id=str(row.event_id),
                event_type=row.event_type,
                subject=row.subject,
                event=registry.decode_data(row.event_type, _json(row.data)),
                recorded_at=row.recorded_at,
                metadata=_json(row.metadata),
            )
            for row in result
        ]

    async def stream_version(self, stream_id: str) -> int:
        version = await self.connection.scalar(self.store._version_sql, {"stream_id": stream_id})
        return int(version or 0)

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        row = (
            await self.connection.execute(self.store._snapshot_sql, {"stream_id": stream_id})
        ).first()
        return Snapshot(row.version, _json(row.state)) if row else None

    async def save_snapshot(self, stream_id: str, version: int, state: dict[str, Any]) -> None:
        await self.connection.execute(
            self.store._save_snapshot_sql,
            {"stream_id": stream_id, "version": version, "state": json.dumps(state)},
        )

    async def append(
        self,
        stream_id: str,
        *,
        stream_type: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        subject: str,
    ) -> list[Envelope]:
        """Append `events` to the stream if it is still at `expected_version` (0: a new stream).

        `subject` is the CloudEvents subject: the factory the events are about.
        Raises ConcurrencyConflict and writes nothing if another writer got there first.
        """
        if not events:
            return []
        store = self.store
        context = current_context()
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        recorded_at = utcnow()
        envelopes = [
            Envelope(
                id=str(uuid.uuid4()),
                source=store.source,
                type=store.registry.type_of(event),
                subject=subject,
                time=recorded_at,
                data=event.model_dump(mode="json"),
                traceparent=carrier.get("traceparent"),
                tracestate=carrier.get("tracestate"),
                correlationid=context.correlation_id,
                causationid=context.causation_id,
                streamid=stream_id,
                streamversion=expected_version + offset,
            )
            for offset, event in enumerate(events, start=1)
        ]
        metadata = {
            "source": store.source,
            "correlationid": context.correlation_id,
            "causationid": context.causation_id,
            "traceparent": carrier.get("traceparent"),
            "tracestate": carrier.get("tracestate"),
            "actor": context.actor,
        }
        parameters = {
            "stream_id": stream_id,
            "stream_type": stream_type,
            "expected_version": expected_version,
            "new_version": expected_version + len(events),
            "recorded_at": recorded_at,
            "subject": subject,
            "metadata": json.dumps(metadata),
            "versions": [e.streamversion for e in envelopes],
            "event_ids": [e.id for e in envelopes],
            "event_types": [e.type for e in envelopes],
            "datas": [json.dumps(e.data) for e in envelopes],
            "nats_subjects": [
                subject_for(store.subject_prefix, store.service, e.event_name) for e in envelopes
            ],
            "payloads": [e.to_json() for e in envelopes],
            "traceparent": carrier.get("traceparent"),
            "channel": store.notify_channel,
        }
        try:
            row = (await self.connection.execute(store._append_sql, parameters)).one()
        except IntegrityError as error:
            raise ConcurrencyConflict(stream_id, expected_version) from error
        if row.advanced == 0:
            raise ConcurrencyConflict(stream_id, expected_version)
        self.appended.extend(envelopes)
        return envelopes
