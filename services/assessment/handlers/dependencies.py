"""What the assessment service's handlers and routes need, built once per app (service.py calls
`make_dependencies` with the runtime's store) or per test (the in-memory store and fakes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from libs.domain.aggregate import Change
from libs.events.repository import Project, Repository, Store
from libs.events.store import EventStore
from services.assessment.compliance_catalogue import Catalogue, CatalogueLibrary
from services.assessment.credentials.issuing import CredentialIssuer
from services.assessment.domain.assessment_state import ASSESSMENT, Assessment
from services.assessment.domain.factory import FACTORY, Factory
from services.assessment.queries.synthesis import SynthesisCache


def utcnow() -> datetime:
    return datetime.now(UTC)


class Lookups(Protocol):
    """What commands ask the read models, inside their own unit of work
    (queries.lookups.ReadModelLookups; a fake in handler unit tests)."""

    async def os_id_owner(self, unit: Any, os_id: str) -> str | None: ...

    async def last_cycle(self, unit: Any, factory_id: str) -> int: ...


class Answers(Protocol):
    """How a command's answer is read in its own unit of work, after the projection, so that a
    client reads its own write (queries.lookups.ReadModelAnswers)."""

    async def factory(self, unit: Any, factory_id: str) -> Any: ...

    async def assessment(self, unit: Any, assessment_id: str) -> Any: ...


ReadAnswer = Callable[[Any, Change[Any]], Awaitable[Any]]
"""The repository's `answer=`: what the command's unit of work reads back for its caller."""


@dataclass(frozen=True)
class Reads:
    """The read side the routes query: the store's read connections and its event registry (the
    history), and the yearly syntheses this process keeps."""

    store: EventStore
    synthesis_cache: SynthesisCache = field(default_factory=SynthesisCache)


# committed assessment states each process keeps (an assessment's state is tens of kB)
STATES_CACHED = 256


@dataclass
class Dependencies:
    """The repositories, the catalogues, the read-model lookups and the clock of the handlers,
    and the read side of the routes."""

    factories: Repository[Factory | None, Any]
    assessments: Repository[Assessment | None, Any]
    catalogues: CatalogueLibrary
    lookups: Lookups
    clock: Callable[[], datetime] = field(default=utcnow)
    # a command's answer, read in its own transaction (the change's `answer`), and the read
    # side of the routes; None where there are no read models (handler unit tests)
    answers: Answers | None = None
    reads: Reads | None = None
    # issues the reports' credentials (None where there are no keys: handler unit tests)
    credentials: CredentialIssuer | None = None

    def pinned_catalogue(self, assessment: Assessment) -> Catalogue:
        catalogue = self.catalogues.resolve(assessment.catalogue_version, assessment.country)
        if catalogue is None:  # a catalogue version is never removed once assessments pin it
            raise RuntimeError(f"catalogue {assessment.catalogue_version} is missing")
        return catalogue

    def factory_answer(self, factory_id: str) -> ReadAnswer | None:
        """The factory's read-model row as the command left it (None without read models)."""
        answers = self.answers
        if answers is None:
            return None

        async def answer(unit: Any, _change: Change[Any]) -> Any:
            return await answers.factory(unit, factory_id)

        return answer

    def assessment_answer(self, assessment_id: str) -> ReadAnswer | None:
        """The assessment with its findings as the command left them (None without read models)."""
        answers = self.answers
        if answers is None:
            return None

        async def answer(unit: Any, _change: Change[Any]) -> Any:
            return await answers.assessment(unit, assessment_id)

        return answer


def _factory_of(_assessment_id: str, assessment: Assessment | None) -> str:
    """An assessment's events are about its factory (the CloudEvents subject)."""
    assert assessment is not None
    return assessment.factory_id


def make_dependencies(
    store: Store[Any],
    catalogues: CatalogueLibrary,
    lookups: Lookups,
    *,
    project_factory: Project[Any, Factory | None] | None = None,
    project_assessment: Project[Any, Assessment | None] | None = None,
    answers: Answers | None = None,
    clock: Callable[[], datetime] = utcnow,
    reads: Reads | None = None,
    credentials: CredentialIssuer | None = None,
) -> Dependencies:
    return Dependencies(
        factories=Repository(store, FACTORY, project=project_factory),
        # an assessment on site takes a finding after another: each command starts from the
        # state the last one committed (libs/events/repository.py) instead of its snapshot
        assessments=Repository(
            store,
            ASSESSMENT,
            subject_of=_factory_of,
            project=project_assessment,
            cache=STATES_CACHED,
        ),
        catalogues=catalogues,
        lookups=lookups,
        clock=clock,
        answers=answers,
        reads=reads,
        credentials=credentials,
    )
