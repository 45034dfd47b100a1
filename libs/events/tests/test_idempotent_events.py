"""Events a subscription declares idempotent by themselves (a watermark: the newest wins) take
effect without an inbox row, so the inbox does not grow by one row per watermark, while every
other event of the same consumer is still applied at most once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.domain.envelope import DomainEvent, Envelope, EventRegistry
from libs.events.consumer import ConsumerRunner, Subscription
from libs.events.nats import NatsConnection
from libs.events.tests.conftest import SCHEMA, CounterReset, ItemCounted
from libs.events.tests.test_delivery import count_item, eventually


def envelope_of(event: DomainEvent, event_id: str) -> bytes:
    envelope = Envelope(
        id=event_id,
        source="/betterwork/library",
        type=f"org.betterwork.library.{event.event_name}.v1",
        subject="factory-1",
        data=event.model_dump(mode="json"),
        time=datetime.now(UTC),
        correlationid=event_id,
        streamid="counter-x",
        streamversion=1,
    )
    return envelope.to_json()


async def test_an_idempotent_event_leaves_no_inbox_row_and_others_still_apply_once(
    engine: AsyncEngine, nats: NatsConnection, registry: EventRegistry, subject_prefix: str
) -> None:
    await nats.ensure_stream(subject_prefix, "library")
    resets: list[str] = []

    async def reset(connection: AsyncConnection, envelope: Envelope, event: DomainEvent) -> None:
        resets.append(envelope.id)

    runner = ConsumerRunner(
        engine=engine,
        schema=SCHEMA,
        nats=nats,
        subscription=Subscription(
            durable="library-counter",
            source_service="library",
            handlers={"ItemCounted": count_item, "CounterReset": reset},
            registry=registry,
            idempotent_events=frozenset({"CounterReset"}),
        ),
        subject_prefix=subject_prefix,
        fetch_timeout=0.5,
    )
    js = nats.jetstream()
    counted_id, reset_id = str(uuid.uuid4()), str(uuid.uuid4())
    counted = envelope_of(ItemCounted(counter="x", amount=3), counted_id)
    watermark = envelope_of(CounterReset(counter="x"), reset_id)
    for _ in range(2):  # the same event twice in one fetch, as a re-publication would
        await js.publish(f"{subject_prefix}library.ItemCounted.v1", counted)
    await js.publish(f"{subject_prefix}library.CounterReset.v1", watermark)
    await runner.start()
    try:

        async def resets_seen(count: int) -> bool:
            return len(resets) == count

        await eventually(lambda: resets_seen(1))
        # the same watermark again later: no inbox row says it was seen, so it applies again
        await js.publish(f"{subject_prefix}library.CounterReset.v1", watermark)
        await eventually(lambda: resets_seen(2))
    finally:
        await runner.stop()
    async with engine.connect() as connection:
        inbox = set(
            (await connection.execute(text(f"SELECT event_id FROM {SCHEMA}.inbox"))).scalars()
        )
        total = await connection.scalar(
            text(f"SELECT total FROM {SCHEMA}.counter WHERE name = 'x'")
        )
    assert resets == [reset_id, reset_id], "applied each time, with no inbox row"
    assert inbox == {counted_id}
    assert total == 3, "the other event still took effect once"
