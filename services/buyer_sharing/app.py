"""The composition root of buyer sharing: settings, engine, event runtime (store with the public
contract, relay, the consumers of assessment and remediation events), handlers' dependencies,
the problem registry and the routers. Nothing connects at import."""

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
from services.buyer_sharing import errors
from services.buyer_sharing.api import ROUTERS
from services.buyer_sharing.consumers import subscriptions
from services.buyer_sharing.contract import CONTRACT
from services.buyer_sharing.domain import make_registry
from services.buyer_sharing.handlers import Dependencies
from services.buyer_sharing.pagecache import PublicPages
from services.buyer_sharing.ratelimit import TokenBuckets
from services.buyer_sharing.settings import BuyerSharingSettings
from services.buyer_sharing.tables import SCHEMA
from services.buyer_sharing.upstream import register_upstream

MIGRATIONS = Path(__file__).parent / "migrations"

PROBLEMS = (
    ProblemRegistry()
    .add(errors.DomainError, 422, "Unprocessable Entity", "unprocessable-entity")
    .add(errors.InvalidPeriod, 422, "Invalid period", "invalid-period")
    .add(errors.NotFound, 404, "Not Found", "not-found")
    .add(errors.AlreadyExists, 409, "Already exists", "already-exists")
    .add(errors.AlreadyDecided, 409, "Already decided", "already-decided")
    .add(VersionMismatch, 412, "Precondition Failed", "precondition-failed")
    .add(ConcurrencyConflict, 409, "Concurrent modification", "concurrency-conflict")
)


def build_registry() -> EventRegistry:
    """Internal events under our name, upstream copies under their producers'."""
    registry = make_registry()
    register_upstream(registry)
    return registry


def create_service_app(
    settings: BuyerSharingSettings | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    settings = settings or BuyerSharingSettings()
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
        subscriptions=subscriptions(registry),
    )
    app = create_app(
        settings=settings,
        title="Buyer sharing service",
        description="Buyers, consent, buyer portfolios and reports, audit reliance, and the "
        "programme's public transparency pages.",
        version="1.0.0",
        routers=[*ROUTERS, dead_letter_router],
        lifecycle=[EngineLifecycle(engine), runtime],
        readiness_checks={
            "database": database_check(engine),
            "nats": runtime.check_nats,
            "events": runtime.check_progress,
        },
        db_engine=engine,
        db_schema=SCHEMA,
        problems=PROBLEMS,
        openapi_tags=[
            {"name": "buyers", "description": "Buyers, their portfolios and shared reports."},
            {"name": "sharing-grants", "description": "A factory's consent to a buyer."},
            {"name": "access-requests", "description": "A buyer asks a factory for access."},
            {"name": "audit-reliance", "description": "Reliance declarations and statistics."},
            {"name": "transparency", "description": "Public reporting (no authentication)."},
        ],
    )
    deps = Dependencies(store=runtime.store)
    if clock is not None:
        deps.clock = clock
    app.state.dependencies = deps
    app.state.runtime = runtime
    app.state.registry = registry
    app.state.public_pages = PublicPages()
    app.state.transparency_limiter = TokenBuckets(
        settings.transparency_rate_per_second, settings.transparency_burst
    )
    return app
