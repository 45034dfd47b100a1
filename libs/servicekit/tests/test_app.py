"""The app factory: problem responses, request-size limit, health/readiness/metrics, component
lifecycle and trace context."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI, Request
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel, Field

from libs.servicekit.app import ReadinessCheck, create_app
from libs.servicekit.problems import Conflict
from libs.servicekit.settings import ServiceSettings


class AccountLocked(Exception):
    """A domain error mapped to a problem through `exception_map`."""


class NewFactory(BaseModel):
    name: str = Field(min_length=1)
    workers: int


router = APIRouter()


@router.post("/factories", status_code=201)
async def register_factory(factory: NewFactory) -> dict[str, Any]:
    return {"name": factory.name}


@router.post("/echo-size")
async def echo_size(request: Request) -> dict[str, int]:
    return {"size": len(await request.body())}


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret connection string postgres://user:pw@db")


@router.get("/conflict")
async def conflict() -> None:
    raise Conflict("Stream version 3 expected, found 4.", extensions={"expected": 3})


@router.get("/locked")
async def locked() -> None:
    raise AccountLocked("the account is locked")


@router.get("/items/{item_id}")
async def item(item_id: str) -> dict[str, str]:
    span_context = trace.get_current_span().get_span_context()
    return {"trace_id": format(span_context.trace_id, "032x")}


def make_app(
    readiness_checks: Mapping[str, ReadinessCheck] | None = None, lifecycle: Any = ()
) -> FastAPI:
    return create_app(
        settings=ServiceSettings(service_name="app-test", max_request_bytes=1000),
        title="t",
        description="t",
        version="1",
        routers=[router],
        lifecycle=lifecycle,
        readiness_checks=readiness_checks,
        readiness_timeout_seconds=0.2,
        exception_map={AccountLocked: (423, "Account locked")},
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(make_app()) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title"} <= body.keys()
    return body


async def test_validation_error_is_a_problem_with_locations(client: httpx.AsyncClient) -> None:
    response = await client.post("/factories", json={"name": "", "workers": "many"})
    body = assert_problem(response, 422)
    assert body["type"].endswith("/validation-error")
    by_location = {error["location"]: error for error in body["errors"]}
    assert set(by_location) == {"body.name", "body.workers"}
    assert by_location["body.workers"]["type"] == "int_parsing"
    assert "many" not in response.text  # input values are not echoed


async def test_malformed_json_is_a_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/factories", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 422)


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/nowhere"), 404)
    assert body["instance"] == "/nowhere"
    response = await client.delete("/factories")
    assert_problem(response, 405)
    assert response.headers["allow"] == "POST"


async def test_unexpected_error_is_a_bare_500(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await client.get("/boom")
    body = assert_problem(response, 500)
    assert "postgres" not in response.text
    assert "Traceback" not in response.text and "RuntimeError" not in response.text
    assert body["detail"] == "The server failed to handle the request."
    assert any(record.exc_info for record in caplog.records)  # the traceback is in the log


async def test_problem_error_and_mapped_domain_exception(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/conflict"), 409)
    assert body["expected"] == 3
    assert body["detail"] == "Stream version 3 expected, found 4."
    body = assert_problem(await client.get("/locked"), 423)
    assert body["title"] == "Account locked"
    assert body["type"] == "https://betterwork.example/problems/account-locked"
    assert body["detail"] == "the account is locked"


async def test_request_size_limit_by_content_length(client: httpx.AsyncClient) -> None:
    assert (await client.post("/echo-size", content=b"x" * 1000)).json() == {"size": 1000}
    assert_problem(await client.post("/echo-size", content=b"x" * 1001), 413)


async def test_request_size_limit_while_streaming(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"y" * 300

    response = await client.post("/echo-size", content=chunks())
    assert_problem(response, 413)

    async def small_chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"y" * 300

    assert (await client.post("/echo-size", content=small_chunks())).json() == {"size": 900}


async def test_streamed_oversized_body_into_a_model_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "' + b"n" * 900
        yield b"n" * 900 + b'", "workers": 1}'

    response = await client.post(
        "/factories", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413)


async def test_healthz_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    await client.get("/items/abc")
    metrics = await client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert (
        'http_server_requests_total{method="GET",route="/items/{item_id}",status="200"}'
        in metrics.text
    )
    assert "/items/abc" not in metrics.text
    await client.get("/openapi.json")
    await client.get("/no/such/route/42")
    metrics = await client.get("/metrics")
    assert 'route="/openapi.json",status="200"' in metrics.text
    assert 'route="<unmatched>",status="404"' in metrics.text
    assert "/no/such/route/42" not in metrics.text


async def test_readiness_reports_each_check() -> None:
    async def healthy() -> None:
        return None

    async def broken() -> None:
        raise ConnectionRefusedError("postgres://secret@db refused")

    async def hanging() -> None:
        await asyncio.sleep(30)

    app = make_app({"database": healthy, "nats": broken, "slow": hanging})
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["nats", "slow"]
    assert body["checks"] == {
        "database": {"status": "ok"},
        "nats": {"status": "failed", "error": "ConnectionRefusedError"},
        "slow": {"status": "failed", "error": "timeout"},
    }
    assert "secret" not in response.text

    async with LifespanManager(make_app({"database": healthy})) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": {"status": "ok"}}}


class Component:
    def __init__(self, name: str, journal: list[str], fail_start: bool = False) -> None:
        self.name, self.journal, self.fail_start = name, journal, fail_start

    async def start(self) -> None:
        if self.fail_start:
            raise RuntimeError(f"{self.name} cannot start")
        self.journal.append(f"start {self.name}")

    async def stop(self) -> None:
        self.journal.append(f"stop {self.name}")


async def test_components_start_in_order_and_stop_in_reverse() -> None:
    journal: list[str] = []
    app = make_app(lifecycle=[Component("db", journal), Component("nats", journal)])
    async with LifespanManager(app):
        assert journal == ["start db", "start nats"]
    assert journal == ["start db", "start nats", "stop nats", "stop db"]


async def test_started_components_stop_when_a_later_one_fails() -> None:
    journal: list[str] = []
    components = [Component("db", journal), Component("nats", journal, fail_start=True)]
    with pytest.raises(RuntimeError, match="nats cannot start"):
        async with LifespanManager(make_app(lifecycle=components)):
            pass
    assert journal == ["start db", "stop db"]


async def test_request_span_continues_the_callers_trace(client: httpx.AsyncClient) -> None:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    response = await client.get("/items/abc", headers={"traceparent": traceparent})
    assert response.json() == {"trace_id": trace_id}
    server_spans = [
        span for span in exporter.get_finished_spans() if span.name == "GET /items/{item_id}"
    ]
    assert len(server_spans) == 1
    span = server_spans[0]
    assert span.parent is not None and format(span.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["http.route"] == "/items/{item_id}"


async def test_openapi_documents_problem_documents(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    responses = spec["paths"]["/factories"]["post"]["responses"]
    assert "422" not in responses  # FastAPI's own validation schema would be a lie
    schema = responses["default"]["content"]["application/problem+json"]["schema"]
    assert {"type", "title", "status", "errors"} <= schema["properties"].keys()
    assert "/healthz" not in spec["paths"]
