"""Fixtures of the handler unit tests: the in-memory event store with the public contract, fake
read-model lookups and the handlers' dependencies on them, with a fixed clock."""

from __future__ import annotations

import pytest

from libs.events.memory import InMemoryEventStore
from services.assessment.contract import CONTRACT
from services.assessment.domain import make_registry
from services.assessment.handlers.dependencies import Dependencies, make_dependencies
from services.assessment.tests.unit.in_memory import LIBRARY, NOW, FakeLookups


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore(make_registry(), public=CONTRACT)


@pytest.fixture
def lookups() -> FakeLookups:
    return FakeLookups()


@pytest.fixture
def deps(store: InMemoryEventStore, lookups: FakeLookups) -> Dependencies:
    return make_dependencies(store, LIBRARY, lookups, clock=lambda: NOW)
