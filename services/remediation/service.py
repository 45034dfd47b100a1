"""The remediation service, declared: its settings, events, public contract, dependencies, command
handlers, the consumers of assessment and advisory events, the deadline scheduler, routers,
problem types, migrations, rebuild and the kinds of a programme's history it imports.
`libs.servicekit.service` turns this into the app and the command line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from libs.domain.contract import PublicContract
from libs.domain.envelope import EventRegistry
from libs.servicekit.app import Lifecycle
from libs.servicekit.problems import ProblemRegistry
from libs.servicekit.service import ServiceDefinition, Wiring
from services.remediation import errors
from services.remediation.api.committees import committees_router
from services.remediation.api.plans import plans_router
from services.remediation.consumers import subscriptions
from services.remediation.contract import contract
from services.remediation.domain import make_registry
from services.remediation.handlers import COMMAND_HANDLERS, Remediation, system_clock
from services.remediation.imports import IMPORT_HANDLERS, IMPORTS
from services.remediation.rebuild import rebuild
from services.remediation.scheduler import DeadlineScheduler
from services.remediation.settings import RemediationSettings
from services.remediation.tables import SCHEMA
from services.remediation.upstream import register_upstream

# The service's own problem types (the library maps NotFound, Conflict, DomainError, a failed
# If-Match and a concurrent change); each error here keeps the title and slug clients know.
PROBLEMS = (
    ProblemRegistry()
    .add(errors.ItemNotFound, 404, "Item not found")
    .add(errors.NoSuchPlan, 404, "Improvement plan not found")
    .add(errors.TransitionNotAllowed, 409, "Transition not allowed", "transition-not-allowed")
    .add(errors.ItemNotEditable, 409, "Item not editable")
    .add(errors.ItemIncomplete, 409, "Item incomplete")
    .add(errors.NothingToPublish, 409, "Nothing to publish")
    .add(errors.EndorsementRequired, 409, "Committee endorsement required")
    .add(errors.PublicationTooLarge, 409, "Publication too large")
    .add(errors.ReasonRequired, 422, "Reason required")
    .add(errors.DueDateOutsideWindow, 422, "Due date outside the allowed window")
    .add(errors.CommitteeUnbalanced, 422, "Committee unbalanced")
    .add(errors.UnknownAttendee, 422, "Unknown attendee")
    .add(errors.MeetingInFuture, 422, "Meeting in the future")
    .add(errors.MeetingLimitReached, 422, "Meeting limit reached")
)

# the test seams `SERVICE.app(settings, **overrides)` accepts
OVERRIDES = frozenset({"clock"})


def events() -> EventRegistry:
    """The internal events, with the copies of the assessment and advisory events the consumers
    read."""
    registry = make_registry()
    register_upstream(registry)
    return registry


def public_contract(settings: RemediationSettings) -> PublicContract:
    return contract(settings.due_date_policy())


def dependencies(wiring: Wiring[RemediationSettings]) -> Remediation:
    """The handlers' dependencies on the runtime's store; `clock=` replaces the system clock."""
    unknown = set(wiring.overrides) - OVERRIDES
    if unknown:
        raise TypeError(f"remediation has no test seam {', '.join(sorted(unknown))}")
    return Remediation.create(
        wiring.runtime.store,
        wiring.settings.due_date_policy(),
        wiring.overrides.get("clock", system_clock),
    )


def components(deps: Remediation, wiring: Wiring[RemediationSettings]) -> Sequence[Lifecycle]:
    """The deadline scheduler, unless the deployment runs it elsewhere (or a test drives it)."""
    if not wiring.settings.scheduler_enabled:
        return []
    return [
        DeadlineScheduler(
            deps,
            interval_seconds=wiring.settings.deadline_check_seconds,
            supervisor=wiring.runtime.supervisor,
        )
    ]


SERVICE: ServiceDefinition[RemediationSettings, Remediation] = ServiceDefinition(
    name="remediation",
    title="Remediation service",
    description="Living improvement plans, the bipartite committee (PICC), verification, deadlines.",
    settings=RemediationSettings,
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    events=events,
    contract=public_contract,
    dependencies=dependencies,
    commands={**COMMAND_HANDLERS, **IMPORT_HANDLERS},
    routers=[plans_router, committees_router],
    problems=PROBLEMS,
    subscriptions=subscriptions,
    components=components,
    rebuild=rebuild,
    imports=IMPORTS,
    openapi_tags=[
        {"name": "improvement-plans", "description": "Plans, items, verification, publication."},
        {"name": "committees", "description": "The factory's bipartite committee (PICC)."},
        {"name": "imports", "description": "A programme's history: committees and plan items."},
    ],
)
