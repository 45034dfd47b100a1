"""What buyer sharing's command handlers (and the routes' reads) depend on, built once by the
service definition's `dependencies` (`make_dependencies`): the aggregates' repositories on the
event store, the read-model lookups and answers a command makes in its own unit of work, the
clock, and the public pages' in-process cache and rate limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from libs.domain.aggregate import Change
from libs.events.repository import Answer, Project, Repository
from libs.events.store import EventStore
from services.buyer_sharing.domain import access_request, buyer, sharing
from services.buyer_sharing.ids import split_pair_id
from services.buyer_sharing.pagecache import PublicSite

Row = dict[str, Any]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Lookups(Protocol):
    """What commands ask the read models, inside their own unit of work
    (queries.command_reads.ReadModelLookups; a fake in handler unit tests, where the in-memory
    store has no read models)."""

    async def factory_by_os_id(self, unit: Any, os_id: str) -> str | None: ...

    async def factory_os_id(self, unit: Any, factory_id: str) -> str | None: ...

    async def reliance_factory(self, unit: Any, reliance_id: str, buyer_id: str) -> str | None: ...

    async def open_requests(self, unit: Any, buyer_id: str) -> int:
        """The buyer's pending access requests, counted under a lock on the buyer held until the
        unit commits (two requests of one buyer count one after the other)."""
        ...

    async def completed_assessment(self, unit: Any, factory_id: str, assessment_id: str) -> bool:
        """Whether the assessment service completed `assessment_id` at `factory_id`."""
        ...


class Answers(Protocol):
    """The rows a command's caller gets back, read in the command's own transaction after the
    projection (queries.command_reads.ReadModelAnswers; none in handler unit tests)."""

    async def buyer(self, unit: Any, buyer_id: str) -> Row | None: ...

    async def grant(self, unit: Any, factory_id: str, buyer_id: str) -> Row | None: ...

    async def access_request(self, unit: Any, request_id: str) -> Row | None: ...

    async def reliance(self, unit: Any, reliance_id: str) -> Row | None: ...


def _request_subject(_request_id: str, state: access_request.AccessRequest) -> str:
    """The factory a request is about; for one named by OS ID, that OS ID until the factory
    consents: the buyer's webhook receives its own request and its decline, and the factory the OS
    ID resolved to would tell the buyer which factory that is, and that it exists."""
    if state.status != "approved" and state.os_id is not None:
        return state.os_id
    return state.factory_id or state.os_id or "unresolved"


@dataclass(frozen=True)
class Dependencies:
    """What the handlers and the routes' reads need; built once (`make_dependencies`, by the
    service definition's `dependencies`)."""

    store: EventStore
    buyers: Repository[buyer.Buyer, Any]
    sharing: Repository[sharing.Sharing, Any]
    requests: Repository[access_request.AccessRequest, Any]
    lookups: Lookups
    clock: Callable[[], datetime]
    # what the public transparency pages keep in process (answers made, rate limits)
    public: PublicSite
    # None where there are no read models to answer from (handler unit tests)
    answers: Answers | None = None
    # pending access requests a buyer may have at once (BW_MAX_OPEN_ACCESS_REQUESTS)
    max_open_requests: int = 100


def make_dependencies(
    store: EventStore,
    *,
    lookups: Lookups,
    clock: Callable[[], datetime] | None = None,
    project: Project[Any, Any] | None = None,
    answers: Answers | None = None,
    public: PublicSite | None = None,
    max_open_requests: int = 100,
) -> Dependencies:
    return Dependencies(
        store=store,
        buyers=Repository(
            store, buyer.BUYER, subject_of=lambda buyer_id, _s: buyer_id, project=project
        ),
        sharing=Repository(
            store,
            sharing.SHARING,
            subject_of=lambda pair, _s: split_pair_id(pair)[0],
            project=project,
        ),
        requests=Repository(
            store, access_request.ACCESS_REQUEST, subject_of=_request_subject, project=project
        ),
        lookups=lookups,
        clock=clock or utcnow,
        public=public or PublicSite(),
        answers=answers,
        max_open_requests=max_open_requests,
    )


def answering(
    deps: Dependencies, read: Callable[[Answers, Any], Awaitable[Row | None]]
) -> Answer[Any, Any] | None:
    """The repository's `answer=`: `read` on the command's own unit of work, after the
    projection (None without read models)."""
    answers = deps.answers
    if answers is None:
        return None

    async def answer(unit: Any, _change: Change[Any]) -> Row | None:
        assert answers is not None
        return await read(answers, unit)

    return answer
