"""The relay's watermark on real PostgreSQL and NATS: published only after the outbox was drained
and everything taken was acknowledged, so every event committed before its time stands before it
on the stream; one kept per subject; never by an instance that does not hold the relay lock."""

from __future__ import annotations

import json
from datetime import datetime

from nats.js.errors import NotFoundError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.nats import NatsConnection, stream_name
from libs.events.relay import OutboxRelay, Watermark
from libs.events.store import EventStore
from libs.events.tests.conftest import SCHEMA
from libs.events.tests.test_store import append


def watermark(every: float = 0.0) -> Watermark:
    return Watermark(
        subject="library.Watermark.v1",
        every=every,
        message=lambda as_of: json.dumps({"as_of": as_of.isoformat()}).encode(),
    )


async def stream(nats: NatsConnection, prefix: str) -> list[tuple[str, bytes]]:
    """Every message on the library stream, in stream order: (subject, body)."""
    js = nats.jetstream()
    info = await js.stream_info(stream_name(prefix, "library"))
    messages: list[tuple[str, bytes]] = []
    if not info.state.messages:
        return messages
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            message = await js.get_msg(stream_name(prefix, "library"), sequence)
        except NotFoundError:  # a gap: rolled up
            continue
        messages.append((message.subject or "", message.data or b""))
    return messages


async def test_a_watermark_follows_every_event_committed_before_it(
    engine: AsyncEngine, store: EventStore, nats: NatsConnection, subject_prefix: str
) -> None:
    await nats.ensure_stream(subject_prefix, "library", allow_rollup=True)
    relay = OutboxRelay(
        engine=engine,
        schema=SCHEMA,
        nats=nats,
        watermark=watermark(),
        subject_prefix=subject_prefix,
        batch_size=3,
    )
    for index in range(7):
        await append(store, f"counter-{index}", 0, 1, 2)
    async with engine.connect() as connection:
        committed_by: datetime = await connection.scalar(text("SELECT clock_timestamp()"))
    while await relay.relay_batch():
        pass
    messages = await stream(nats, subject_prefix)
    subjects = [subject for subject, _ in messages]
    assert subjects[-1] == f"{subject_prefix}library.Watermark.v1"
    assert subjects.count(f"{subject_prefix}library.Watermark.v1") == 1, "rolled up to one"
    assert len([s for s in subjects if "ItemCounted" in s]) == 14
    as_of = datetime.fromisoformat(json.loads(messages[-1][1])["as_of"])
    assert as_of >= committed_by, "the watermark is as of after the appends it follows"
    # a later append, then a later watermark: it comes after the new event, and replaces the old
    await append(store, "counter-late", 0, 5)
    while await relay.relay_batch():
        pass
    subjects = [subject for subject, _ in await stream(nats, subject_prefix)]
    assert subjects[-1].endswith("library.Watermark.v1")
    assert subjects[-2].endswith("ItemCounted.v1") or "ItemCounted" in subjects[-2]
    assert subjects.count(f"{subject_prefix}library.Watermark.v1") == 1


async def test_no_watermark_from_an_instance_without_the_relay_lock(
    engine: AsyncEngine, store: EventStore, nats: NatsConnection, subject_prefix: str
) -> None:
    """Another instance may have taken entries it has not published yet: a watermark now would
    claim them published. The lock holder alone publishes one."""
    await nats.ensure_stream(subject_prefix, "library", allow_rollup=True)
    relay = OutboxRelay(
        engine=engine,
        schema=SCHEMA,
        nats=nats,
        watermark=watermark(),
        subject_prefix=subject_prefix,
    )
    await append(store, "counter-held", 0, 1)
    async with engine.begin() as other_instance:
        await other_instance.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": relay._lock_key}
        )
        assert await relay.relay_batch() == 0
        subjects = [subject for subject, _ in await stream(nats, subject_prefix)]
        assert not any(subject.endswith("Watermark.v1") for subject in subjects)
    assert await relay.relay_batch() == 1
    subjects = [subject for subject, _ in await stream(nats, subject_prefix)]
    assert subjects[-1].endswith("library.Watermark.v1")


async def test_watermarks_are_spaced_by_their_interval(
    engine: AsyncEngine, store: EventStore, nats: NatsConnection, subject_prefix: str
) -> None:
    await nats.ensure_stream(subject_prefix, "library", allow_rollup=True)
    relay = OutboxRelay(
        engine=engine,
        schema=SCHEMA,
        nats=nats,
        watermark=watermark(every=3600),
        subject_prefix=subject_prefix,
    )
    await relay.relay_batch()
    info = await nats.jetstream().stream_info(stream_name(subject_prefix, "library"))
    first = info.state.last_seq
    for _ in range(3):
        await relay.relay_batch()
    info = await nats.jetstream().stream_info(stream_name(subject_prefix, "library"))
    assert info.state.last_seq == first == 1, "one watermark within the interval"


async def test_an_existing_stream_gets_rollups_switched_on(
    nats: NatsConnection, subject_prefix: str
) -> None:
    await nats.ensure_stream(subject_prefix, "library")
    info = await nats.jetstream().stream_info(stream_name(subject_prefix, "library"))
    assert not info.config.allow_rollup_hdrs
    await nats.ensure_stream(subject_prefix, "library", allow_rollup=True)
    info = await nats.jetstream().stream_info(stream_name(subject_prefix, "library"))
    assert info.config.allow_rollup_hdrs
