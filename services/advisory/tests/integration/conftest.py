"""Fixtures of the advisory integration tests (real PostgreSQL and NATS): a migrated database,
the app with a movable clock and its course seeder, tokens of every role (staff with their
country programmes), the assessment service's events as it publishes them, and snapshots of
every read model to show that a refused request changed nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select, text

from libs.domain.envelope import Envelope, event_type
from libs.events.nats import stream_name, subject_for
from libs.servicekit.auth import Role, mint_token
from libs.servicekit.service import Service as AssembledService
from services.advisory.handlers.dependencies import Dependencies
from services.advisory.seeding import CourseSeeder
from services.advisory.service import SERVICE
from services.advisory.settings import AdvisorySettings
from services.advisory.tables import READ_MODELS, SCHEMA
from tools.testkit import MovableClock, migrated_database_fixture

T = TypeVar("T")
TODAY = date(2025, 6, 20)
MONDAY, THURSDAY = date(2025, 6, 2), date(2025, 6, 5)
WEEK = [MONDAY, date(2025, 6, 3), date(2025, 6, 4), THURSDAY]


@dataclass
class Upstream:
    """The assessment service's events, numbered per stream as it numbers them."""

    versions: dict[str, int] = field(default_factory=dict)

    def envelope(self, name: str, stream_id: str, subject: str, data: dict[str, Any]) -> Envelope:
        version = self.versions.get(stream_id, 0) + 1
        self.versions[stream_id] = version
        return Envelope(
            id=str(uuid.uuid4()),
            source="/betterwork/assessment",
            type=event_type("assessment", name, 2 if name == "AssessmentCompleted" else 1),
            subject=subject,
            time=datetime(2025, 1, 1, tzinfo=UTC),
            data=data,
            correlationid=str(uuid.uuid4()),
            streamid=stream_id,
            streamversion=version,
        )

    def factory(self, factory_id: str, country: str = "KH", name: str = "Mekong") -> Envelope:
        kind = "FactoryUpdated" if f"factory-{factory_id}" in self.versions else "FactoryRegistered"
        data = {
            "factory_id": factory_id,
            "name": name,
            "country": country,
            "address": "Street 2004",
            "sector_isic": "1410",
            "workforce": {"women": 800, "men": 200},
            "os_id": None,
        }
        return self.envelope(kind, f"factory-{factory_id}", factory_id, data)

    def completed(self, factory_id: str, cycle: int, report_date: date) -> Envelope:
        assessment_id = f"{factory_id}-a{cycle}"
        data = {
            "assessment_id": assessment_id,
            "factory_id": factory_id,
            "cycle": cycle,
            "country": "KH",
            "catalogue_version": "2025.1",
            "report_date": report_date.isoformat(),
            "non_compliance_count": 0,
            "summary": [],
            "results": [],
        }
        return self.envelope("AssessmentCompleted", f"assessment-{assessment_id}", factory_id, data)


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    settings: AdvisorySettings
    clock: MovableClock
    upstream: Upstream = field(default_factory=Upstream)

    @property
    def assembled(self) -> AssembledService[AdvisorySettings, Dependencies]:
        assembled: AssembledService[AdvisorySettings, Dependencies] = self.app.state.service
        return assembled

    def token(
        self,
        role: Role,
        subject: str,
        *,
        factory_id: str | None = None,
        countries: list[str] | str | None = None,
    ) -> dict[str, str]:
        value = mint_token(
            self.settings.jwt_secret, subject, role, factory_id=factory_id, countries=countries
        )
        return {"Authorization": f"Bearer {value}"}

    @property
    def admin(self) -> dict[str, str]:
        return self.token(Role.ADMIN, "admin-1", countries="*")

    def trainer(self, subject: str = "trainer-1", country: str = "KH") -> dict[str, str]:
        return self.token(Role.TRAINER, subject, countries=[country])

    def advisor(self, subject: str = "advisor-1", country: str = "KH") -> dict[str, str]:
        return self.token(Role.ASSESSOR, subject, countries=[country])

    def factory(self, factory_id: str) -> dict[str, str]:
        return self.token(Role.FACTORY, f"{factory_id}-hr", factory_id=factory_id)

    async def publish(self, *envelopes: Envelope, message_id: str | None = None) -> None:
        """On NATS, as the assessment service's relay would (`message_id`: another Nats-Msg-Id
        than the event id, as a re-publication after JetStream's de-duplication window)."""
        runtime = self.assembled.runtime
        prefix = self.settings.subject_prefix
        await runtime.nats.ensure_stream(prefix, "assessment")
        for envelope in envelopes:
            await runtime.nats.jetstream().publish(
                subject_for(prefix, "assessment", envelope.event_name, envelope.schema_version),
                envelope.to_json(),
                headers={"Nats-Msg-Id": message_id or envelope.id},
                timeout=5,
            )

    async def caught_up(self) -> bool:
        for runner in self.assembled.runtime.consumers:
            try:
                if await runner.poll_lag():
                    return False
            except Exception:  # not provisioned yet: it has not started reading
                return False
        return True

    async def known(self, *factories: tuple[str, str]) -> None:
        """The assessment service registered these (factory, country): published and applied."""
        await self.publish(*(self.upstream.factory(f, country) for f, country in factories))
        await poll(self.caught_up)

    async def courses_seeded(self) -> None:
        seeder = self.assembled.component(CourseSeeder)
        await asyncio.wait_for(seeder.seeded.wait(), timeout=15)

    async def rows(self) -> dict[str, list[dict[str, Any]]]:
        """Every read model's rows in primary-key order."""
        async with self.assembled.engine.connect() as connection:
            found = {}
            for table in READ_MODELS:
                keys = list(table.primary_key.columns)
                result = await connection.execute(select(table).order_by(*keys))
                found[table.name] = [dict(row) for row in result.mappings()]
            return found

    async def history(self) -> tuple[int, int]:
        """How many events the store and the outbox hold (plus what the relay already sent)."""
        async with self.assembled.engine.connect() as connection:
            events = await connection.scalar(text(f"SELECT count(*) FROM {SCHEMA}.event"))
            streams = await connection.scalar(text(f"SELECT count(*) FROM {SCHEMA}.stream"))
        return int(events or 0), int(streams or 0)

    async def published(self, event_name: str, count: int) -> list[dict[str, Any]]:
        """The public events of that name on the ADVISORY stream, once there are `count`."""
        prefix = self.settings.subject_prefix
        stream = stream_name(prefix, "advisory")
        subject = subject_for(prefix, "advisory", event_name)
        js = self.assembled.runtime.nats.jetstream()

        async def fetch() -> list[dict[str, Any]] | None:
            state = (await js.stream_info(stream)).state
            if not state.messages:
                return None
            found = []
            for sequence in range(state.first_seq, state.last_seq + 1):
                message = await js.get_msg(stream, sequence)
                if message.subject == subject and message.data is not None:
                    found.append(json.loads(message.data))
            return found if len(found) >= count else None

        return await poll(fetch)


