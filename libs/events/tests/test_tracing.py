"""Trace context flows append → outbox → NATS header → consumer span, so one trace spans services."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.domain.envelope import EventRegistry
from libs.events.nats import NatsConnection, stream_name
from libs.events.store import EventStore
from libs.events.tests.test_delivery import _counter_is, drain, eventually, relay_for, runner_for
from libs.events.tests.test_store import append

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


async def test_the_consumer_span_continues_the_producers_trace(
    exporter: InMemorySpanExporter,
    store: EventStore,
    engine: AsyncEngine,
    nats: NatsConnection,
    registry: EventRegistry,
    subject_prefix: str,
) -> None:
    await nats.ensure_stream(subject_prefix, "library")
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("POST /v1/counters") as request_span:
        await append(store, "c1", 0, 1)
    request = request_span.get_span_context()

    await drain(relay_for(engine, nats))
    message = await nats.jetstream().get_msg(stream_name(subject_prefix, "library"), 1)
    assert message.headers is not None
    assert format(request.trace_id, "032x") in message.headers["traceparent"]

    runner = runner_for(engine, nats, registry, subject_prefix)
    await runner.start()
    try:
        await eventually(lambda: _counter_is(engine, "c1", (1, 1)))
    finally:
        await runner.stop()
    [consumed] = [s for s in exporter.get_finished_spans() if s.name == "consume ItemCounted"]
    assert consumed.context is not None and consumed.parent is not None
    assert consumed.context.trace_id == request.trace_id
    assert consumed.parent.span_id == request.span_id
    assert consumed.kind == trace.SpanKind.CONSUMER
