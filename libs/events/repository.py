"""The aggregate repository, written once for every service: load an aggregate (from its snapshot
when one exists), authorize, check the caller's expected version, decide, append the new events
with the read-model projection in the same transaction, and retry on a concurrent append where the
command allows it.

An aggregate is described functionally (`AggregateType`): an initial state and a pure `evolve`
that folds one event into the state. Commands are pure `decide` functions of the state returning
new events. Handlers own the unit of work: they call `Repository.execute`, which opens one per
attempt, or pass the unit they already hold.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, Protocol, TypeVar

from libs.domain.aggregate import (
    AggregateType,
    Change,
    Decided,
    Loaded,
    Snapshots,
    VersionMismatch,
)
from libs.domain.envelope import DomainEvent, Envelope, EventContext
from libs.events.store import ConcurrencyConflict, RecordedEvent, Snapshot

S = TypeVar("S")


class StreamAccess(Protocol):
    """What the repository needs of a unit of work (the PostgreSQL one or the in-memory one)."""

    async def load(self, stream_id: str, *, after_version: int = 0) -> list[RecordedEvent]: ...

    async def load_snapshot(self, stream_id: str) -> Snapshot | None: ...

    async def load_from_snapshot(
        self, stream_id: str
    ) -> tuple[Snapshot | None, list[RecordedEvent]]: ...

    async def save_snapshot(self, stream_id: str, version: int, state: dict[str, Any]) -> None: ...

    async def append(
        self,
        stream_id: str,
        *,
        stream_type: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        subject: str,
        states: Sequence[Any] | None = None,
        contexts: Sequence[EventContext] | None = None,
    ) -> list[Envelope]: ...

    def before_write(self) -> None: ...

    def after_commit(self, callback: Callable[[], None]) -> None: ...


U = TypeVar("U", bound=StreamAccess)
U_co = TypeVar("U_co", bound=StreamAccess, covariant=True)


class Store(Protocol[U_co]):
    def unit_of_work(
        self, *, authorize_first: bool = False, connection: Any = None
    ) -> AbstractAsyncContextManager[U_co]: ...


Decide = Callable[[S], Sequence[DomainEvent] | Awaitable[Sequence[DomainEvent]]]
Authorize = Callable[[Loaded[S]], None]
Project = Callable[[U, Change[S]], Awaitable[None]]
Answer = Callable[[U, Change[S]], Awaitable[Any]]


class Repository(Generic[S, U]):
    """Loads and changes aggregates of one type in a store.

    `subject_of` gives the CloudEvents subject (the factory the events are about) from the
    aggregate's id and state; `project` updates read models in the same transaction.
    """

    def __init__(
        self,
        store: Store[U],
        aggregate: AggregateType[S],
        *,
        subject_of: Callable[[str, S], str] = lambda aggregate_id, _state: aggregate_id,
        project: Project[U, S] | None = None,
        cache: int = 0,
    ) -> None:
        self.store = store
        self.aggregate = aggregate
        self.subject_of = subject_of
        self.project = project
        # The states this process last committed, by stream (at most `cache` of them, least
        # recently used dropped first): a command on one of them loads only the events after the
        # cached version (none, unless another replica appended) instead of restoring the
        # snapshot and folding its tail. A state enters only once its transaction committed.
        self.cache_size = cache
        self._cache: OrderedDict[str, tuple[int, S]] = OrderedDict()

    def _remember(self, stream_id: str, version: int, state: S) -> None:
        cached = self._cache.get(stream_id)
        if cached is not None and cached[0] >= version:
            return  # a later state is already there (commits can finish out of order)
        self._cache[stream_id] = (version, state)
        self._cache.move_to_end(stream_id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    async def load(self, unit: U, aggregate_id: str) -> Loaded[S]:
        aggregate = self.aggregate
        stream_id = aggregate.stream_id(aggregate_id)
        state, version = aggregate.initial, 0
        snapshots = aggregate.snapshots
        cached = self._cache.get(stream_id)
        if cached is not None:
            self._cache.move_to_end(stream_id)
            version, state = cached
            recorded = await unit.load(stream_id, after_version=version)
        elif snapshots is None:
            recorded = await unit.load(stream_id)
        else:
            snapshot, recorded = await unit.load_from_snapshot(stream_id)
            if snapshot is not None:
                if snapshot.state.get("_shape") == snapshots.version:
                    state, version = snapshots.restore(snapshot.state["state"]), snapshot.version
                else:  # a snapshot of an older shape: the whole stream
                    recorded = await unit.load(stream_id)
        if recorded:
            state = aggregate.fold((entry.event for entry in recorded), state)
            version = recorded[-1].version
        return Loaded(aggregate_id, state, version)

    async def execute(
        self,
        aggregate_id: str,
        decide: Decide[S],
        *,
        expected_version: int | None = None,
        authorize: Authorize[S] | None = None,
        conflict_retries: int = 0,
        unit: U | None = None,
        connection: Any = None,
        answer: Answer[U, S] | None = None,
    ) -> Change[S]:
        """Run one command on the aggregate; see the module docstring for the steps.

        With `unit`, the caller's unit of work is used and a conflict is raised to the caller.
        Otherwise each attempt has a unit of its own (a savepoint on `connection` when given, as in
        a consumer's transaction), and a `ConcurrencyConflict` (another writer
        appended since the load) is retried up to `conflict_retries` times, the command deciding
        again on the new state; commands checked against the caller's `expected_version` should
        not retry, since the caller decided on the version it saw.

        `answer`, when given, runs last in the same unit of work (after the projection) and its
        result is the change's `answer`: a route answers from what its own transaction wrote,
        without a connection and a transaction of its own for the read.
        """
        if unit is not None:
            return await self._attempt(
                unit, aggregate_id, decide, expected_version, authorize, answer
            )
        attempt = 0
        while True:
            try:
                async with self.store.unit_of_work(
                    authorize_first=True, connection=connection
                ) as own_unit:
                    return await self._attempt(
                        own_unit, aggregate_id, decide, expected_version, authorize, answer
                    )
            except ConcurrencyConflict:
                attempt += 1
                if attempt > conflict_retries:
                    raise

    async def _attempt(
        self,
        unit: U,
        aggregate_id: str,
        decide: Decide[S],
        expected_version: int | None,
        authorize: Authorize[S] | None,
        answer: Answer[U, S] | None = None,
    ) -> Change[S]:
        change = await self._change(unit, aggregate_id, decide, expected_version, authorize)
        if answer is not None:
            change = dataclasses.replace(change, answer=await answer(unit, change))
        return change

    async def execute_each(
        self,
        aggregate_id: str,
        decisions: Sequence[tuple[EventContext, Decide[S]]],
        *,
        conflict_retries: int = 0,
        connection: Any = None,
    ) -> Change[S]:
        """Several commands on one aggregate at once, for a consumer applying a fetched batch:
        loaded once, each decided on the state the previous one left, all the events appended in
        one statement (each with its own command's context: correlation and causation), projected
        once. The same events, in the same order, as one `execute` per command; retried as a whole
        on a concurrent append."""
        attempt = 0
        while True:
            try:
                async with self.store.unit_of_work(
                    authorize_first=True, connection=connection
                ) as unit:
                    return await self._change(unit, aggregate_id, decisions, None, None)
            except ConcurrencyConflict:
                attempt += 1
                if attempt > conflict_retries:
                    raise

    async def _change(
        self,
        unit: U,
        aggregate_id: str,
        decide: Decide[S] | Sequence[tuple[EventContext, Decide[S]]],
        expected_version: int | None,
        authorize: Authorize[S] | None,
    ) -> Change[S]:
        loaded = await self.load(unit, aggregate_id)
        if authorize is not None:
            authorize(loaded)
        unit.before_write()  # a retried request (Idempotency-Key) is replayed here
        if expected_version is not None and expected_version != loaded.version:
            raise VersionMismatch(expected_version, loaded.version)
        aggregate = self.aggregate
        decisions = decide if isinstance(decide, Sequence) else [(None, decide)]
        events: list[DomainEvent] = []
        contexts: list[EventContext] | None = None if callable(decide) else []
        states = []
        state = loaded.state
        for context, decide_one in decisions:
            decided = decide_one(state)
            new_events = await decided if inspect.isawaitable(decided) else decided
            if isinstance(new_events, Decided) and len(new_events.states) == len(new_events):
                folded = new_events.states  # the decision folded them already
            else:
                folded = []
                for event in new_events:
                    state = aggregate.evolve(state, event)
                    folded.append(state)
            if folded:
                state = folded[-1]
            states.extend(folded)
            events.extend(new_events)
            if contexts is not None:
                assert context is not None
                contexts.extend([context] * len(new_events))
        if not events:
            return Change(loaded, loaded.state, loaded.version, (), ())
        version = loaded.version + len(events)
        stream_id = aggregate.stream_id(aggregate_id)
        envelopes = await unit.append(
            stream_id,
            stream_type=aggregate.stream_type,
            expected_version=loaded.version,
            events=events,
            subject=self.subject_of(aggregate_id, state),
            states=states,
            contexts=contexts,
        )
        change = Change(loaded, state, version, tuple(events), tuple(envelopes))
        if self.cache_size:
            unit.after_commit(lambda: self._remember(stream_id, version, state))
        if self.project is not None:
            await self.project(unit, change)
        snapshots = aggregate.snapshots
        if snapshots is not None and version // snapshots.every > loaded.version // snapshots.every:
            await unit.save_snapshot(
                stream_id, version, {"_shape": snapshots.version, "state": snapshots.dump(state)}
            )
        return change


__all__ = [
    "AggregateType",
    "Change",
    "Decided",
    "Loaded",
    "Repository",
    "Snapshots",
    "StreamAccess",
    "VersionMismatch",
]
