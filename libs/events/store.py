"""PostgreSQL event store: append with an expected version, load a stream (optionally from a snapshot),
and the transactional outbox, all in the service's own schema.

An append is a single SQL statement: the stream row is advanced only if it is still at the expected
version, and the events and their outbox entries are inserted in the same statement, so a conflict
writes nothing and a success writes everything, in the caller's transaction.
"""

from __future__ import annotations

import asyncio
import json
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import asyncpg
from opentelemetry import propagate
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.domain.contract import PublicContract, public_envelopes
from libs.domain.envelope import (
    DomainEvent,
    Envelope,
    EventContext,
    EventRegistry,
    current_context,
    utcnow,
)
from libs.domain.identifiers import random_ids
from libs.events.ambient import request_transaction
from libs.events.nats import subject_for

APPENDED = Counter("bw_events_appended_total", "Events appended to the event store", ["schema"])

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


@dataclass
class RecordedEvent:
    """A stored event with the facts about its recording."""

    stream_id: str
    version: int
    event_id: str
    event_type: str
    subject: str
    event: DomainEvent
    recorded_at: datetime
    metadata_json: str

    @cached_property
    def metadata(self) -> dict[str, Any]:
        """Correlation, causation, trace context, actor: parsed on first use only."""
        value: dict[str, Any] = json.loads(self.metadata_json)
        return value

    @property
    def actor(self) -> str | None:
        value = self.metadata.get("actor")
        return str(value) if value is not None else None

    @property
    def occurred_at(self) -> datetime:
        """Business time: when the fact happened (imported facts: in the past), else when it was
        recorded. Read from the metadata only when it may hold one."""
        if '"occurred_at"' not in self.metadata_json:
            return self.recorded_at
        value = self.metadata.get("occurred_at")
        return datetime.fromisoformat(value) if isinstance(value, str) else self.recorded_at

    @property
    def imported(self) -> dict[str, Any] | None:
        """The history bundle, kind, source id and importer of an imported fact (else None)."""
        if '"imported"' not in self.metadata_json:
            return None
        value = self.metadata.get("imported")
        return value if isinstance(value, dict) else None


def event_metadata(source: str, context: EventContext, carrier: dict[str, str]) -> str:
    """The stored metadata of an event appended in `context` (what `RecordedEvent` reads back):
    cause, trace, actor, and business time and import origin when the context has them."""
    document: dict[str, Any] = {
        "source": source,
        "correlationid": context.correlation_id,
        "causationid": context.causation_id,
        "traceparent": carrier.get("traceparent"),
        "tracestate": carrier.get("tracestate"),
        "actor": context.actor,
    }
    if context.occurred_at is not None:
        document["occurred_at"] = context.occurred_at.isoformat()
    if context.imported is not None:
        document["imported"] = context.imported.as_metadata()
    return json.dumps(document)


def recorded_from_row(
    stream_id: str,
    row: Sequence[Any],
    decode: Callable[[str, str], DomainEvent],
    first: int = 0,
) -> RecordedEvent:
    """A RecordedEvent from a row holding the event table's columns version, event_id, event_type,
    subject, data, metadata and recorded_at (as text where not plain), from position `first` on."""
    return RecordedEvent(
        stream_id=stream_id,
        version=row[first],
        event_id=row[first + 1],
        event_type=row[first + 2],
        subject=row[first + 3],
        event=decode(row[first + 2], row[first + 4]),
        recorded_at=row[first + 6],
        metadata_json=row[first + 5],
    )


@dataclass
class Snapshot:
    version: int
    state: dict[str, Any]


