"""The functional aggregate idiom, pure (no I/O) so that domain modules can use it: an aggregate
type is an initial state and an `evolve` that folds one event into it; a command is a pure function
of the state that returns new events. `libs.events.repository` loads and changes aggregates."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from libs.domain.envelope import DomainEvent, Envelope

S = TypeVar("S")


class Decided(list[DomainEvent], Generic[S]):
    """A decision's events with the states it folded on the way (one after each event), for a
    decision that folds as it decides (a later rule sees an earlier event's effect): the repository
    takes these states instead of folding the same events a second time."""

    def __init__(self, events: Iterable[DomainEvent] = (), states: Iterable[S] = ()) -> None:
        super().__init__(events)
        self.states: list[S] = list(states)

    def add(self, event: DomainEvent, state: S) -> None:
        self.append(event)
        self.states.append(state)


class VersionMismatch(Exception):
    """The caller's expected version (HTTP If-Match) is not the aggregate's: HTTP 412."""

    def __init__(self, expected: int, actual: int) -> None:
        self.expected, self.actual = expected, actual
        super().__init__(f"the resource is at version {actual}, not {expected}")


@dataclass(frozen=True)
class Snapshots(Generic[S]):
    """Store the folded state every `every` events, so a long stream loads from its tail.

    `version` names the shape of the dumped state: a snapshot of another shape is ignored (and
    replaced on the next save), so changing the state's shape needs only a new number here.
    """

    every: int
    dump: Callable[[S], dict[str, Any]]
    restore: Callable[[dict[str, Any]], S]
    version: int = 1


@dataclass(frozen=True)
class AggregateType(Generic[S]):
    """How one kind of aggregate is stored and folded."""

    stream_type: str
    stream_prefix: str
    initial: S
    evolve: Callable[[S, DomainEvent], S]
    snapshots: Snapshots[S] | None = None

    def stream_id(self, aggregate_id: str) -> str:
        return self.stream_prefix + aggregate_id

    def fold(self, events: Iterable[DomainEvent], state: S | None = None) -> S:
        current = self.initial if state is None else state
        for event in events:
            current = self.evolve(current, event)
        return current


@dataclass(frozen=True)
class Loaded(Generic[S]):
    """An aggregate as loaded: its state and its version (0: it does not exist yet)."""

    aggregate_id: str
    state: S
    version: int


@dataclass(frozen=True)
class Change(Generic[S]):
    """What a command did: the state before and after, the new version and events, and what the
    command's own transaction read back for the caller's answer (`Repository.execute(answer=…)`)."""

    before: Loaded[S]
    state: S
    version: int
    events: tuple[DomainEvent, ...]
    envelopes: tuple[Envelope, ...]
    answer: Any = None

    @property
    def aggregate_id(self) -> str:
        return self.before.aggregate_id
