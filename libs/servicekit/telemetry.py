"""Observability: OpenTelemetry tracing (server spans continuing the caller's W3C trace) and
Prometheus request metrics with a `/metrics` endpoint."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from libs.servicekit.asgi import StatusRecordingSend

logger = logging.getLogger("libs.servicekit.telemetry")

TRACER_NAME = "libs.servicekit"
UNMATCHED_ROUTE = "<unmatched>"

HTTP_REQUESTS = Counter(
    "http_server_requests_total",
    "HTTP requests handled, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Time to handle an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

_configured_provider: TracerProvider | None = None


def tracing_requested(environ: dict[str, str] | None = None) -> bool:
    """Tracing is off unless the standard OTel environment asks for an exporter."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure_tracing(service_name: str) -> TracerProvider | None:
    """Install an SDK tracer provider exporting OTLP over HTTP, when the environment asks for it.

    The exporter reads its endpoint, headers and timeout from the standard OTEL_* variables. The
    provider is global to the process, so a second call returns the first one.
    """
    global _configured_provider
    if _configured_provider is not None or not tracing_requested():
        return _configured_provider
    # Imported here: the exporter pulls in protobuf, which processes without tracing can skip.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured_provider = provider
    logger.info("OpenTelemetry tracing enabled for %s", service_name)
    return provider


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/v1/factories/{factory_id}`), never the raw path, so
    that metric labels and span names stay few."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    # FastAPI records only its own routes in the scope; plain ones (/openapi.json, /docs) are
    # found by matching the app's routes again.
    app = scope.get("app")
    for candidate in getattr(app, "routes", ()):
        match, _ = candidate.matches(scope)
        candidate_path = getattr(candidate, "path", None)
        if match is Match.FULL and isinstance(candidate_path, str):
            return candidate_path
    return UNMATCHED_ROUTE


def _headers_carrier(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1"): value.decode("latin-1") for name, value in scope.get("headers", [])
    }


class TracingMiddleware:
    """Runs each HTTP request in a server span that continues the caller's `traceparent`.

    With no SDK configured the span is non-recording, but the caller's trace context is still
    current, so events emitted while handling the request carry it on.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        parent = propagate.extract(_headers_carrier(scope))
        tracer = trace.get_tracer(TRACER_NAME)
        recording_send = StatusRecordingSend(send)

        with tracer.start_as_current_span(
            method,
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "url.path": scope.get("path", ""),
                "url.scheme": scope.get("scheme", "http"),
            },
        ) as span:
            try:
                await self.app(scope, receive, recording_send)
            finally:
                status_code = recording_send.status or 500
                template = route_template(scope)
                if template != UNMATCHED_ROUTE:
                    span.update_name(f"{method} {template}")
                    span.set_attribute("http.route", template)
                span.set_attribute("http.response.status_code", status_code)
                if status_code >= 500:
                    span.set_status(trace.Status(trace.StatusCode.ERROR))


class MetricsMiddleware:
    """Counts requests and times them, labelled by method, route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        recording_send = StatusRecordingSend(send)
        try:
            await self.app(scope, receive, recording_send)
        finally:
            method = scope.get("method", "GET")
            template = route_template(scope)
            HTTP_REQUESTS.labels(method, template, str(recording_send.status or 500)).inc()
            HTTP_DURATION.labels(method, template).observe(time.perf_counter() - started)


def metrics_endpoint(registry: CollectorRegistry = REGISTRY) -> Any:
    """A route handler serving the registry in the Prometheus text format."""

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
