"""The service as declared (no I/O: building the app connects nothing): its test seams, its
dispatcher only where it dispatches, its three upstream consumers, its command registry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notifications.scheduler import Dispatcher
from services.notifications.service import SERVICE
from services.notifications.settings import NotificationsSettings
from services.notifications.tests.unit.conftest import resolve

NOW = datetime(2025, 6, 2, 9, tzinfo=UTC)


def _settings(**values: object) -> NotificationsSettings:
    return NotificationsSettings(environment="development", **values)  # type: ignore[arg-type]


def test_the_seams_reach_the_handlers_and_the_dispatcher() -> None:
    app = SERVICE.app(_settings(), clock=lambda: NOW, resolver=resolve)
    service = SERVICE.service_of(app)
    assert service.deps.clock() == NOW and service.deps.resolver is resolve
    dispatcher = service.component(Dispatcher)
    assert dispatcher.client.resolver.resolver is resolve  # deliveries resolve alike


def test_an_unknown_seam_is_refused() -> None:
    with pytest.raises(TypeError, match="no override clok"):
        SERVICE.app(_settings(), clok=lambda: NOW)


def test_a_process_that_only_serves_the_api_has_no_dispatcher() -> None:
    service = SERVICE.service_of(SERVICE.app(_settings(dispatch=False)))
    assert service.components == ()
    with pytest.raises(LookupError):
        service.component(Dispatcher)


def test_one_durable_consumer_per_producing_service() -> None:
    service = SERVICE.service_of(SERVICE.app(_settings()))
    consumers = [runner.subscription for runner in service.runtime.consumers]
    durables = {consumer.durable: consumer.source_service for consumer in consumers}
    assert durables == {
        "notifications_assessment": "assessment",
        "notifications_remediation": "remediation",
        "notifications_buyer_sharing": "buyer_sharing",
        "notifications_advisory": "advisory",
    }
