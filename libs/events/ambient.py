"""A request-wide transaction that the event store joins, so that a command's events, its read-model
changes and the stored answer to its `Idempotency-Key` commit together or not at all.

The HTTP edge opens it (see `libs.servicekit.idempotency`); the store only looks it up. A retry of a
request that already committed joins a transaction in replay mode instead: the first write it
attempts raises `StoredResponseReplay`, after the route's own authorization has run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class StoredResponseReplay(Exception):
    """A retried request reached its first write: the stored answer is sent instead."""

    def __init__(self, stored: Any) -> None:
        super().__init__("replaying the stored response")
        self.stored = stored


@dataclass
class RequestTransaction:
    """The transaction of one HTTP request on `engine`: `connection` is inside it (None when the
    request is a replay); `after_commit` collects what to run once it has committed."""

    engine: AsyncEngine
    connection: AsyncConnection | None
    replay: Any = None
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    def before_write(self) -> None:
        """Called before anything is written in the request: a replay stops here."""
        if self.replay is not None:
            raise StoredResponseReplay(self.replay)


_current: ContextVar[RequestTransaction | None] = ContextVar("bw_request_transaction", default=None)


def request_transaction(engine: AsyncEngine) -> RequestTransaction | None:
    """The current request's transaction on `engine`, if one is open."""
    joined = _current.get()
    return joined if joined is not None and joined.engine is engine else None


@contextmanager
def joined_transaction(transaction: RequestTransaction) -> Iterator[None]:
    """Make `transaction` the one the event store joins for the code run inside."""
    token = _current.set(transaction)
    try:
        yield
    finally:
        _current.reset(token)
