"""The aggregate repository: in memory (no I/O) and against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.domain.contract import PublicContract
from libs.domain.envelope import DomainEvent, EventContext, EventRegistry
from libs.events.ambient import RequestTransaction, StoredResponseReplay, joined_transaction
from libs.events.memory import InMemoryEventStore, InMemoryUnit
from libs.events.repository import (
    AggregateType,
    Change,
    Decided,
    Loaded,
    Repository,
    Snapshots,
    VersionMismatch,
)
from libs.events.store import ConcurrencyConflict, EventStore, UnitOfWork
from libs.events.tests.conftest import SCHEMA, CounterReset, ItemCounted, make_registry


@dataclass(frozen=True)
class Counter:
    total: int = 0
    owner: str = "factory-1"


def evolve(state: Counter, event: DomainEvent) -> Counter:
    if isinstance(event, ItemCounted):
        return Counter(state.total + event.amount, state.owner)
    if isinstance(event, CounterReset):
        return Counter(0, state.owner)
    return state


COUNTER = AggregateType(
    stream_type="counter", stream_prefix="counter-", initial=Counter(), evolve=evolve
)
SNAPSHOTTED = AggregateType(
    stream_type="counter",
    stream_prefix="counter-",
    initial=Counter(),
    evolve=evolve,
    snapshots=Snapshots(
        every=3,
        dump=lambda state: {"total": state.total, "owner": state.owner},
        restore=lambda data: Counter(data["total"], data["owner"]),
    ),
)


def add(amount: int) -> ItemCounted:
    return ItemCounted(counter="c", amount=amount)


def adding(amount: int) -> Callable[[Counter], list[DomainEvent]]:
    return lambda _state: [add(amount)]


class NotYours(Exception):
    pass


class TestInMemory:
    """Given events, when a command, then events: the repository's rules without any I/O."""

    async def test_a_decision_that_folded_its_events_is_not_folded_again(self) -> None:
        folds: list[DomainEvent] = []

        def counting(state: Counter, event: DomainEvent) -> Counter:
            folds.append(event)
            return evolve(state, event)

        aggregate = AggregateType(
            stream_type="counter", stream_prefix="counter-", initial=Counter(), evolve=counting
        )

        def decide(state: Counter) -> list[DomainEvent]:
            decided: Decided[Counter] = Decided()
            for amount in (2, 3):
                event = add(amount)
                state = counting(state, event)
                decided.add(event, state)
            return decided

        store = InMemoryEventStore(make_registry())
        repository: Repository[Counter, InMemoryUnit] = Repository(store, aggregate)
        change = await repository.execute("c", decide)
        assert len(folds) == 2  # by the decision only
        assert change.state == Counter(5) and change.version == 2
        assert (await repository.execute("c", adding(1))).state == Counter(6)  # loaded and folded

    async def test_decides_on_the_folded_state_and_appends(self) -> None:
        store = InMemoryEventStore(make_registry())
        repository: Repository[Counter, InMemoryUnit] = Repository(store, COUNTER)
        await repository.execute("c", lambda _: [add(2), add(3)])
        change = await repository.execute(
            "c", lambda state: [CounterReset(counter="c")] if state.total > 4 else []
        )
        assert change.version == 3 and change.state == Counter(0)
        assert store.events("counter-c") == [add(2), add(3), CounterReset(counter="c")]
        assert [envelope.streamversion for envelope in store.published] == [1, 2, 3]

    async def test_refuses_a_stale_expected_version_and_appends_nothing(self) -> None:
        store = InMemoryEventStore(make_registry())
        repository: Repository[Counter, InMemoryUnit] = Repository(store, COUNTER)
        await repository.execute("c", lambda _: [add(1)])
        with pytest.raises(VersionMismatch) as refused:
            await repository.execute("c", lambda _: [add(1)], expected_version=0)
        assert (refused.value.expected, refused.value.actual) == (0, 1)
        assert store.events("counter-c") == [add(1)]

    async def test_authorizes_before_deciding(self) -> None:
        store = InMemoryEventStore(make_registry())
        repository: Repository[Counter, InMemoryUnit] = Repository(store, COUNTER)
        decided: list[int] = []

        def refuse(loaded: Loaded[Counter]) -> None:
            raise NotYours(loaded.aggregate_id)

        def decide(state: Counter) -> list[DomainEvent]:
            decided.append(state.total)
            return [add(1)]

        with pytest.raises(NotYours):
            await repository.execute("c", decide, authorize=refuse, expected_version=99)
        assert decided == [] and store.events("counter-c") == []

    async def test_a_failing_decision_keeps_nothing(self) -> None:
        store = InMemoryEventStore(make_registry())
        repository: Repository[Counter, InMemoryUnit] = Repository(store, COUNTER)

        async def project(unit: InMemoryUnit, change: Change[Counter]) -> None:
            raise RuntimeError("projection failed")

        failing: Repository[Counter, InMemoryUnit] = Repository(store, COUNTER, project=project)
        with pytest.raises(RuntimeError):
            await failing.execute("c", lambda _: [add(1)])
        assert store.events("counter-c") == [] and store.published == []
        await repository.execute("c", lambda _: [add(1)])
        assert store.events("counter-c") == [add(1)]

    async def test_snapshots_give_the_same_state_as_the_full_fold(self) -> None:
        store = InMemoryEventStore(make_registry())
        repository: Repository[Counter, InMemoryUnit] = Repository(store, SNAPSHOTTED)
        for amount in range(1, 8):
            await repository.execute("c", adding(amount))
        assert store.snapshots["counter-c"].version == 6
        async with store.unit_of_work() as unit:
            from_snapshot = await repository.load(unit, "c")
            full = await Repository(store, COUNTER).load(unit, "c")
        assert from_snapshot == full == Loaded("c", Counter(28), 7)

    async def test_a_snapshot_of_another_shape_is_ignored(self) -> None:
        store = InMemoryEventStore(make_registry())
        repository: Repository[Counter, InMemoryUnit] = Repository(store, SNAPSHOTTED)
        for _ in range(3):
            await repository.execute("c", lambda _: [add(1)])
        store.snapshots["counter-c"].state["_shape"] = 0  # written by an older version
        async with store.unit_of_work() as unit:
            assert (await repository.load(unit, "c")).state == Counter(3)


