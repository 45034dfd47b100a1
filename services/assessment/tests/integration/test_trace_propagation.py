"""A caller's W3C trace context reaches the event on NATS: HTTP request → append → outbox →
JetStream header and CloudEvent, so a consumer's span joins the caller's trace."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from libs.domain.envelope import Envelope
from libs.events.nats import stream_name
from services.assessment.tests.integration.conftest import AssessmentService, Headers

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_the_request_trace_travels_with_the_event(
    service: AssessmentService, client: httpx.AsyncClient, auth: Headers, subject_prefix: str
) -> None:
    response = await client.post(
        "/v1/factories",
        json={
            "name": "Traced Garments",
            "country": "KH",
            "address": "Phnom Penh",
            "sector_isic": "1410",
            "workforce": {"women": 10, "men": 5},
        },
        headers={**auth(), "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
    )
    assert response.status_code == 201, response.text
    js = service.runtime.nats.jetstream()
    stream = stream_name(subject_prefix, "assessment")
    async with asyncio.timeout(10):
        while (await js.stream_info(stream)).state.messages < 1:
            await asyncio.sleep(0.05)
    message = await js.get_msg(stream, 1)
    envelope = Envelope.from_json(message.data or b"")
    assert envelope.type == "org.betterwork.assessment.FactoryRegistered.v1"
    assert message.headers is not None and TRACE_ID in message.headers["traceparent"]
    assert envelope.traceparent is not None and TRACE_ID in envelope.traceparent
