"""The handlers on the in-memory event store: fakes of the read models they ask, and the given
steps, run through the service's registry of command handlers as a route runs them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from libs.domain.aggregate import Change
from libs.domain.envelope import DomainEvent
from libs.events.memory import InMemoryEventStore
from services.assessment.commands import (
    CompleteAssessment,
    RecordFinding,
    RegisterFactory,
    ScheduleAssessment,
)
from services.assessment.compliance_catalogue import load_library
from services.assessment.domain.assessment_events import FindingFacts
from services.assessment.domain.scope import EVERY_COUNTRY
from services.assessment.handlers import COMMAND_HANDLERS
from services.assessment.handlers.dependencies import Dependencies
from services.assessment.tests.unit.given import details

LIBRARY = load_library()
_CAMBODIA = LIBRARY.resolve(LIBRARY.latest_version, "KH")
assert _CAMBODIA is not None
CATALOGUE = _CAMBODIA
NOW = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
ASSESSOR = "assessor-1"
NON_COMPLIANT = FindingFacts(result="non_compliant", evidence="Exit padlocked", evidence_refs=())
COMPLIANT = FindingFacts(result="compliant")


class FakeLookups:
    """The read models as the handlers ask them: OS ID owners and each factory's last cycle."""

    def __init__(self) -> None:
        self.os_id_owners: dict[str, str] = {}
        self.last_cycles: dict[str, int] = {}

    async def os_id_owner(self, unit: Any, os_id: str) -> str | None:
        return self.os_id_owners.get(os_id)

    async def last_cycle(self, unit: Any, factory_id: str) -> int:
        return self.last_cycles.get(factory_id, 0)


async def run(deps: Dependencies, command: object) -> Change[Any]:
    """Run a command through the handler the service registers for its type."""
    return await COMMAND_HANDLERS[type(command)](command, deps)


def published(store: InMemoryEventStore) -> list[str]:
    return [envelope.event_name for envelope in store.published]


def stored(store: InMemoryEventStore, stream_id: str) -> list[type[DomainEvent]]:
    return [type(event) for event in store.events(stream_id)]


async def given_factory(deps: Dependencies, factory_id: str = "f-1") -> None:
    await run(deps, RegisterFactory(factory_id, details(), scope=EVERY_COUNTRY))


async def given_assessment(deps: Dependencies, *, critical_answered: bool = False) -> None:
    await given_factory(deps)
    await run(
        deps,
        ScheduleAssessment(
            "a-1", "f-1", date(2025, 3, 3), (ASSESSOR, "assessor-2"), scope=EVERY_COUNTRY
        ),
    )
    if critical_answered:
        for question_id in CATALOGUE.critical_question_ids:
            await run(
                deps, RecordFinding("a-1", question_id, COMPLIANT, ASSESSOR, scope=EVERY_COUNTRY)
            )


async def given_completed(deps: Dependencies) -> None:
    await given_assessment(deps, critical_answered=True)
    await run(deps, CompleteAssessment("a-1", ASSESSOR, scope=EVERY_COUNTRY))