async def poll(check: Callable[[], Awaitable[T | None]], timeout: float = 15.0) -> T:
    """Call `check` until it returns something truthy; after `timeout`, fail with its last
    answer (a poll that only timed out would hide what it saw)."""
    last: T | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                last = await check()
                if last:
                    return last
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s; last seen: {last!r}") from None


migrated_database = migrated_database_fixture(SERVICE, SCHEMA)


@pytest.fixture
def settings(migrated_database: str, nats_url: str, subject_prefix: str) -> AdvisorySettings:
    return AdvisorySettings(
        database_url=migrated_database,
        nats_url=nats_url,
        subject_prefix=subject_prefix,
        figures_min_participants=1,
        figures_min_factories=1,
        survey_min_pairs=2,
    )


@pytest.fixture
async def service(settings: AdvisorySettings) -> AsyncIterator[Service]:
    clock = MovableClock(datetime(2025, 6, 20, 9, 0, tzinfo=UTC))
    app = SERVICE.app(settings, clock=clock)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://advisory") as client:
            running = Service(app, client, settings, clock)
            await running.courses_seeded()
            yield running


# --- the requests most tests make ---------------------------------------------------------------


async def schedule(
    service: Service,
    *factories: str,
    headers: dict[str, str] | None = None,
    **body: Any,
) -> httpx.Response:
    parts = [{"factory_id": f, "plan_item_ids": [f"{f}-item-1"]} for f in factories or ("f-1",)]
    request = {
        "course_code": "SST",
        "factories": parts,
        "open_session": len(parts) > 1,
        "start_date": MONDAY.isoformat(),
        "end_date": THURSDAY.isoformat(),
        "capacity": 4,
        "language": "km",
        **body,
    }
    return await service.client.post(
        "/v1/training-sessions", json=request, headers=headers or service.trainer()
    )


def attendee(
    participant_id: str,
    *days: date,
    factory_id: str | None = None,
    role: str = "supervisor",
    gender: str = "female",
    name: str | None = None,
) -> dict[str, Any]:
    line: dict[str, Any] = {
        "participant_id": participant_id,
        "role": role,
        "gender": gender,
        "attended_on": [day.isoformat() for day in days or WEEK],
    }
    if factory_id is not None:
        line["factory_id"] = factory_id
    if name is not None:
        line["name"] = name
    return line


async def sign(
    service: Service, session_id: str, *lines: dict[str, Any], **headers: str
) -> httpx.Response:
    return await service.client.post(
        f"/v1/training-sessions/{session_id}/attendance",
        json={"attendees": list(lines)},
        headers={**service.trainer(), **headers},
    )
