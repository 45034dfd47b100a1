"""Fixtures for the event library's integration tests: a migrated schema, a store, a NATS connection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from libs.domain.envelope import DomainEvent, EventRegistry
from libs.events.nats import NatsConnection
from libs.events.runtime import plain_dsn
from libs.events.store import EventStore
from libs.events.tables import create_event_store_tables

SCHEMA = "library"


class ItemCounted(DomainEvent):
    """A test event: `amount` added to a counter."""

    counter: str
    amount: int = 1


class CounterReset(DomainEvent):
    counter: str


def make_registry() -> EventRegistry:
    registry = EventRegistry("library")
    registry.register_all(ItemCounted, CounterReset)
    return registry


def asyncpg_url(database_url: str) -> str:
    return "postgresql+asyncpg://" + plain_dsn(database_url).split("://", 1)[1]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(asyncpg_url(database_url), pool_size=20, max_overflow=0)
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await connection.run_sync(create_event_store_tables, SCHEMA)
        await connection.execute(
            text(
                f"CREATE TABLE {SCHEMA}.counter (name text PRIMARY KEY, total int NOT NULL, "
                "applications int NOT NULL)"
            )
        )
    yield engine
    await engine.dispose()


@pytest.fixture
def registry() -> EventRegistry:
    return make_registry()


@pytest.fixture
def store(engine: AsyncEngine, registry: EventRegistry, subject_prefix: str) -> EventStore:
    return EventStore(
        engine=engine, schema=SCHEMA, registry=registry, subject_prefix=subject_prefix
    )


@pytest.fixture
async def nats(nats_url: str) -> AsyncIterator[NatsConnection]:
    connection = NatsConnection(nats_url, name="library-tests")
    await connection.start()
    yield connection
    await connection.stop()
