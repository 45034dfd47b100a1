"""What the advisory handlers and routes need, built once per app (service.py) or per test (the
in-memory store, no read models): the repositories, the clock, how a command's answer is read,
and the read side's publication rules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from libs.domain.aggregate import Change
from libs.events.repository import Repository, Store
from libs.servicekit.answers import VersionedAnswers
from services.advisory.domain.course import COURSE, Course
from services.advisory.domain.factory import FACTORY, FactoryRecord
from services.advisory.domain.figures import Minimums
from services.advisory.domain.session import SESSION, Session
from services.advisory.domain.survey import SURVEY, Survey
from services.advisory.domain.visit import VISIT, Visit, subject_of


def utcnow() -> datetime:
    return datetime.now(UTC)


class Answers(Protocol):
    """A command's answer, read in its own unit of work after the projection (so that a client
    reads its own write): the resource's read-model row by kind and id."""

    async def read(self, unit: Any, kind: str, resource_id: str) -> Any: ...


ReadAnswer = Callable[[Any, Change[Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Publication:
    """The read side's rules: the programme figures' minimums, the fewest pairs a survey result
    is shown for, and how long shared caches may keep the public figures."""

    figures: Minimums = field(default_factory=lambda: Minimums(participants=10, factories=3))
    survey_min_pairs: int = 5
    figures_max_age_seconds: int = 300


@dataclass
class Dependencies:
    store: Any
    courses: Repository[Course | None, Any]
    surveys: Repository[Survey | None, Any]
    sessions: Repository[Session | None, Any]
    visits: Repository[Visit | None, Any]
    factories: Repository[FactoryRecord, Any]
    clock: Callable[[], datetime] = utcnow
    answers: Answers | None = None
    publication: Publication = field(default_factory=Publication)
    # the public figures' answers this process made (libs/servicekit/answers.py), at most 128:
    # queries differ by country, course, years and grouping
    figure_answers: VersionedAnswers = field(default_factory=lambda: VersionedAnswers(128))

    def answer(self, kind: str, resource_id: str) -> ReadAnswer | None:
        """The resource's row as the command left it (None without read models)."""
        answers = self.answers
        if answers is None:
            return None

        async def read(unit: Any, _change: Change[Any]) -> Any:
            return await answers.read(unit, kind, resource_id)

        return read


def _session_subject(session_id: str, session: Session | None) -> str:
    """A session's own events are about its first factory (they never leave the service; each
    factory's public event comes from that factory's record)."""
    return session.factories[0].factory_id if session is not None else session_id


Projections = dict[str, Any]


def make_dependencies(
    store: Store[Any],
    *,
    projections: Projections | None = None,
    answers: Answers | None = None,
    clock: Callable[[], datetime] = utcnow,
    publication: Publication | None = None,
) -> Dependencies:
    """`projections` by aggregate (course, survey, session, visit, factory); none in handler unit
    tests."""
    project = projections or {}
    return Dependencies(
        store=store,
        courses=Repository(store, COURSE, project=project.get("course")),
        surveys=Repository(store, SURVEY, project=project.get("survey")),
        sessions=Repository(
            store, SESSION, subject_of=_session_subject, project=project.get("session")
        ),
        visits=Repository(store, VISIT, subject_of=subject_of, project=project.get("visit")),
        factories=Repository(store, FACTORY, project=project.get("factory")),
        clock=clock,
        answers=answers,
        publication=publication or Publication(),
    )
