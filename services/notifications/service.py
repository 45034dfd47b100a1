"""The notifications service, declared: its settings, events, public contract, command handlers,
upstream consumers, the dispatcher, routers, problems and rebuild. `libs.servicekit.service`
turns this into the app, the event runtime and the command line."""

from __future__ import annotations

from pathlib import Path

from libs.domain.envelope import EventRegistry
from libs.servicekit.problems import ProblemRegistry
from libs.servicekit.service import ServiceDefinition
from services.notifications import errors
from services.notifications.api import ROUTERS
from services.notifications.components import components
from services.notifications.consumers import subscriptions
from services.notifications.contract import CONTRACT
from services.notifications.domain import SERVICE as NAME
from services.notifications.domain import make_registry
from services.notifications.handlers import COMMAND_HANDLERS, Dependencies, dependencies
from services.notifications.rebuild import rebuild
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import SCHEMA
from services.notifications.upstream import register_upstream

# only the errors whose status, title or slug is not their base's (libs.domain.errors)
PROBLEMS = (
    ProblemRegistry()
    .add(errors.UnknownEventTypes, 422, "Unknown event types", "unknown-event-types")
    .add(errors.UnsafeUrl, 422, "URL refused", "unsafe-url")
    .add(errors.InvalidUrl, 422, "Invalid URL", "invalid-url")
    .add(errors.EndpointDisabled, 409, "Endpoint disabled", "endpoint-disabled")
    .add(errors.EndpointLimitReached, 409, "Endpoint limit reached", "endpoint-limit-reached")
    .add(errors.PayloadExpired, 410, "Payload expired", "payload-expired")
)


def events() -> EventRegistry:
    """Internal events under our name, upstream copies under their producers'."""
    registry = make_registry()
    register_upstream(registry)
    return registry


SERVICE: ServiceDefinition[NotificationsSettings, Dependencies] = ServiceDefinition(
    name=NAME,
    title="Notifications service",
    description="Buyers' webhook endpoints; signed, retried, tenant-safe deliveries of the "
    "public events of the factories that share with them (Standard Webhooks); the delivery "
    "log, redelivery and recovery.",
    settings=NotificationsSettings,
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    events=events,
    contract=lambda _settings: CONTRACT,
    dependencies=dependencies,
    commands=COMMAND_HANDLERS,
    routers=ROUTERS,
    problems=PROBLEMS,
    subscriptions=subscriptions,
    components=components,
    rebuild=rebuild,
    openapi_tags=[
        {"name": "webhook-endpoints", "description": "A buyer's webhook endpoints."},
        {"name": "messages", "description": "What was queued for an endpoint."},
        {"name": "deliveries", "description": "Attempts, redelivery and recovery."},
    ],
)
