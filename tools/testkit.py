"""Test support every service's tests share: a clock the test moves, and the fixture that migrates
a service's schema into the test's own database (tools/testing.py gives that database)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from libs.servicekit.migrations import run_migrations
from libs.servicekit.service import ServiceDefinition


class MovableClock:
    """`clock()` is `now`; a test sets `now` to move time (deadlines, retention, statistics)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2024, 3, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def migrated_database_fixture(
    definition: ServiceDefinition[Any, Any], schema: str
) -> Callable[[str], Awaitable[str]]:
    """A `migrated_database` fixture: the test's database with the service's migrations run."""

    @pytest.fixture
    async def migrated_database(database_url: str) -> str:
        await asyncio.to_thread(run_migrations, database_url, definition.migrations, schema)
        return database_url

    return migrated_database
