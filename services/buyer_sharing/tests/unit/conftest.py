"""Fixtures of the handler unit tests: the in-memory event store with the public contract, a
movable clock, the fake lookups, and the handlers' dependencies on them."""

from __future__ import annotations

from typing import cast

import pytest

from libs.events.memory import InMemoryEventStore
from libs.events.store import EventStore
from services.buyer_sharing.contract import CONTRACT
from services.buyer_sharing.dependencies import Dependencies, make_dependencies
from services.buyer_sharing.domain import make_registry
from services.buyer_sharing.tests.unit.givens import Clock, FakeLookups


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore(make_registry(), public=CONTRACT)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def lookups(store: InMemoryEventStore) -> FakeLookups:
    return FakeLookups(store)


@pytest.fixture
def deps(store: InMemoryEventStore, clock: Clock, lookups: FakeLookups) -> Dependencies:
    # typed as the PostgreSQL store for the routes' reads; the handlers need only units of work
    return make_dependencies(cast(EventStore, store), clock=clock, lookups=lookups)
