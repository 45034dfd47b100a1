"""The import's appender writes many streams' appends in one statement with the store's own
envelopes and the same checks: what it wrote is what the store would have (events, recording time,
outbox), and a stream that moved since it was read makes the whole write fail, keeping nothing."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from libs.domain.envelope import DomainEvent, current_context
from libs.domain.history.advisory import AdvisoryVisitRecord
from libs.events.store import ConcurrencyConflict
from services.advisory.appender import Appender
from services.advisory.domain.actor import Actor
from services.advisory.domain.factory import FACTORY, FactoryRecord, FactoryRecorded
from services.advisory.domain.history import past_visit
from services.advisory.domain.visit import VISIT
from services.advisory.tables import SCHEMA
from services.advisory.tests.integration.conftest import Service

KNOWN = FactoryRecord(factory_id="f-1", name="Mekong", country="KH", upstream_version=1)


def steps(source_id: str) -> tuple[str, list[DomainEvent], list[object]]:
    record = AdvisoryVisitRecord(
        source_id=source_id,
        factory="f-1",
        visited_on=date(2004, 6, 15),
        duration_days=1,
        purpose="other",
    )
    past = past_visit(
        record, actor=Actor("admin-1", "admin"), factory=KNOWN, today=date(2025, 6, 20)
    )
    return past.visit_id, list(past.steps[0].events), list(past.steps[0].states)


async def append_visits(
    service: Service, *sources: str, factory_version: int | None = None
) -> None:
    store = service.assembled.store
    async with store.unit_of_work() as unit:
        appender = Appender(unit)
        for source in sources:
            visit_id, events, states = steps(source)
            context = current_context()
            await appender.append(
                VISIT.stream_id(visit_id),
                stream_type=VISIT.stream_type,
                expected_version=0,
                events=events,
                subject="f-1",
                states=states,
                contexts=[context] * len(events),
            )
        if factory_version is not None:
            event = FactoryRecorded(
                factory_id="f-1", name="Mekong", country="KH", upstream_version=9
            )
            await appender.append(
                FACTORY.stream_id("f-1"),
                stream_type=FACTORY.stream_type,
                expected_version=factory_version,
                events=[event],
                subject="f-1",
                states=[KNOWN],
                contexts=[current_context()],
            )
        assert await appender.flush() == 2 * len(sources) + (factory_version is not None)


async def counts(service: Service) -> tuple[int, int, int]:
    async with service.assembled.engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    f"SELECT (SELECT count(*) FROM {SCHEMA}.event), "
                    f"(SELECT count(*) FROM {SCHEMA}.stream), "
                    f"(SELECT count(*) FROM {SCHEMA}.outbox)"
                )
            )
        ).one()
    return (int(row[0]), int(row[1]), int(row[2]))


async def test_many_streams_are_written_as_the_store_writes_one(service: Service) -> None:
    await service.known(("f-1", "KH"))
    events, streams, outbox = await counts(service)
    await append_visits(service, "V-1", "V-2", factory_version=1)
    after = await counts(service)
    # two visits of two events and the factory's record; each completed visit is public
    assert after == (events + 5, streams + 2, outbox + 2)
    async with service.assembled.engine.connect() as connection:
        stored = await connection.execute(
            text(
                f"SELECT stream_id, version, event_type FROM {SCHEMA}.event "
                "WHERE stream_id LIKE 'advisory-visit-%' ORDER BY position"
            )
        )
        names = [(row[1], row[2].split(".")[3]) for row in stored]
    assert names == [(1, "VisitPlanned"), (2, "VisitCompleted")] * 2
    published = await service.published("AdvisoryVisitCompleted", 2)  # the relay sends them
    assert sorted(e["data"]["visit_id"] for e in published) == sorted(
        steps(source)[0] for source in ("V-1", "V-2")
    )


async def test_a_stream_that_moved_keeps_the_whole_write_out(service: Service) -> None:
    await service.known(("f-1", "KH"))
    before = await counts(service)
    with pytest.raises(ConcurrencyConflict):
        await append_visits(service, "V-1", "V-2", factory_version=0)  # the record is at 1
    assert await counts(service) == before
    await append_visits(service, "V-1")
    with pytest.raises(ConcurrencyConflict):
        await append_visits(service, "V-1")  # exists already
