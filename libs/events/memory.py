"""An in-memory event store with the units of work the aggregate repository needs: for command
handler unit tests, which run in milliseconds without PostgreSQL or NATS.

A unit of work stages its appends and keeps them only if its block ends without an exception, and an
append checks the expected version as the PostgreSQL store does.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from libs.domain.contract import PublicContract, public_envelopes
from libs.domain.envelope import (
    DomainEvent,
    Envelope,
    EventContext,
    EventRegistry,
    current_context,
    utcnow,
)
from libs.events.store import ConcurrencyConflict, RecordedEvent, Snapshot, event_metadata


class InMemoryEventStore:
    """Streams, snapshots and the envelopes that would be published, all in dictionaries."""

    def __init__(self, registry: EventRegistry, public: PublicContract | None = None) -> None:
        self.registry = registry
        self.public = public
        self.streams: dict[str, list[RecordedEvent]] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self.published: list[Envelope] = []
        """What would reach the outbox: the public events, when a contract is given."""

    def events(self, stream_id: str) -> list[DomainEvent]:
        return [entry.event for entry in self.streams.get(stream_id, [])]

    @asynccontextmanager
    async def unit_of_work(
        self, *, authorize_first: bool = False, connection: Any = None
    ) -> AsyncIterator[InMemoryUnit]:
        unit = InMemoryUnit(self)
        yield unit
        unit.commit()


class InMemoryUnit:
    """One unit of work on an `InMemoryEventStore`; `connection` is None (no read models here)."""

    connection: Any = None

    def __init__(self, store: InMemoryEventStore) -> None:
        self.store = store
        self.staged: dict[str, list[RecordedEvent]] = {}
        self.staged_snapshots: dict[str, Snapshot] = {}
        self.appended: list[Envelope] = []
        self.queued: list[Envelope] = []
        self.committed: list[Callable[[], None]] = []

    def before_write(self) -> None:
        """No request transaction here: nothing to replay."""

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.committed.append(callback)

    def _stream(self, stream_id: str) -> list[RecordedEvent]:
        return self.store.streams.get(stream_id, []) + self.staged.get(stream_id, [])

    async def load(self, stream_id: str, *, after_version: int = 0) -> list[RecordedEvent]:
        return [entry for entry in self._stream(stream_id) if entry.version > after_version]

    async def stream_version(self, stream_id: str) -> int:
        stream = self._stream(stream_id)
        return stream[-1].version if stream else 0

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        return self.staged_snapshots.get(stream_id) or self.store.snapshots.get(stream_id)

    async def load_from_snapshot(
        self, stream_id: str
    ) -> tuple[Snapshot | None, list[RecordedEvent]]:
        snapshot = await self.load_snapshot(stream_id)
        after = snapshot.version if snapshot is not None else 0
        return snapshot, await self.load(stream_id, after_version=after)

    async def save_snapshot(self, stream_id: str, version: int, state: dict[str, Any]) -> None:
        self.staged_snapshots[stream_id] = Snapshot(version, state)

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
        if not events:
            return []
        if await self.stream_version(stream_id) != expected_version:
            raise ConcurrencyConflict(stream_id, expected_version)
        recorded_at = utcnow()
        if contexts is None:
            contexts = [current_context()] * len(events)
        envelopes = []
        for offset, (event, context) in enumerate(zip(events, contexts, strict=True), start=1):
            envelope = Envelope(
                id=str(uuid.uuid4()),
                source=f"/betterwork/{self.store.registry.service}",
                type=self.store.registry.type_of(event),
                subject=subject,
                time=context.occurred_at or recorded_at,
                recordedtime=recorded_at,
                importedfrom=context.imported.bundle_id if context.imported is not None else None,
                data=event.model_dump(mode="json"),
                correlationid=context.correlation_id,
                causationid=context.causation_id,
                streamid=stream_id,
                streamversion=expected_version + offset,
            )
            self.staged.setdefault(stream_id, []).append(
                RecordedEvent(
                    stream_id=stream_id,
                    version=expected_version + offset,
                    event_id=envelope.id,
                    event_type=envelope.type,
                    subject=subject,
                    event=event,
                    recorded_at=recorded_at,
                    metadata_json=event_metadata(envelope.source, context, {}),
                )
            )
            envelopes.append(envelope)
        self.appended.extend(envelopes)
        self.queued.extend(public_envelopes(self.store.public, envelopes, events, states))
        return envelopes

    def commit(self) -> None:
        for stream_id, staged in self.staged.items():
            self.store.streams.setdefault(stream_id, []).extend(staged)
        self.store.snapshots.update(self.staged_snapshots)
        self.store.published.extend(self.queued)
        for callback in self.committed:
            callback()