class EventStore:
    """One service's event store. `unit_of_work()` opens a transaction for commands and projections."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        schema: str,
        registry: EventRegistry,
        subject_prefix: str = "",
        pool_size: int = 10,
        public: PublicContract | None = None,
    ) -> None:
        self.engine = engine
        self.public = public
        self.pool_size = pool_size
        self._asyncpg_pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self.schema = checked_schema(schema)
        self.registry = registry
        self.service = registry.service
        self.source = f"/betterwork/{registry.service}"
        self.subject_prefix = subject_prefix
        self.notify_channel = f"{self.schema}_outbox"
        self._after_commit: list[Callable[[], None]] = []
        s = self.schema
        # Hot-path statements run on the asyncpg driver connection (positional parameters), inside
        # the SQLAlchemy transaction of the unit of work; see UnitOfWork.driver().
        self._append_sql = f"""
            WITH advanced AS (
                INSERT INTO "{s}".stream AS current (stream_id, stream_type, version, updated_at)
                VALUES ($1, $2, $3, $4)
                ON CONFLICT (stream_id) DO UPDATE
                    SET version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
                    WHERE current.version = $5
                RETURNING version
            ), stored AS (
                INSERT INTO "{s}".event
                    (stream_id, version, event_id, event_type, subject, data, metadata, recorded_at)
                SELECT $1, e.version, e.event_id, e.event_type, $6,
                       CAST(e.data AS jsonb), CAST(e.metadata AS jsonb), $4
                FROM unnest($8::int[], $9::uuid[], $10::text[], $11::text[], $7::text[])
                     AS e(version, event_id, event_type, data, metadata)
                WHERE EXISTS (SELECT 1 FROM advanced)
                RETURNING 1
            ), queued AS (
                INSERT INTO "{s}".outbox (event_id, nats_subject, payload, traceparent)
                SELECT o.event_id, o.nats_subject, o.payload, $12
                FROM unnest($16::uuid[], $13::text[], $14::bytea[])
                     AS o(event_id, nats_subject, payload)
                WHERE EXISTS (SELECT 1 FROM advanced)
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM advanced) AS advanced,
                   (SELECT count(*) FROM stored) AS stored,
                   (SELECT count(*) FROM queued) AS queued,
                   pg_notify($15, '')
            """
        self._load_sql = f"""
            SELECT version, event_id::text, event_type, subject, data::text, metadata::text,
                   recorded_at
            FROM "{s}".event WHERE stream_id = $1 AND version > $2
            ORDER BY version
            """
        # The snapshot (kind 0) and the events after it (kind 1) in one round trip.
        self._load_from_snapshot_sql = f"""
            SELECT 0 AS kind, version, NULL::text, NULL::text, NULL::text, state::text,
                   NULL::text, NULL::timestamptz
            FROM "{s}".snapshot WHERE stream_id = $1
            UNION ALL
            SELECT 1, version, event_id::text, event_type, subject, data::text, metadata::text,
                   recorded_at
            FROM "{s}".event
            WHERE stream_id = $1 AND version > COALESCE(
                (SELECT version FROM "{s}".snapshot WHERE stream_id = $1), 0)
            ORDER BY kind, version
            """
        self._version_sql = f'SELECT version FROM "{s}".stream WHERE stream_id = $1'
        self._snapshot_sql = f'SELECT version, state::text FROM "{s}".snapshot WHERE stream_id = $1'
        self._save_snapshot_sql = f"""
            INSERT INTO "{s}".snapshot AS current (stream_id, version, state)
            VALUES ($1, $2, CAST($3::text AS jsonb))
            ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version,
                state = EXCLUDED.state, created_at = now()
            WHERE current.version < EXCLUDED.version
            """

    def published(
        self,
        envelopes: Sequence[Envelope],
        events: Sequence[DomainEvent],
        states: Sequence[Any] | None = None,
    ) -> list[Envelope]:
        """The envelopes that go to the outbox (see `public_envelopes`)."""
        return public_envelopes(self.public, envelopes, events, states)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` after every committed unit of work that appended (wakes the relay)."""
        self._after_commit.append(callback)

    @asynccontextmanager
    async def unit_of_work(
        self, *, authorize_first: bool = False, connection: AsyncConnection | None = None
    ) -> AsyncIterator[UnitOfWork]:
        """A transaction for a command or a projection.

        Inside an HTTP request that opened a request transaction (an `Idempotency-Key`), the unit
        of work is a savepoint of it, committed with the stored response; a retry of a request
        that already committed stops with `StoredResponseReplay` before anything is written: when
        the unit opens, or, with `authorize_first`, when the caller calls `before_write()` after
        its own authorization (the aggregate repository does).

        With `connection` (e.g. a consumer's transaction), the unit is a savepoint on it: a
        conflict rolls back this unit only, and the caller commits.
        """
        if connection is not None:
            async with connection.begin_nested():
                unit = UnitOfWork(self, connection)
                yield unit
            self._count(unit.appended)  # released into the caller's transaction
            return  # the caller commits: the unit's after-commit callbacks are not called
        joined = request_transaction(self.engine)
        if joined is not None:
            if not authorize_first:
                joined.before_write()
            if joined.connection is not None:
                async with joined.connection.begin_nested():
                    unit = UnitOfWork(self, joined.connection, joined.before_write)
                    yield unit
                if unit.appended:
                    appended = unit.appended
                    joined.after_commit.append(lambda: self._count(appended))
                    joined.after_commit.extend(self._after_commit)
                joined.after_commit.extend(unit.committed)
                return
        async with self.engine.begin() as connection:
            unit = UnitOfWork(
                self, connection, joined.before_write if joined is not None else _no_checkpoint
            )
            yield unit
        for callback in unit.committed:
            callback()
        if unit.appended:
            self._count(unit.appended)
            for callback in self._after_commit:
                callback()

    def _count(self, appended: Sequence[Envelope]) -> None:
        """`bw_events_appended_total`, counted once the events are committed."""
        if appended:
            APPENDED.labels(self.schema).inc(len(appended))

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection for queries: the request's transaction when one is open (so an answer
        shows what the request itself wrote), else a connection of its own."""
        joined = request_transaction(self.engine)
        if joined is not None and joined.connection is not None:
            yield joined.connection
            return
        async with self.engine.connect() as connection:
            yield connection

    async def _pool(self) -> asyncpg.Pool:
        """A small asyncpg pool of its own for statements outside a unit of work: a load, or an
        append that is its own transaction, skips SQLAlchemy's checkout and transaction wrapping."""
        if self._asyncpg_pool is None:
            async with self._pool_lock:
                if self._asyncpg_pool is None:
                    url = self.engine.url.set(drivername="postgresql")
                    self._asyncpg_pool = await asyncpg.create_pool(
                        url.render_as_string(hide_password=False),
                        min_size=1,
                        max_size=self.pool_size,
                        command_timeout=30,
                        reset=_keep_session,
                    )
        return self._asyncpg_pool

    async def close(self) -> None:
        if self._asyncpg_pool is not None:
            await asyncio.wait_for(self._asyncpg_pool.close(), timeout=10)
            self._asyncpg_pool = None

    @asynccontextmanager
    async def _autocommit(self) -> AsyncIterator[_Autocommit]:
        """A unit of work without BEGIN/COMMIT: each statement is its own transaction."""
        pool = await self._pool()
        async with pool.acquire() as driver:
            unit = _Autocommit(self, driver)
            yield unit
        if unit.appended:
            self._count(unit.appended)
            for callback in self._after_commit:
                callback()

    async def load(self, stream_id: str, *, after_version: int = 0) -> list[RecordedEvent]:
        """Read a stream outside any transaction (one round trip)."""
        joined = request_transaction(self.engine)
        if joined is not None and joined.connection is not None:
            return await UnitOfWork(self, joined.connection).load(
                stream_id, after_version=after_version
            )
        async with self._autocommit() as unit:
            return await unit.load(stream_id, after_version=after_version)

    async def stream_version(self, stream_id: str) -> int:
        joined = request_transaction(self.engine)
        if joined is not None and joined.connection is not None:
            return await UnitOfWork(self, joined.connection).stream_version(stream_id)
        async with self._autocommit() as unit:
            return await unit.stream_version(stream_id)

    async def append(
        self,
        stream_id: str,
        *,
        stream_type: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        subject: str,
        states: Sequence[Any] | None = None,
        contexts: Sequence[EventContext] | None = None,
    ) -> list[Envelope]:
        """Append as one statement, which is its own transaction: the fast path for commands that
        update no read model in the same transaction (one round trip; see UnitOfWork.append)."""
        if request_transaction(self.engine) is not None:
            async with self.unit_of_work() as joined_unit:
                return await joined_unit.append(
                    stream_id,
                    stream_type=stream_type,
                    expected_version=expected_version,
                    events=events,
                    subject=subject,
                    states=states,
                    contexts=contexts,
                )
        async with self._autocommit() as unit:
            return await unit.append(
                stream_id,
                stream_type=stream_type,
                expected_version=expected_version,
                events=events,
                subject=subject,
                states=states,
                contexts=contexts,
            )


