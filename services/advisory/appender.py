"""Many streams' appends in one statement, for the history import: a request of thousands of
visits is thousands of new streams of two events each, and one statement per stream made its round
trips and statement overhead most of the import's time.

Each stream's events are still prepared by the store's own `append` (its envelopes, business time
and import attribution, metadata, the public events for the outbox), on a unit of work whose
driver keeps the statement's parameters instead of running it; `flush` then writes them all with
the same checks: each stream at the version its events were decided on (else
`ConcurrencyConflict`, and the request's transaction is rolled back)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import asyncpg

from libs.domain.envelope import DomainEvent, Envelope, EventContext
from libs.events.store import ConcurrencyConflict, UnitOfWork

# the parameters of the store's append statement, in order (libs/events/store.py, `_append_sql`)
_GIVEN = (
    "stream_id",
    "stream_type",
    "version",
    "recorded_at",
    "expected",
    "subject",
    "metadata",
    "versions",
    "event_ids",
    "types",
    "data",
    "traceparent",
    "nats_subjects",
    "payloads",
    "channel",
    "published_ids",
)
_PARAMETERS = len(_GIVEN)
# the columns of the statement that writes many streams' appends (`Appender._sql`)
_STREAM = ("stream_id", "stream_type", "version", "expected", "recorded_at")
_EVENT = (
    "stream_id",
    "versions",
    "event_ids",
    "types",
    "subject",
    "data",
    "metadata",
    "recorded_at",
)
_OUTBOX = ("published_ids", "nats_subjects", "payloads", "traceparent")


class _Kept:
    """What the store's append statement would have been given."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def fetchrow(self, sql: str, *parameters: Any) -> tuple[int, int, int, None]:
        if len(parameters) != _PARAMETERS:
            raise RuntimeError("the store's append statement changed: update the appender")
        self.calls.append(parameters)
        return (1, len(parameters[7]), len(parameters[15]), None)


class _Preparing(UnitOfWork):
    def __init__(self, unit: UnitOfWork, kept: _Kept) -> None:
        super().__init__(unit.store, unit.connection)
        self._kept = kept

    async def driver(self) -> asyncpg.Connection:
        return cast(asyncpg.Connection, self._kept)


class Appender:
    """Appends to many streams of `unit`'s transaction, written at `flush`."""

    def __init__(self, unit: UnitOfWork) -> None:
        self._unit = unit
        self._kept = _Kept()
        self._preparing = _Preparing(unit, self._kept)
        schema = unit.store.schema
        self._sql = f"""
            WITH given AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[],
                                     $5::timestamptz[])
                    AS g(stream_id, stream_type, version, expected, updated_at)
            ), advanced AS (
                INSERT INTO "{schema}".stream AS current
                    (stream_id, stream_type, version, updated_at)
                SELECT stream_id, stream_type, version, updated_at FROM given
                ON CONFLICT (stream_id) DO UPDATE
                    SET version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
                    WHERE current.version = (
                        SELECT expected FROM given WHERE given.stream_id = EXCLUDED.stream_id)
                RETURNING 1
            ), stored AS (
                INSERT INTO "{schema}".event
                    (stream_id, version, event_id, event_type, subject, data, metadata,
                     recorded_at)
                SELECT e.stream_id, e.version, e.event_id, e.event_type, e.subject,
                       CAST(e.data AS jsonb), CAST(e.metadata AS jsonb), e.recorded_at
                FROM unnest($6::text[], $7::int[], $8::uuid[], $9::text[], $10::text[],
                            $11::text[], $12::text[], $13::timestamptz[])
                    AS e(stream_id, version, event_id, event_type, subject, data, metadata,
                         recorded_at)
                RETURNING 1
            ), queued AS (
                INSERT INTO "{schema}".outbox (event_id, nats_subject, payload, traceparent)
                SELECT o.event_id, o.nats_subject, o.payload, o.traceparent
                FROM unnest($14::uuid[], $15::text[], $16::bytea[], $17::text[])
                    AS o(event_id, nats_subject, payload, traceparent)
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM advanced), (SELECT count(*) FROM stored),
                   pg_notify($18, '')
            """

    async def append(
        self,
        stream_id: str,
        *,
        stream_type: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        subject: str,
        states: Sequence[Any],
        contexts: Sequence[EventContext],
    ) -> list[Envelope]:
        """As `UnitOfWork.append`, written at `flush` (one append per stream)."""
        return await self._preparing.append(
            stream_id,
            stream_type=stream_type,
            expected_version=expected_version,
            events=events,
            subject=subject,
            states=states,
            contexts=contexts,
        )

    async def flush(self) -> int:
        """Write every append kept, in one statement; the number of events written."""
        calls, self._kept.calls = self._kept.calls, []
        if not calls:
            return 0
        streams: dict[str, list[Any]] = {name: [] for name in _STREAM}
        events: dict[str, list[Any]] = {name: [] for name in _EVENT}
        outbox: dict[str, list[Any]] = {name: [] for name in _OUTBOX}
        for call in calls:
            given = dict(zip(_GIVEN, call, strict=True))
            for name in _STREAM:
                streams[name].append(given[name])
            # a stream's values repeated for each of its events and public events
            count = len(given["versions"])
            for name in ("stream_id", "subject", "recorded_at"):
                given[name] = [given[name]] * count
            for name in _EVENT:
                events[name].extend(given[name])
            given["traceparent"] = [given["traceparent"]] * len(given["published_ids"])
            for name in _OUTBOX:
                outbox[name].extend(given[name])
        driver = await self._unit.driver()
        first = (streams["stream_id"][0], streams["expected"][0])
        try:
            written = await driver.fetchrow(
                self._sql,
                *streams.values(),
                *events.values(),
                *outbox.values(),
                self._unit.store.notify_channel,
            )
        except asyncpg.UniqueViolationError as error:
            raise ConcurrencyConflict(*first) from error
        if written is None or written[0] != len(calls):
            raise ConcurrencyConflict(*first)  # a stream had moved: nothing is kept
        self._unit.appended.extend(self._preparing.appended)
        self._preparing.appended.clear()
        return int(written[1])
