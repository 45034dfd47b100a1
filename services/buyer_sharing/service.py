"""Buyer sharing, declared: its settings, events, public contract, dependencies, command
handlers, upstream subscriptions, routers, own problems, migrations, rebuild, consent watermark
and the kinds of a programme's history it imports (buyers, grants, reliances), which
`libs.servicekit.service` turns into the app, the event runtime and the command line."""

from __future__ import annotations

from pathlib import Path

from libs.domain.contract import PublicContract
from libs.domain.envelope import EventRegistry
from libs.events.relay import Watermark
from libs.servicekit.problems import ProblemRegistry
from libs.servicekit.service import ServiceDefinition, Wiring
from services.buyer_sharing import errors
from services.buyer_sharing.api import (
    access_requests,
    buyers,
    credentials,
    grants,
    portfolio,
    reliance,
    results,
    transparency,
)
from services.buyer_sharing.consumers import subscriptions
from services.buyer_sharing.contract import CONTRACT, watermark_document, watermark_subject
from services.buyer_sharing.dependencies import Dependencies, make_dependencies
from services.buyer_sharing.domain import make_registry
from services.buyer_sharing.handlers import COMMAND_HANDLERS
from services.buyer_sharing.imports import IMPORTS
from services.buyer_sharing.pagecache import PublicPages, PublicSite
from services.buyer_sharing.projections.own import project_own
from services.buyer_sharing.queries.command_reads import ReadModelAnswers, ReadModelLookups
from services.buyer_sharing.ratelimit import TokenBuckets
from services.buyer_sharing.rebuild import rebuild
from services.buyer_sharing.settings import BuyerSharingSettings
from services.buyer_sharing.tables import SCHEMA
from services.buyer_sharing.upstream import register_upstream

# only the errors whose status or slug is not the shared bases' (libs.servicekit.problems)
PROBLEMS = (
    ProblemRegistry()
    .add(errors.InvalidPeriod, 422, "Invalid period", "invalid-period")
    .add(errors.AlreadyDecided, 409, "Already decided", "already-decided")
    .add(errors.UnknownAssessment, 422, "Unknown assessment", "unknown-assessment")
    .add(errors.TooManyOpenRequests, 409, "Too many open requests", "too-many-open-requests")
)


def events() -> EventRegistry:
    """Internal events under our name, upstream copies under their producers'."""
    registry = make_registry()
    register_upstream(registry)
    return registry


def contract(_settings: BuyerSharingSettings) -> PublicContract:
    return CONTRACT


def consent_watermark(settings: BuyerSharingSettings) -> Watermark:
    """The relay's consent watermark (contract.ConsentWatermark), every
    `BW_CONSENT_WATERMARK_SECONDS` after the outbox is drained."""
    return Watermark(
        subject=watermark_subject(),
        every=settings.consent_watermark_seconds,
        message=watermark_document,
    )


def dependencies(wiring: Wiring[BuyerSharingSettings]) -> Dependencies:
    """Built once per app: the repositories on the runtime's store, the read models' lookups and
    answers, and the public pages' in-process cache and rate limit (test seam: `clock=`)."""
    settings = wiring.settings
    return make_dependencies(
        wiring.runtime.store,
        lookups=ReadModelLookups(),
        answers=ReadModelAnswers(),
        project=project_own,
        clock=wiring.overrides.get("clock"),
        max_open_requests=settings.max_open_access_requests,
        public=PublicSite(
            pages=PublicPages(),
            limiter=TokenBuckets(
                settings.transparency_rate_per_second, settings.transparency_burst
            ),
            max_age_seconds=settings.transparency_max_age_seconds,
            trusted_proxies=settings.trusted_proxy_networks(),
        ),
    )


SERVICE: ServiceDefinition[BuyerSharingSettings, Dependencies] = ServiceDefinition(
    name="buyer_sharing",
    title="Buyer sharing service",
    description="Buyers, consent, buyer portfolios and reports, audit reliance, and the "
    "programme's public transparency pages.",
    settings=BuyerSharingSettings,
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    events=events,
    contract=contract,
    dependencies=dependencies,
    commands=COMMAND_HANDLERS,
    routers=[
        buyers.router,
        portfolio.router,
        credentials.router,
        grants.router,
        access_requests.router,
        reliance.router,
        transparency.router,
        results.router,
    ],
    problems=PROBLEMS,
    subscriptions=subscriptions,
    rebuild=rebuild,
    watermark=consent_watermark,
    imports=IMPORTS,
    openapi_tags=[
        {"name": "buyers", "description": "Buyers, their portfolios and shared reports."},
        {"name": "sharing-grants", "description": "A factory's consent to a buyer."},
        {"name": "access-requests", "description": "A buyer asks a factory for access."},
        {"name": "audit-reliance", "description": "Reliance declarations and statistics."},
        {"name": "transparency", "description": "Public reporting (no authentication)."},
        {"name": "imports", "description": "A programme's history: buyers, grants, reliances."},
        {
            "name": "programme-results",
            "description": "The programme's results per country and year (public).",
        },
    ],
)
