"""Public events: only what a service declares public reaches the outbox, translated in one place."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.domain.contract import PublicContract, public_event_id
from libs.domain.envelope import DomainEvent, Envelope, EventRegistry
from libs.events.store import EventStore
from libs.events.tests.conftest import SCHEMA, CounterReset, ItemCounted

pytestmark = pytest.mark.integration


class CounterChanged(DomainEvent):
    """The public fact: a counter's new total is not known here, only the change."""

    counter: str
    change: int


def translate(event: DomainEvent, _state: object) -> Sequence[DomainEvent]:
    if isinstance(event, ItemCounted):
        return [CounterChanged(counter=event.counter, change=event.amount)]
    return []  # a reset is a private fact of this service


@pytest.fixture
def public_store(engine: AsyncEngine, registry: EventRegistry, subject_prefix: str) -> EventStore:
    public_registry = EventRegistry("library")
    public_registry.register(CounterChanged)
    return EventStore(
        engine=engine,
        schema=SCHEMA,
        registry=registry,
        subject_prefix=subject_prefix,
        public=PublicContract(public_registry, translate),
    )


async def outbox(engine: AsyncEngine) -> list[Envelope]:
    async with engine.connect() as connection:
        payloads = (
            await connection.scalars(text(f"SELECT payload FROM {SCHEMA}.outbox ORDER BY id"))
        ).all()
    return [Envelope.from_json(bytes(payload)) for payload in payloads]


async def test_only_public_events_reach_the_outbox(
    public_store: EventStore, engine: AsyncEngine, subject_prefix: str
) -> None:
    async with public_store.unit_of_work() as uow:
        stored = await uow.append(
            "c1",
            stream_type="counter",
            expected_version=0,
            events=[ItemCounted(counter="c1", amount=3), CounterReset(counter="c1")],
            subject="factory-1",
        )
    # The history keeps both internal events; the outbox has the one public event.
    assert [r.event for r in await public_store.load("c1")] == [
        ItemCounted(counter="c1", amount=3),
        CounterReset(counter="c1"),
    ]
    [published] = await outbox(engine)
    assert published.type == "org.betterwork.library.CounterChanged.v1"
    assert published.data == {"counter": "c1", "change": 3}
    assert published.id == public_event_id(stored[0].id, published.type) != stored[0].id
    assert (published.subject, published.streamid, published.streamversion) == (
        "factory-1",
        "c1",
        1,
    )
    async with engine.connect() as connection:
        subject = await connection.scalar(text(f"SELECT nats_subject FROM {SCHEMA}.outbox"))
    assert subject == f"{subject_prefix}library.CounterChanged.v1"


async def test_a_command_with_only_private_events_queues_nothing(
    public_store: EventStore, engine: AsyncEngine
) -> None:
    await public_store.append(
        "c2",
        stream_type="counter",
        expected_version=0,
        events=[CounterReset(counter="c2")],
        subject="factory-1",
    )
    assert await public_store.stream_version("c2") == 1
    assert await outbox(engine) == []


def test_public_ids_are_stable() -> None:
    internal = "5b0c1d64-3f1e-4a36-9d55-5d7a3a1c2f10"
    assert public_event_id(internal, "org.betterwork.x.A.v1") == public_event_id(
        internal, "org.betterwork.x.A.v1"
    )
    assert public_event_id(internal, "org.betterwork.x.A.v1") != public_event_id(
        internal, "org.betterwork.x.B.v1"
    )
