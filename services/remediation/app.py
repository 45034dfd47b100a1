"""The composition root of the remediation service: settings, engine, the event runtime (store with
the public contract, relay, the consumer of assessment events), the handlers' dependencies, the
deadline scheduler, the problem registry and the routers. Nothing connects at import."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from libs.domain.aggregate import Change, VersionMismatch
from libs.domain.envelope import EventRegistry
from libs.events.consumer import Subscription
from libs.events.runtime import EventRuntime
from libs.events.store import ConcurrencyConflict
from libs.servicekit.app import Lifecycle, create_app, database_check
from libs.servicekit.database import EngineLifecycle, create_engine
from libs.servicekit.operations import dead_letter_router
from libs.servicekit.problems import ProblemRegistry
from services.remediation import errors
from services.remediation.api import ROUTERS
from services.remediation.contract import contract
from services.remediation.domain import make_registry
from services.remediation.handlers import (
    COMMAND_HANDLERS,
    EVENT_HANDLERS,
    Clock,
    Remediation,
    consumer_batch_handler,
    consumer_handlers,
    system_clock,
)
from services.remediation.scheduler import DeadlineScheduler
from services.remediation.settings import RemediationSettings
from services.remediation.tables import SCHEMA
from services.remediation.upstream import SOURCE_SERVICE, register_upstream

MIGRATIONS = Path(__file__).parent / "migrations"
CONSUMER_DURABLE = "remediation_plans"

# Domain errors carry their detail, and extension members where they have them (the allowed
# transitions of TransitionNotAllowed).
PROBLEMS = (
    ProblemRegistry()
    .add(errors.ItemNotFound, 404, "Item not found")
    .add(errors.NoSuchPlan, 404, "Improvement plan not found")
    .add(errors.TransitionNotAllowed, 409, "Transition not allowed", "transition-not-allowed")
    .add(errors.ItemNotEditable, 409, "Item not editable")
    .add(errors.ItemIncomplete, 409, "Item incomplete")
    .add(errors.NothingToPublish, 409, "Nothing to publish")
    .add(errors.EndorsementRequired, 409, "Committee endorsement required")
    .add(errors.ReasonRequired, 422, "Reason required")
    .add(errors.DueDateOutsideWindow, 422, "Due date outside the allowed window")
    .add(errors.CommitteeUnbalanced, 422, "Committee unbalanced")
    .add(errors.UnknownAttendee, 422, "Unknown attendee")
    .add(errors.MeetingInFuture, 422, "Meeting in the future")
    .add(errors.MeetingLimitReached, 422, "Meeting limit reached")
    .add(ConcurrencyConflict, 409, "Concurrent change", "concurrency-conflict")
    .add(VersionMismatch, 412, "Precondition Failed", "version-mismatch")
)


def build_registry() -> EventRegistry:
    registry = make_registry()
    register_upstream(registry)
    return registry


def command_runner(deps: Remediation) -> Callable[[object], Awaitable[Change[Any]]]:
    """Runs each command through the handler registered for its type."""

    async def run(command: object) -> Change[Any]:
        return await COMMAND_HANDLERS[type(command)](command, deps)

    return run


def create_service_app(
    settings: RemediationSettings | None = None, *, clock: Clock = system_clock
) -> FastAPI:
    settings = settings or RemediationSettings()
    engine = create_engine(settings)
    registry = build_registry()
    policy = settings.due_date_policy()
    runtime = EventRuntime(
        engine=engine,
        database_url=settings.database_url,
        schema=SCHEMA,
        registry=registry,
        public=contract(policy),
        nats_url=settings.nats_url,
        subject_prefix=settings.subject_prefix,
        stream_replicas=settings.stream_replicas,
    )
    remediation = Remediation.create(runtime.store, policy, clock)
    runtime.subscribe(
        Subscription(
            durable=CONSUMER_DURABLE,
            source_service=SOURCE_SERVICE,
            handlers=consumer_handlers(EVENT_HANDLERS, remediation),
            registry=registry,
            batch_handler=consumer_batch_handler(remediation),
            # a backlog (a programme's assessments completed at once, a replay) is applied a
            # thousand events per fetch, in four transactions by factory at once: the decisions'
            # CPU overlaps the others' round trips (50,000 events: 932/s → ~3,000/s; bench/)
            batch_size=1000,
            lanes=4,
        )
    )
    scheduler = DeadlineScheduler(
        remediation,
        interval_seconds=settings.deadline_check_seconds,
        supervisor=runtime.supervisor,
    )
    # stopped in reverse order: the engine's pool is closed last
    lifecycle: list[Lifecycle] = [EngineLifecycle(engine), runtime]
    if settings.scheduler_enabled:
        lifecycle.append(scheduler)
    app = create_app(
        settings=settings,
        title="Remediation service",
        description="Living improvement plans, the bipartite committee (PICC), verification, deadlines.",
        version="1.0.0",
        routers=[*ROUTERS, dead_letter_router],
        lifecycle=lifecycle,
        readiness_checks={
            "database": database_check(engine),
            "nats": runtime.check_nats,
            "events": runtime.check_progress,
        },
        db_engine=engine,
        db_schema=SCHEMA,
        problems=PROBLEMS,
        openapi_tags=[
            {
                "name": "improvement-plans",
                "description": "Plans, items, verification, publication.",
            },
            {"name": "committees", "description": "The factory's bipartite committee (PICC)."},
        ],
    )
    app.state.remediation = remediation
    app.state.run_command = command_runner(remediation)
    app.state.runtime = runtime
    app.state.scheduler = scheduler
    return app
