"""Test support every service's tests share: a clock the test moves, the fixture that migrates a
service's schema into the test's own database (tools/testing.py gives that database), and other
services' events as their relays publish them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from libs.domain.envelope import Envelope, event_type
from libs.events.nats import NatsConnection, subject_for
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


@dataclass
class UpstreamEnvelopes:
    """Builds other services' events as their relays publish them: CloudEvents envelopes with
    per-stream versions numbered as the producers number them (a service's tests subclass it
    with helpers for the events it reads)."""

    versions: dict[str, int] = field(default_factory=dict)

    def event_time(self) -> datetime:
        """The events' `time` (fixed; a subclass may say now)."""
        return datetime(2025, 1, 1, tzinfo=UTC)

    def envelope(
        self,
        service: str,
        name: str,
        stream_id: str,
        subject: str,
        data: dict[str, Any],
        v: int = 1,
    ) -> Envelope:
        version = self.versions.get(stream_id, 0) + 1
        self.versions[stream_id] = version
        return Envelope(
            id=str(uuid.uuid4()),
            source=f"/betterwork/{service}",
            type=event_type(service, name, v),
            subject=subject,
            time=self.event_time(),
            data=data,
            correlationid=str(uuid.uuid4()),
            streamid=stream_id,
            streamversion=version,
        )


async def publish_as_relays(
    nats: NatsConnection, prefix: str, envelopes: Sequence[Envelope]
) -> None:
    """Publish events on NATS as their producers' relays would: each on its service's stream and
    subject, with its id as `Nats-Msg-Id`."""
    js = nats.jetstream()
    for service in {envelope.service for envelope in envelopes}:
        await nats.ensure_stream(prefix, service)
    for envelope in envelopes:
        await js.publish(
            subject_for(prefix, envelope.service, envelope.event_name, envelope.schema_version),
            envelope.to_json(),
            headers={"Nats-Msg-Id": envelope.id},
            timeout=5,
        )
