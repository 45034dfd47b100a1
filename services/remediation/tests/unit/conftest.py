"""Fixtures of the handler tests: the in-memory event store with the public contract, a clock the
test moves, and the handlers' dependencies on them (nothing projected: no read models here)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libs.events.memory import InMemoryEventStore
from services.remediation.contract import contract
from services.remediation.handlers import Remediation
from services.remediation.service import SERVICE
from services.remediation.tests.unit.handler_givens import POLICY


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def in_memory_store() -> InMemoryEventStore:
    return InMemoryEventStore(SERVICE.events(), public=contract(POLICY))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> InMemoryEventStore:
    return in_memory_store()


@pytest.fixture
def deps(store: InMemoryEventStore, clock: Clock) -> Remediation:
    return Remediation.create(store, POLICY, clock, read_models=False)
