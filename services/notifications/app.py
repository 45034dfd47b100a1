"""The composition root of notifications: settings, engine, event runtime (store with the public
contract, relay, the consumers of assessment, remediation and buyer sharing events), the
dispatcher under the runtime's supervisor, handlers' dependencies, problems and routers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI

from libs.domain.aggregate import VersionMismatch
from libs.domain.envelope import EventRegistry
from libs.events.runtime import EventRuntime
from libs.events.store import ConcurrencyConflict
from libs.servicekit.app import create_app, database_check
from libs.servicekit.database import EngineLifecycle, create_engine
from libs.servicekit.operations import dead_letter_router
from libs.servicekit.problems import ProblemRegistry
from services.notifications import errors
from services.notifications.api import ROUTERS
from services.notifications.consumers import subscriptions
from services.notifications.contract import CONTRACT, SERVICE
from services.notifications.endpoint import ENDPOINT_EVENTS
from services.notifications.handlers import Dependencies
from services.notifications.scheduler import Dispatcher
from services.notifications.secretbox import SecretBox
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import SCHEMA
from services.notifications.transport import Resolver, WebhookClient, system_resolver
from services.notifications.upstream import register_upstream

MIGRATIONS = Path(__file__).parent / "migrations"

PROBLEMS = (
    ProblemRegistry()
    .add(errors.DomainError, 422, "Unprocessable Entity", "unprocessable-entity")
    .add(errors.UnknownEventTypes, 422, "Unknown event types", "unknown-event-types")
    .add(errors.UnsafeUrl, 422, "URL refused", "unsafe-url")
    .add(errors.NotFound, 404, "Not Found", "not-found")
    .add(errors.EndpointDeleted, 404, "Not Found", "not-found")
    .add(errors.EndpointDisabled, 409, "Endpoint disabled", "endpoint-disabled")
    .add(errors.PayloadExpired, 410, "Payload expired", "payload-expired")
    .add(VersionMismatch, 412, "Precondition Failed", "precondition-failed")
    .add(ConcurrencyConflict, 409, "Concurrent modification", "concurrency-conflict")
)


def build_registry() -> EventRegistry:
    """Internal events under our name, upstream copies under their producers'."""
    registry = EventRegistry(SERVICE)
    registry.register_all(*ENDPOINT_EVENTS)
    register_upstream(registry)
    return registry


def create_service_app(
    settings: NotificationsSettings | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    resolver: Resolver = system_resolver,
    client: WebhookClient | None = None,
) -> FastAPI:
    settings = settings or NotificationsSettings()
    engine = create_engine(settings)
    registry = build_registry()
    runtime = EventRuntime(
        engine=engine,
        database_url=settings.database_url,
        schema=SCHEMA,
        registry=registry,
        public=CONTRACT,
        nats_url=settings.nats_url,
        subject_prefix=settings.subject_prefix,
        stream_replicas=settings.stream_replicas,
        subscriptions=subscriptions(registry, hold_seconds=settings.hold_seconds),
    )
    policy = settings.address_policy()
    box = SecretBox(settings.encryption_keys())
    deps = Dependencies(store=runtime.store, box=box, policy=policy, resolver=resolver)
    if clock is not None:
        deps.clock = clock
    dispatcher = Dispatcher(
        database_url=settings.database_url,
        deps=deps,
        box=box,
        client=client
        or WebhookClient(
            policy,
            resolver=resolver,
            per_endpoint_connections=settings.endpoint_concurrency,
            verify=settings.tls_context(),
        ),
        schedule=settings.schedule(),
        supervisor=runtime.supervisor,
        timeout_seconds=settings.timeout_seconds,
        lease_margin_seconds=settings.lease_margin_seconds,
        endpoint_concurrency=settings.endpoint_concurrency,
        endpoint_rate_per_second=settings.endpoint_rate_per_second,
        max_in_flight=settings.max_in_flight,
        poll_seconds=settings.poll_seconds,
        retention_seconds=settings.payload_retention_days * 86400,
        purge_interval_seconds=settings.purge_interval_seconds,
    )
    lifecycle: list[object] = [EngineLifecycle(engine), runtime]
    if settings.dispatch:
        lifecycle.append(dispatcher)
    app = create_app(
        settings=settings,
        title="Notifications service",
        description="Buyers' webhook endpoints; signed, retried, tenant-safe deliveries of the "
        "public events of the factories that share with them (Standard Webhooks); the delivery "
        "log, redelivery and recovery.",
        version="1.0.0",
        routers=[*ROUTERS, dead_letter_router],
        lifecycle=lifecycle,  # type: ignore[arg-type]
        readiness_checks={
            "database": database_check(engine),
            "nats": runtime.check_nats,
            "events": runtime.check_progress,
        },
        db_engine=engine,
        db_schema=SCHEMA,
        problems=PROBLEMS,
        openapi_tags=[
            {"name": "webhook-endpoints", "description": "A buyer's webhook endpoints."},
            {"name": "messages", "description": "What was queued for an endpoint."},
            {"name": "deliveries", "description": "Attempts, redelivery and recovery."},
        ],
    )
    app.state.dependencies = deps
    app.state.runtime = runtime
    app.state.registry = registry
    app.state.dispatcher = dispatcher
    return app
