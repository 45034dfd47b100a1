"""One OpenTelemetry trace from the HTTP command to the webhook: an assessor's `POST …/complete`
(the assessment service's server span) → the event's `traceparent` in the outbox and the NATS
header → the notifications consumer's span → the webhook delivery's span, all in one trace,
recorded by the SDK's in-memory exporter (three services in this process, real PostgreSQL and
NATS, a real receiver on 127.0.0.1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from libs.servicekit.auth import Role, mint_token
from libs.servicekit.migrations import run_migrations
from services.assessment.compliance_catalogue import load_library
from services.assessment.service import SERVICE as ASSESSMENT
from services.assessment.settings import AssessmentSettings
from services.assessment.tables import SCHEMA as ASSESSMENT_SCHEMA
from services.buyer_sharing.service import SERVICE as BUYER_SHARING
from services.buyer_sharing.settings import BuyerSharingSettings
from services.buyer_sharing.tables import SCHEMA as SHARING_SCHEMA
from services.notifications.service import SERVICE as NOTIFICATIONS
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import SCHEMA as NOTIFICATIONS_SCHEMA
from tools.demo.receiver import WebhookReceiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SECRET = "trace-tests-secret-of-at-least-32-bytes!"
_CATALOGUE = load_library().resolve("2025.1", "KH")
assert _CATALOGUE is not None
CRITICAL_QUESTIONS = sorted(_CATALOGUE.critical_question_ids)

Clients = dict[str, httpx.AsyncClient]


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the first test of the session to need one
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
async def clients(database_url: str, nats_url: str, subject_prefix: str) -> AsyncIterator[Clients]:
    for migrations, schema in (
        (ASSESSMENT.migrations, ASSESSMENT_SCHEMA),
        (BUYER_SHARING.migrations, SHARING_SCHEMA),
        (NOTIFICATIONS.migrations, NOTIFICATIONS_SCHEMA),
    ):
        await asyncio.to_thread(run_migrations, database_url, migrations, schema)
    common: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "BW_SUBJECT_PREFIX": subject_prefix,
        "BW_JWT_SECRET": SECRET,
    }
    apps = {
        "assessment": ASSESSMENT.app(AssessmentSettings(**common)),
        "buyer_sharing": BUYER_SHARING.app(BuyerSharingSettings(**common)),
        "notifications": NOTIFICATIONS.app(
            NotificationsSettings(
                **common,
                BW_WEBHOOK_ALLOW="127.0.0.0/8",
                BW_WEBHOOK_ALLOW_HTTP=True,
                BW_WEBHOOK_POLL_SECONDS=0.1,
            )
        ),
    }
    async with AsyncExitStack() as stack:
        clients: Clients = {}
        for name, app in apps.items():
            await stack.enter_async_context(LifespanManager(app, startup_timeout=30))
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
            )
        yield clients


def headers(role: Role, **claims: str) -> dict[str, str]:
    token = mint_token(SECRET, f"{role}-user", role, **claims)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


def _named(spans: tuple[ReadableSpan, ...], name: str, trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name and s.context and s.context.trace_id == trace_id]


async def test_one_trace_from_the_http_command_to_the_webhook_delivery(
    clients: Clients, exporter: InMemorySpanExporter
) -> None:
    staff, admin = headers(Role.ASSESSOR), headers(Role.ADMIN)
    buyer = headers(Role.BUYER, buyer_id="brand-t")
    assessment, sharing, notifications = (
        clients["assessment"],
        clients["buyer_sharing"],
        clients["notifications"],
    )
    factory = await assessment.post(
        "/v1/factories",
        json={"name": "Traced Garments", "country": "KH", "address": "Street 1, Phnom Penh",
              "sector_isic": "1410", "workforce": {"women": 10, "men": 5}},
        headers=staff,
    )  # fmt: skip
    assert factory.status_code == 201, factory.text
    factory_id = factory.json()["factory_id"]
    registered = await sharing.post(
        "/v1/buyers",
        json={"buyer_id": "brand-t", "name": "Brand T", "country": "US",
              "contact_name": "Sourcing", "contact_email": "sourcing@brand-t.example"},
        headers=admin,
    )  # fmt: skip
    assert registered.status_code == 201, registered.text
    own_factory = headers(Role.FACTORY, factory_id=factory_id)
    granted = await sharing.post(
        "/v1/sharing-grants", json={"buyer_id": "brand-t"}, headers=own_factory
    )
    assert granted.status_code == 201, granted.text
    async with WebhookReceiver() as receiver:
        endpoint = await notifications.post(
            "/v1/webhook-endpoints",
            json={"url": receiver.url("/t"), "event_types": ["AssessmentCompleted"]},
            headers=buyer,
        )
        assert endpoint.status_code == 201, endpoint.text
        receiver.expect("/t", endpoint.json()["secret"])
        scheduled = await assessment.post(
            "/v1/assessments",
            json={"factory_id": factory_id, "scheduled_for": "2025-03-03", "assessors": ["a"]},
            headers=staff,
        )
        assessment_id = scheduled.json()["assessment_id"]
        findings = [{"question_id": q, "result": "compliant"} for q in CRITICAL_QUESTIONS]
        recorded = await assessment.post(
            f"/v1/assessments/{assessment_id}/findings",
            json={"findings": findings},
            headers=staff,
        )
        assert recorded.status_code == 200, recorded.text
        completed = await assessment.post(
            f"/v1/assessments/{assessment_id}/complete", headers=staff
        )
        assert completed.status_code == 200, completed.text
        await receiver.wait_for(lambda: receiver.names("/t") == ["AssessmentCompleted"], 30)
        assert not receiver.rejected

    # the HTTP command's server span starts the trace
    path = f"/v1/assessments/{assessment_id}/complete"
    (command,) = [
        span
        for span in exporter.get_finished_spans()
        if span.kind is trace.SpanKind.SERVER and (span.attributes or {}).get("url.path") == path
    ]
    assert command.context is not None
    trace_id = command.context.trace_id
    delivered = receiver.applied["/t"][0].event
    assert delivered["traceparent"].split("-")[1] == format(trace_id, "032x")

    async def delivery_spans() -> list[ReadableSpan]:
        # the delivery span ends once the attempt returns, a moment after the receiver answered
        async with asyncio.timeout(10):
            while True:
                spans = _named(exporter.get_finished_spans(), "webhook deliver", trace_id)
                if spans:
                    return spans
                await asyncio.sleep(0.05)

    (delivery,) = await delivery_spans()
    spans = exporter.get_finished_spans()
    consumed = _named(spans, "consume AssessmentCompleted", trace_id)
    durables = [(span.attributes or {}).get("messaging.consumer.group.name") for span in consumed]
    assert any(str(durable).endswith("notifications_assessment") for durable in durables), durables
    assert delivery.kind is trace.SpanKind.CLIENT
    assert (delivery.attributes or {}).get("http.response.status_code") == 200
    assert (delivery.attributes or {}).get("webhook.message_id") == receiver.applied["/t"][
        0
    ].webhook_id
