"""Business time and imported facts in the event store, on real PostgreSQL and NATS: `time` is
when a fact happened and `recordedtime` when the store recorded it, an imported fact names its
bundle (`importedfrom`) and keeps where it came from in the metadata; live appends are as
before; what a consumer appends in reaction to an imported fact is imported too."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.domain.contract import PublicContract
from libs.domain.envelope import (
    DomainEvent,
    Envelope,
    EventContext,
    EventRegistry,
    ImportOrigin,
    business_time,
    consumed_context,
    current_context,
    event_context,
    event_type,
    in_context,
)
from libs.events.consumer import ConsumerRunner, Subscription
from libs.events.memory import InMemoryEventStore
from libs.events.nats import NatsConnection
from libs.events.store import EventStore
from libs.events.tests.conftest import SCHEMA, CounterReset, ItemCounted, make_registry
from tools.testkit import publish_as_relays

PAST = datetime(2004, 6, 1, 12, tzinfo=UTC)
ORIGIN = ImportOrigin(
    bundle_id="kh-history-2001-2010",
    bundle_checksum="sha256:" + "a" * 64,
    kind="factories",
    source_id="KH-F-00012",
    imported_by="admin-7",
)


async def count_up(store: EventStore, stream: str, *amounts: int) -> list[Envelope]:
    async with store.unit_of_work() as uow:
        return await uow.append(
            stream,
            stream_type="counter",
            expected_version=await uow.stream_version(stream),
            events=[ItemCounted(counter=stream, amount=amount) for amount in amounts],
            subject="factory-1",
        )


async def outbox(engine: AsyncEngine) -> list[Envelope]:
    async with engine.connect() as connection:
        payloads = (
            await connection.scalars(text(f"SELECT payload FROM {SCHEMA}.outbox ORDER BY id"))
        ).all()
    return [Envelope.from_json(bytes(payload)) for payload in payloads]


async def recorded_at_column(engine: AsyncEngine, stream: str) -> list[datetime]:
    async with engine.connect() as connection:
        rows = await connection.scalars(
            text(f"SELECT recorded_at FROM {SCHEMA}.event WHERE stream_id = :s ORDER BY version"),
            {"s": stream},
        )
        return list(rows)


def around_now(moment: datetime, before: datetime) -> bool:
    return before - timedelta(seconds=1) <= moment <= datetime.now(UTC) + timedelta(seconds=1)


class TestLiveAppends:
    async def test_a_live_fact_happened_when_it_was_recorded_and_names_no_bundle(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        before = datetime.now(UTC)
        with event_context(correlation_id="corr-1", actor="assessor-1"):
            [appended] = await count_up(store, "c1", 5)
        assert appended.time == appended.recordedtime == appended.recorded_time
        assert around_now(appended.time, before)
        assert appended.importedfrom is None and not appended.imported

        [loaded] = await store.load("c1")
        assert loaded.occurred_at == loaded.recorded_at == appended.recordedtime
        assert loaded.imported is None
        assert loaded.actor == "assessor-1"
        assert "occurred_at" not in loaded.metadata and "imported" not in loaded.metadata

        [queued] = await outbox(engine)
        assert queued.time == queued.recordedtime == appended.time
        assert queued.importedfrom is None
        assert b"importedfrom" not in queued.to_json()

    async def test_outside_a_business_time_block_facts_are_live_again(
        self, store: EventStore
    ) -> None:
        with event_context(actor="admin-7"):
            with business_time(PAST, imported=ORIGIN):
                [past] = await count_up(store, "c1", 1)
            [now] = await count_up(store, "c1", 1)
        assert past.time == PAST and past.imported
        assert now.time == now.recordedtime and not now.imported
        loaded = await store.load("c1")
        assert [event.occurred_at == PAST for event in loaded] == [True, False]
        assert [event.actor for event in loaded] == ["admin-7", "admin-7"]


class TestImportedFacts:
    async def test_time_is_business_time_and_the_bundle_and_origin_are_kept(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        before = datetime.now(UTC)
        with (
            event_context(correlation_id="import-9", actor="someone-else"),
            business_time(PAST, imported=ORIGIN),
        ):
            appended = await count_up(store, "c1", 1, 2)
        for envelope in appended:
            assert envelope.time == PAST
            assert envelope.recordedtime is not None and around_now(envelope.recordedtime, before)
            assert envelope.recorded_time == envelope.recordedtime
            assert envelope.importedfrom == "kh-history-2001-2010" and envelope.imported
            assert envelope.correlationid == "import-9"

        loaded = await store.load("c1")
        assert [event.occurred_at for event in loaded] == [PAST, PAST]
        assert all(event.imported == ORIGIN.as_metadata() for event in loaded)
        assert loaded[0].imported == {
            "bundle": "kh-history-2001-2010",
            "checksum": "sha256:" + "a" * 64,
            "kind": "factories",
            "source_id": "KH-F-00012",
            "imported_by": "admin-7",
        }
        # the importer is the actor; the store's own column stays the recording time
        assert [event.actor for event in loaded] == ["admin-7", "admin-7"]
        assert loaded[0].metadata["occurred_at"] == PAST.isoformat()
        assert all(around_now(moment, before) for moment in await recorded_at_column(engine, "c1"))

        assert [(e.time, e.importedfrom) for e in await outbox(engine)] == [
            (PAST, "kh-history-2001-2010")
        ] * 2

    async def test_a_past_fact_that_was_not_imported_keeps_the_caller_as_actor(
        self, store: EventStore
    ) -> None:
        with event_context(actor="assessor-1"), business_time(PAST):
            [appended] = await count_up(store, "c1", 1)
        assert appended.time == PAST and appended.importedfrom is None
        [loaded] = await store.load("c1")
        assert loaded.occurred_at == PAST and loaded.imported is None
        assert loaded.actor == "assessor-1"

    async def test_each_event_of_one_append_has_its_own_context(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        live = EventContext("live-1", None, "factory-user")
        imported = EventContext("import-1", None, "admin-7", PAST, ORIGIN)
        async with store.unit_of_work() as uow:
            appended = await uow.append(
                "c1",
                stream_type="counter",
                expected_version=0,
                events=[
                    ItemCounted(counter="c1"),
                    CounterReset(counter="c1"),
                    ItemCounted(counter="c1"),
                ],
                subject="factory-1",
                contexts=[live, imported, live],
            )
        assert [e.imported for e in appended] == [False, True, False]
        assert appended[1].time == PAST and appended[0].time == appended[0].recordedtime
        loaded = await store.load("c1")
        assert [e.occurred_at == PAST for e in loaded] == [False, True, False]
        assert [e.imported is not None for e in loaded] == [False, True, False]
        assert [e.metadata["correlationid"] for e in loaded] == ["live-1", "import-1", "live-1"]

    async def test_a_rolled_back_import_leaves_nothing(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        with pytest.raises(RuntimeError), business_time(PAST, imported=ORIGIN):
            async with store.unit_of_work() as uow:
                await uow.append(
                    "c1",
                    stream_type="counter",
                    expected_version=0,
                    events=[ItemCounted(counter="c1")],
                    subject="factory-1",
                )
                raise RuntimeError("a record of the batch broke a rule")
        assert await store.stream_version("c1") == 0
        assert await outbox(engine) == []


class TestNaiveTimes:
    async def test_business_time_must_know_its_time_zone(self, store: EventStore) -> None:
        with pytest.raises(ValueError, match="timezone-aware"), business_time(datetime(2004, 6, 1)):
            await count_up(store, "c1", 1)
        assert await store.stream_version("c1") == 0

    def test_no_context_takes_a_naive_business_time(self) -> None:
        naive = datetime(2004, 6, 1, 12)
        with pytest.raises(ValueError, match="timezone-aware"), event_context(occurred_at=naive):
            pass
        with pytest.raises(ValueError, match="timezone-aware"):
            EventContext("corr", None, None, naive)
        assert current_context().occurred_at is None


class TestPublicEnvelopes:
    async def test_a_translated_public_event_keeps_business_time_and_its_bundle(
        self, engine: AsyncEngine, registry: EventRegistry, subject_prefix: str
    ) -> None:
        public_registry = EventRegistry("library")
        public_registry.register(CounterReset)

        def translate(event: DomainEvent, _state: object) -> Sequence[DomainEvent]:
            return [CounterReset(counter=event.counter)] if isinstance(event, ItemCounted) else []

        store = EventStore(
            engine=engine,
            schema=SCHEMA,
            registry=registry,
            subject_prefix=subject_prefix,
            public=PublicContract(public_registry, translate),
        )
        with business_time(PAST, imported=ORIGIN):
            [internal] = await count_up(store, "c1", 3)
        [public] = await outbox(engine)
        assert public.id != internal.id and public.event_name == "CounterReset"
        assert (public.time, public.recordedtime, public.importedfrom) == (
            PAST,
            internal.recordedtime,
            "kh-history-2001-2010",
        )

    def test_the_extensions_round_trip_and_an_older_envelope_reads_as_live(self) -> None:
        older = Envelope(
            id="e-1",
            source="/betterwork/library",
            type=event_type("library", "ItemCounted", 1),
            subject="factory-1",
            time=PAST,
            data={"counter": "c1", "amount": 1},
            correlationid="corr",
            streamid="c1",
            streamversion=1,
        )
        assert older.recorded_time == PAST and not older.imported
        assert b"recordedtime" not in older.to_json()
        recorded = PAST + timedelta(days=8000)
        newer = older.model_copy(
            update={"recordedtime": recorded, "importedfrom": "kh-history-2001-2010"}
        )
        again = Envelope.from_json(newer.to_json())
        assert again == newer
        assert again.recorded_time == recorded and again.imported


def upstream(time: datetime, importedfrom: str | None) -> Envelope:
    return Envelope(
        id=str(uuid.uuid4()),
        source="/betterwork/library",
        type=event_type("library", "ItemCounted", 1),
        subject="factory-1",
        time=time,
        data={"counter": "up", "amount": 1},
        correlationid=str(uuid.uuid4()),
        streamid="up",
        streamversion=1,
        recordedtime=datetime.now(UTC),
        importedfrom=importedfrom,
    )


class TestConsumedContext:
    def test_what_follows_an_imported_fact_happened_then_and_comes_from_its_bundle(
        self,
    ) -> None:
        cause = upstream(PAST, "kh-history-2001-2010")
        context = consumed_context(cause)
        assert (context.correlation_id, context.causation_id) == (cause.correlationid, cause.id)
        assert context.occurred_at == PAST
        assert context.imported == ImportOrigin(
            bundle_id="kh-history-2001-2010",
            bundle_checksum=None,
            kind="derived",
            source_id=cause.id,
            imported_by="/betterwork/library",
        )

    def test_what_follows_a_live_fact_is_live(self) -> None:
        cause = upstream(datetime.now(UTC), None)
        context = consumed_context(cause)
        assert (context.correlation_id, context.causation_id) == (cause.correlationid, cause.id)
        assert context.occurred_at is None and context.imported is None

    async def test_in_memory_store_stamps_and_reads_back_as_postgresql_does(self) -> None:
        store = InMemoryEventStore(make_registry())
        cause = upstream(PAST, "kh-history-2001-2010")
        for context in (consumed_context(cause), EventContext("live", None, "factory-user")):
            with in_context(context):
                async with store.unit_of_work() as uow:
                    await uow.append(
                        context.correlation_id,
                        stream_type="counter",
                        expected_version=0,
                        events=[CounterReset(counter="c")],
                        subject="factory-1",
                    )
        [derived] = store.streams[cause.correlationid]
        [live] = store.streams["live"]
        assert derived.occurred_at == PAST and derived.imported is not None
        assert derived.imported["bundle"] == "kh-history-2001-2010"
        assert live.occurred_at == live.recorded_at and live.imported is None
        assert live.actor == "factory-user"


class TestDerivedEvents:
    async def test_a_consumer_s_reaction_to_an_imported_fact_is_imported_at_its_time(
        self,
        store: EventStore,
        nats: NatsConnection,
        registry: EventRegistry,
        subject_prefix: str,
    ) -> None:
        async def react(connection: AsyncConnection, envelope: Envelope, _: DomainEvent) -> None:
            async with store.unit_of_work(connection=connection) as uow:
                await uow.append(
                    f"derived-{envelope.id}",
                    stream_type="counter",
                    expected_version=0,
                    events=[CounterReset(counter=envelope.id)],
                    subject=envelope.subject,
                )

        imported, live = upstream(PAST, "kh-history-2001-2010"), upstream(PAST, None)
        await publish_as_relays(nats, subject_prefix, [imported, live])
        runner = ConsumerRunner(
            engine=store.engine,
            schema=SCHEMA,
            nats=nats,
            subscription=Subscription(
                durable="library-derived",
                source_service="library",
                handlers={"ItemCounted": react},
                registry=registry,
            ),
            subject_prefix=subject_prefix,
            fetch_timeout=0.5,
        )
        await runner.start()
        try:
            async with asyncio.timeout(20):
                while await store.stream_version(f"derived-{live.id}") == 0 or (
                    await store.stream_version(f"derived-{imported.id}") == 0
                ):
                    await asyncio.sleep(0.05)
        finally:
            await runner.stop()

        [from_import] = await store.load(f"derived-{imported.id}")
        assert from_import.occurred_at == PAST
        assert from_import.imported == {
            "bundle": "kh-history-2001-2010",
            "checksum": None,
            "kind": "derived",
            "source_id": imported.id,
            "imported_by": "/betterwork/library",
        }
        assert from_import.metadata["causationid"] == imported.id
        assert from_import.metadata["correlationid"] == imported.correlationid

        # a live upstream fact, even one that says it happened long ago, is followed by live ones
        [from_live] = await store.load(f"derived-{live.id}")
        assert from_live.occurred_at == from_live.recorded_at > PAST
        assert from_live.imported is None
        assert from_live.metadata["causationid"] == live.id

        published = {e.streamid: e for e in await outbox(store.engine)}
        assert published[f"derived-{imported.id}"].importedfrom == "kh-history-2001-2010"
        assert published[f"derived-{imported.id}"].time == PAST
        assert published[f"derived-{live.id}"].importedfrom is None