async def driver_connection(connection: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a SQLAlchemy connection, inside its transaction.

    SQLAlchemy's asyncpg adapter begins its transaction lazily, on the first statement it runs;
    it is begun here so that statements sent straight to asyncpg are part of it (the store's
    rollback test covers this). Hot paths use it to skip SQLAlchemy's per-statement overhead.
    """
    proxied = await connection.get_raw_connection()
    adapted: Any = proxied.dbapi_connection
    if adapted._transaction is None:
        await adapted._start_transaction()
    return proxied.driver_connection


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The store's own pool runs single autocommit statements that leave no session state, so
    the reset round trip asyncpg makes on every release is skipped."""


class _StreamAccess(ABC):
    """Loading and appending on one database connection, in a transaction or not."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.appended: list[Envelope] = []

    @abstractmethod
    async def driver(self) -> asyncpg.Connection:
        """The asyncpg connection the statements run on."""

    async def load(self, stream_id: str, *, after_version: int = 0) -> list[RecordedEvent]:
        driver = await self.driver()
        rows = await driver.fetch(self.store._load_sql, stream_id, after_version)
        decode = self.store.registry.decode_json
        return [recorded_from_row(stream_id, row, decode) for row in rows]

    async def load_from_snapshot(
        self, stream_id: str
    ) -> tuple[Snapshot | None, list[RecordedEvent]]:
        """The stream's snapshot, if it has one, and the events after it, in one round trip."""
        driver = await self.driver()
        rows = await driver.fetch(self.store._load_from_snapshot_sql, stream_id)
        snapshot = None
        if rows and rows[0][0] == 0:
            snapshot = Snapshot(rows[0][1], json.loads(rows[0][5]))
            rows = rows[1:]
        decode = self.store.registry.decode_json
        return snapshot, [recorded_from_row(stream_id, row, decode, first=1) for row in rows]

    async def stream_version(self, stream_id: str) -> int:
        version = await (await self.driver()).fetchval(self.store._version_sql, stream_id)
        return int(version or 0)

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        row = await (await self.driver()).fetchrow(self.store._snapshot_sql, stream_id)
        return Snapshot(row[0], json.loads(row[1])) if row else None

    async def save_snapshot(self, stream_id: str, version: int, state: dict[str, Any]) -> None:
        await (await self.driver()).execute(
            self.store._save_snapshot_sql, stream_id, version, json.dumps(state)
        )

    async def append(
        self,
        stream_id: str,
        *,
        stream_type: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        subject: str,
        states: Sequence[Any] | None = None,
        contexts: Sequence[EventContext] | None = None,
    ) -> list[Envelope]:
        """Append `events` to the stream if it is still at `expected_version` (0: a new stream).

        `subject` is the CloudEvents subject: the factory the events are about. `states`, one per
        event, are the aggregate's states after each, for the public contract's translation.
        `contexts`, one per event, say what caused each (several commands appended at once);
        without them every event has the current context.
        Raises ConcurrencyConflict and writes nothing if another writer got there first.
        """
        if not events:
            return []
        store = self.store
        if contexts is None:
            contexts = [current_context()] * len(events)
        elif len(contexts) != len(events):
            raise ValueError("one context per event")
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        recorded_at = utcnow()
        ids = random_ids(len(events))
        envelopes = [
            Envelope(
                id=ids[offset - 1],
                source=store.source,
                type=store.registry.type_of(event),
                subject=subject,
                time=context.occurred_at or recorded_at,
                recordedtime=recorded_at,
                importedfrom=context.imported.bundle_id if context.imported is not None else None,
                data=event.model_dump(mode="json"),
                traceparent=carrier.get("traceparent"),
                tracestate=carrier.get("tracestate"),
                correlationid=context.correlation_id,
                causationid=context.causation_id,
                streamid=stream_id,
                streamversion=expected_version + offset,
            )
            for offset, (event, context) in enumerate(zip(events, contexts, strict=True), start=1)
        ]
        encoded: dict[int, str] = {}  # one JSON document per distinct context
        metadata = []
        for context in contexts:
            if id(context) not in encoded:
                encoded[id(context)] = event_metadata(store.source, context, carrier)
            metadata.append(encoded[id(context)])
        published = store.published(envelopes, events, states)
        driver = await self.driver()
        try:
            row = await driver.fetchrow(
                store._append_sql,
                stream_id,
                stream_type,
                expected_version + len(events),
                recorded_at,
                expected_version,
                subject,
                metadata,
                [e.streamversion for e in envelopes],
                [e.id for e in envelopes],
                [e.type for e in envelopes],
                [json.dumps(e.data) for e in envelopes],
                carrier.get("traceparent"),
                [
                    subject_for(store.subject_prefix, store.service, e.event_name, e.schema_version)
                    for e in published
                ],
                [e.to_json() for e in published],
                store.notify_channel,
                [e.id for e in published],
            )
        except asyncpg.UniqueViolationError as error:
            raise ConcurrencyConflict(stream_id, expected_version) from error
        if row is None or row[0] == 0:
            raise ConcurrencyConflict(stream_id, expected_version)
        self.appended.extend(envelopes)
        return envelopes


def _no_checkpoint() -> None:
    """Outside a request transaction there is nothing to replay."""


class UnitOfWork(_StreamAccess):
    """One transaction: load streams, append events (with their outbox entries), update read models
    through `connection` (SQLAlchemy), all committed together."""

    def __init__(
        self,
        store: EventStore,
        connection: AsyncConnection,
        before_write: Callable[[], None] = _no_checkpoint,
    ) -> None:
        super().__init__(store)
        self.connection = connection
        self.before_write = before_write
        """Call after authorization, before deciding: a replayed request stops here."""
        self._driver: asyncpg.Connection | None = None
        self.committed: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the transaction this unit belongs to has committed (never when
        it rolls back, nor for a unit on a caller's connection, whose commit the caller does)."""
        self.committed.append(callback)

    async def driver(self) -> asyncpg.Connection:
        """The asyncpg connection under `connection`, inside the same transaction."""
        if self._driver is None:
            self._driver = await driver_connection(self.connection)
        return self._driver


class _Autocommit(_StreamAccess):
    """Statements outside a transaction, on the store's own pool: each is its own transaction."""

    def __init__(self, store: EventStore, driver: asyncpg.Connection) -> None:
        super().__init__(store)
        self._driver = driver

    async def driver(self) -> asyncpg.Connection:
        return self._driver
