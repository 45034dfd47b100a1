"""The service's background components, built on its settings: the dispatcher (scheduler.py)
and the consent watch (consent_watch.py), in every process that dispatches webhooks."""

from __future__ import annotations

from collections.abc import Sequence

from libs.servicekit.app import Lifecycle
from libs.servicekit.service import Wiring
from services.notifications.adapters.transport import WebhookClient
from services.notifications.consent_watch import ConsentWatch
from services.notifications.handlers import Dependencies, command_runner
from services.notifications.scheduler import Dispatcher
from services.notifications.settings import NotificationsSettings


def dispatcher(deps: Dependencies, wiring: Wiring[NotificationsSettings]) -> Dispatcher:
    """The dispatcher on the service's settings and supervisor; `client=` is a test seam (else
    the SSRF-safe client, on the handlers' resolver)."""
    settings = wiring.settings
    client = wiring.overrides.get("client") or WebhookClient(
        deps.policy,
        resolver=deps.resolver,
        per_endpoint_connections=settings.endpoint_concurrency,
        verify=settings.tls_context(),
    )
    return Dispatcher(
        database_url=settings.database_url,
        run=command_runner(deps),
        box=deps.box,
        client=client,
        schedule=settings.schedule(),
        supervisor=wiring.runtime.supervisor,
        timeout_seconds=settings.timeout_seconds,
        lease_margin_seconds=settings.lease_margin_seconds,
        endpoint_concurrency=settings.endpoint_concurrency,
        endpoint_rate_per_second=settings.endpoint_rate_per_second,
        max_in_flight=settings.max_in_flight,
        poll_seconds=settings.poll_seconds,
        retention_seconds=settings.payload_retention_days * 86400,
        purge_interval_seconds=settings.purge_interval_seconds,
        consent_bound_seconds=settings.consent_max_staleness_seconds,
    )


def components(deps: Dependencies, wiring: Wiring[NotificationsSettings]) -> Sequence[Lifecycle]:
    """The dispatcher and the consent watch, unless this process only serves the API
    (BW_WEBHOOK_DISPATCH=false)."""
    if not wiring.settings.dispatch:
        return []
    watch = ConsentWatch(
        engine=wiring.engine,
        supervisor=wiring.runtime.supervisor,
        bound_seconds=wiring.settings.consent_max_staleness_seconds,
        every_seconds=min(wiring.settings.poll_seconds, 1.0),
    )
    return [dispatcher(deps, wiring), watch]