@pytest.mark.integration
class TestOnPostgres:
    async def test_retries_a_conflict_by_deciding_again(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        """Sixteen concurrent increments with retries: no increment is lost, no version skipped."""

        async def project(unit: UnitOfWork, change: Change[Counter]) -> None:
            await unit.connection.execute(
                text(
                    f"INSERT INTO {SCHEMA}.counter (name, total, applications) "
                    "VALUES (:name, :total, 1) ON CONFLICT (name) DO UPDATE SET "
                    "total = EXCLUDED.total, applications = counter.applications + 1"
                ),
                {"name": change.aggregate_id, "total": change.state.total},
            )

        repository: Repository[Counter, UnitOfWork] = Repository(store, COUNTER, project=project)
        await asyncio.gather(
            *(repository.execute("c", lambda _: [add(1)], conflict_retries=40) for _ in range(16))
        )
        recorded = await store.load("counter-c")
        assert [entry.version for entry in recorded] == list(range(1, 17))
        async with engine.connect() as connection:
            row = (
                await connection.execute(text(f"SELECT total, applications FROM {SCHEMA}.counter"))
            ).one()
        assert tuple(row) == (16, 16)

    async def test_a_conflict_is_retried_only_when_the_command_allows_it(
        self, store: EventStore
    ) -> None:
        repository: Repository[Counter, UnitOfWork] = Repository(store, COUNTER)
        await repository.execute("c", adding(1))
        seen: list[int] = []

        async def decide_while_another_writer_commits(state: Counter) -> list[DomainEvent]:
            seen.append(state.total)
            if len(seen) == 1:  # another transaction appends after this one loaded
                await store.append(
                    "counter-c",
                    stream_type="counter",
                    expected_version=await store.stream_version("counter-c"),
                    events=[add(5)],
                    subject="factory-1",
                )
            return [add(1)]

        with pytest.raises(ConcurrencyConflict):
            await repository.execute("c", decide_while_another_writer_commits)
        assert await store.stream_version("counter-c") == 2
        seen.clear()
        change = await repository.execute(
            "c", decide_while_another_writer_commits, conflict_retries=1
        )
        assert seen == [6, 11]  # decided again on the state the other writer left
        assert change.version == 4 and change.state.total == 12

    async def test_snapshots_in_postgres_load_the_same_state(self, store: EventStore) -> None:
        repository: Repository[Counter, UnitOfWork] = Repository(store, SNAPSHOTTED)
        for amount in range(1, 11):
            await repository.execute("c", adding(amount))
        async with store.unit_of_work() as unit:
            snapshot = await unit.load_snapshot("counter-c")
            from_snapshot = await repository.load(unit, "c")
            full = await Repository(store, COUNTER).load(unit, "c")
        assert snapshot is not None and snapshot.version == 9
        assert from_snapshot == full == Loaded("c", Counter(55), 10)

    async def test_a_snapshot_and_the_events_after_it_load_in_one_statement(
        self, store: EventStore
    ) -> None:
        repository: Repository[Counter, UnitOfWork] = Repository(store, SNAPSHOTTED)
        for amount in range(1, 3):
            await repository.execute("c", adding(amount))
        async with store.unit_of_work() as unit:
            before_any_snapshot = await unit.load_from_snapshot("counter-c")
        for amount in range(3, 6):
            await repository.execute("c", adding(amount))
        async with store.unit_of_work() as unit:
            snapshot, tail = await unit.load_from_snapshot("counter-c")
        assert before_any_snapshot[0] is None
        assert [entry.version for entry in before_any_snapshot[1]] == [1, 2]
        assert snapshot is not None and snapshot.version == 3
        assert [entry.version for entry in tail] == [4, 5]
        assert [entry.event for entry in tail] == [add(4), add(5)]

    async def test_the_answer_is_read_in_the_commands_own_transaction(
        self, store: EventStore
    ) -> None:
        repository: Repository[Counter, UnitOfWork] = Repository(store, COUNTER)
        await repository.execute("c", adding(1))

        async def read_back(unit: UnitOfWork, change: Change[Counter]) -> tuple[int, int]:
            count = await unit.connection.scalar(
                text(f"SELECT count(*) FROM {SCHEMA}.event WHERE stream_id = 'counter-c'")
            )
            return change.version, int(count or 0)

        change = await repository.execute("c", adding(2), answer=read_back)
        assert change.answer == (2, 2)  # the new event is visible: same transaction
        unchanged = await repository.execute("c", lambda _state: [], answer=read_back)
        assert unchanged.answer == (2, 2) and unchanged.events == ()

    async def test_several_commands_append_once_each_event_with_its_own_cause(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        repository: Repository[Counter, UnitOfWork] = Repository(store, SNAPSHOTTED)
        await repository.execute("c", adding(1))
        seen: list[int] = []

        def adding_after(amount: int) -> Callable[[Counter], list[DomainEvent]]:
            def decide(state: Counter) -> list[DomainEvent]:
                seen.append(state.total)
                return [add(amount)] if amount else []

            return decide

        causes = [EventContext("batch", f"cause-{n}") for n in range(3)]
        change = await repository.execute_each(
            "c",
            [
                (causes[0], adding_after(2)),
                (causes[1], adding_after(0)),
                (causes[2], adding_after(3)),
            ],
        )
        assert seen == [1, 3, 3]  # each decided on the state the one before left
        assert change.version == 3 and change.state.total == 6
        assert [envelope.causationid for envelope in change.envelopes] == ["cause-0", "cause-2"]
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    text(
                        f"SELECT version, metadata->>'causationid' FROM {SCHEMA}.event "
                        "WHERE stream_id = 'counter-c' ORDER BY version"
                    )
                )
            ).all()
        assert [tuple(row) for row in rows[1:]] == [(2, "cause-0"), (3, "cause-2")]
        async with store.unit_of_work() as unit:  # the snapshot at 3 was taken once
            snapshot = await unit.load_snapshot("counter-c")
        assert snapshot is not None and snapshot.version == 3

    async def test_a_replayed_request_is_authorized_before_it_is_replayed(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        repository: Repository[Counter, UnitOfWork] = Repository(store, COUNTER)
        await repository.execute("c", adding(1))
        replay = RequestTransaction(engine, None, replay="the stored answer")

        def refuse(loaded: Loaded[Counter]) -> None:
            raise NotYours(loaded.aggregate_id)

        with joined_transaction(replay):
            with pytest.raises(NotYours):
                await repository.execute("c", adding(1), authorize=refuse)
            with pytest.raises(StoredResponseReplay) as replayed:
                await repository.execute("c", adding(1), authorize=lambda _: None)
        assert replayed.value.stored == "the stored answer"
        assert await store.stream_version("counter-c") == 1


class CounterTotalled(DomainEvent):
    """A public event that carries the aggregate's state after the change."""

    counter: str
    total: int


async def test_public_events_are_translated_with_the_state_after_each_event() -> None:
    public_registry = EventRegistry("library")
    public_registry.register(CounterTotalled)

    def translate(event: DomainEvent, state: Counter) -> list[DomainEvent]:
        if isinstance(event, ItemCounted):
            return [CounterTotalled(counter=event.counter, total=state.total)]
        return []

    store = InMemoryEventStore(make_registry(), PublicContract(public_registry, translate))
    repository: Repository[Counter, InMemoryUnit] = Repository(store, COUNTER)
    await repository.execute("c", lambda _: [add(2), CounterReset(counter="c"), add(5)])
    assert [(envelope.type, envelope.data) for envelope in store.published] == [
        ("org.betterwork.library.CounterTotalled.v1", {"counter": "c", "total": 2}),
        ("org.betterwork.library.CounterTotalled.v1", {"counter": "c", "total": 5}),
    ]
    assert [envelope.streamversion for envelope in store.published] == [1, 3]


@pytest.mark.integration
async def test_in_a_callers_transaction_a_conflict_is_retried_on_a_savepoint(
    store: EventStore, engine: AsyncEngine
) -> None:
    """As a consumer does: its own transaction (with its inbox row) survives the retry."""
    repository: Repository[Counter, UnitOfWork] = Repository(store, COUNTER)
    await repository.execute("c", adding(1))
    attempts: list[int] = []

    async def decide(state: Counter) -> list[DomainEvent]:
        attempts.append(state.total)
        if len(attempts) == 1:  # another writer commits between this load and this append
            await store.append(
                "counter-c",
                stream_type="counter",
                expected_version=1,
                events=[add(10)],
                subject="factory-1",
            )
        return [add(1)]

    async with engine.begin() as connection:
        await connection.execute(
            text(f"INSERT INTO {SCHEMA}.counter (name, total, applications) VALUES ('x', 0, 0)")
        )
        change = await repository.execute("c", decide, conflict_retries=1, connection=connection)
    assert attempts == [1, 11] and change.state.total == 12
    assert await store.stream_version("counter-c") == 3
    async with engine.connect() as connection:
        assert await connection.scalar(text(f"SELECT count(*) FROM {SCHEMA}.counter")) == 1


class TestCommittedStateCache:
    """`Repository(cache=N)`: the states this process committed are the starting point of the
    next command on the same aggregate; only the events after them are loaded."""

    async def test_the_next_command_folds_only_what_another_replica_appended(self) -> None:
        folds: list[DomainEvent] = []

        def counting(state: Counter, event: DomainEvent) -> Counter:
            folds.append(event)
            return evolve(state, event)

        aggregate = AggregateType(
            stream_type="counter", stream_prefix="counter-", initial=Counter(), evolve=counting
        )
        store = InMemoryEventStore(make_registry())
        cached: Repository[Counter, InMemoryUnit] = Repository(store, aggregate, cache=8)
        replica: Repository[Counter, InMemoryUnit] = Repository(store, aggregate)
        await cached.execute("c", lambda _: [add(1), add(2)])
        folds.clear()
        await replica.execute("c", adding(10))  # another process: folds 2 and appends 1
        replica_folds = len(folds)
        change = await cached.execute("c", adding(100))
        assert change.before.state == Counter(13) and change.state == Counter(113)
        assert len(folds) - replica_folds == 2  # the replica's event and the new one
        assert change.version == 4

    async def test_at_most_n_states_are_kept_least_recently_used_first_out(self) -> None:
        store = InMemoryEventStore(make_registry())
        repository: Repository[Counter, InMemoryUnit] = Repository(store, COUNTER, cache=2)
        for name in ("a", "b", "a", "c"):
            await repository.execute(name, adding(1))
        assert list(repository._cache) == ["counter-a", "counter-c"]

    async def test_a_rolled_back_change_is_not_remembered(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        async def refuse(unit: UnitOfWork, change: Change[Counter]) -> None:
            if change.state.total > 100:
                raise RuntimeError("read model refused it")

        repository: Repository[Counter, UnitOfWork] = Repository(
            store, COUNTER, project=refuse, cache=8
        )
        await repository.execute("c", adding(1))
        with pytest.raises(RuntimeError):
            await repository.execute("c", adding(500))  # appended, projected, rolled back
        assert repository._cache["counter-c"][0] == 1
        other: Repository[Counter, UnitOfWork] = Repository(store, COUNTER)
        await other.execute("c", adding(5))  # version 2 is this one, not the rolled-back one
        change = await repository.execute("c", adding(1))
        assert change.before.state == Counter(6) and change.state == Counter(7)

    async def test_in_a_callers_transaction_nothing_is_remembered(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        """A consumer commits its own transaction: the unit cannot know whether it did."""
        repository: Repository[Counter, UnitOfWork] = Repository(store, COUNTER, cache=8)
        async with engine.connect() as connection:
            transaction = await connection.begin()
            await repository.execute("c", adding(1), connection=connection)
            await transaction.rollback()
        assert not repository._cache
        assert await store.stream_version("counter-c") == 0
