"""The composition root of the remediation service: settings, engine, event runtime with the consumer
of assessment events, the deadline scheduler, and the routers. Nothing connects at import."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from libs.events import ConcurrencyConflict, EventRegistry, Subscription
from libs.events.runtime import EventRuntime
from libs.servicekit import create_app, database_check
from libs.servicekit.app import Lifecycle
from libs.servicekit.database import EngineLifecycle, create_engine
from libs.servicekit.operations import dead_letter_router
from services.remediation import domain
from services.remediation.api import committees_router, plans_router
from services.remediation.handlers import (
    Clock,
    ConsumerHandler,
    NoSuchPlan,
    Remediation,
    VersionMismatch,
    assessment_handlers,
    system_clock,
)
from services.remediation.projections import SCHEMA
from services.remediation.scheduler import DeadlineScheduler
from services.remediation.settings import RemediationSettings
from services.remediation.upstream import UPSTREAM_EVENTS

MIGRATIONS = Path(__file__).parent / "migrations"
CONSUMER_DURABLE = "remediation_plans"

EXCEPTION_MAP: dict[type[Exception], tuple[int, str] | tuple[int, str, str]] = {
    domain.ItemNotFound: (404, "Item not found"),
    NoSuchPlan: (404, "Improvement plan not found"),
    domain.ItemNotEditable: (409, "Item not editable"),
    domain.ItemIncomplete: (409, "Item incomplete"),
    domain.NothingToPublish: (409, "Nothing to publish"),
    domain.EndorsementRequired: (409, "Committee endorsement required"),
    domain.ReasonRequired: (422, "Reason required"),
    domain.DueDateOutsideWindow: (422, "Due date outside the allowed window"),
    domain.CommitteeUnbalanced: (422, "Committee unbalanced"),
    domain.UnknownAttendee: (422, "Unknown attendee"),
    domain.MeetingInFuture: (422, "Meeting in the future"),
    domain.MeetingLimitReached: (422, "Meeting limit reached"),
    ConcurrencyConflict: (409, "Concurrent change", "concurrency-conflict"),
    VersionMismatch: (412, "Precondition Failed", "version-mismatch"),
}


def build_registry() -> EventRegistry:
    registry = EventRegistry("remediation")
    registry.register_all(*domain.PLAN_EVENTS, *domain.COMMITTEE_EVENTS)
    registry.register_all(*UPSTREAM_EVENTS, service="assessment")
    return registry


def create_service_app(
    settings: RemediationSettings | None = None, *, clock: Clock = system_clock
) -> FastAPI:
    settings = settings or RemediationSettings()
    engine = create_engine(settings)
    registry = build_registry()
    # The consumer's handlers need the runtime's store (whose commits wake the relay), and the
    # runtime needs the subscription: the subscription gets the mapping, filled in just below.
    handlers: dict[str, ConsumerHandler] = {}
    subscription = Subscription(
        durable=CONSUMER_DURABLE,
        source_service="assessment",
        handlers=handlers,
        registry=registry,
    )
    runtime = EventRuntime(
        engine=engine,
        database_url=settings.database_url,
        schema=SCHEMA,
        registry=registry,
        nats_url=settings.nats_url,
        subject_prefix=settings.subject_prefix,
        stream_replicas=settings.stream_replicas,
        subscriptions=[subscription],
    )
    remediation = Remediation(store=runtime.store, policy=settings.due_date_policy(), clock=clock)
    handlers.update(assessment_handlers(remediation))
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
        routers=[plans_router, committees_router, dead_letter_router],
        lifecycle=lifecycle,
        readiness_checks={
            "database": database_check(engine),
            "nats": runtime.check_nats,
            "events": runtime.check_progress,
        },
        db_engine=engine,
        db_schema=SCHEMA,
        exception_map=EXCEPTION_MAP,
        openapi_tags=[
            {
                "name": "improvement-plans",
                "description": "Plans, items, verification, publication.",
            },
            {"name": "committees", "description": "The factory's bipartite committee (PICC)."},
        ],
    )
    app.state.remediation = remediation
    app.state.runtime = runtime
    app.state.scheduler = scheduler
    return app
