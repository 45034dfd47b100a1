"""Log lines: JSON with the current span's trace and span ids, or the human text format; and a
service process started as in production writes its request log as JSON lines carrying the
caller's trace id."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider

from libs.servicekit.logs import configure_logging, log_format_from_environment
from tools.embedded import free_port

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class TestJsonLines:
    def test_a_line_outside_a_span_has_every_field_and_null_ids(
        self, restore_root_logger: None
    ) -> None:
        stream = io.StringIO()
        configure_logging("assessment", "INFO", "json", stream)

        logging.getLogger("services.assessment.handlers").info(
            "completed %s", "A-1", extra={"factory_id": "F-1"}
        )

        [line] = _lines(stream)
        assert line["level"] == "INFO"
        assert line["logger"] == "services.assessment.handlers"
        assert line["message"] == "completed A-1"
        assert line["service"] == "assessment"
        assert line["trace_id"] is None and line["span_id"] is None
        assert line["factory_id"] == "F-1"
        assert str(line["time"]).endswith("+00:00")

    def test_a_line_inside_a_span_carries_its_trace_and_span_ids_and_the_exception(
        self, restore_root_logger: None
    ) -> None:
        stream = io.StringIO()
        configure_logging("remediation", "INFO", "json", stream)
        tracer = TracerProvider().get_tracer("test")

        with tracer.start_as_current_span("handle") as span:
            try:
                raise ValueError("bad plan")
            except ValueError:
                logging.getLogger("x").exception("handler failed")
        context = span.get_span_context()

        [line] = _lines(stream)
        assert line["trace_id"] == format(context.trace_id, "032x")
        assert line["span_id"] == format(context.span_id, "016x")
        assert line["level"] == "ERROR"
        assert "ValueError: bad plan" in str(line["exception"])

    def test_levels_below_the_configured_one_are_dropped(self, restore_root_logger: None) -> None:
        stream = io.StringIO()
        configure_logging("assessment", "WARNING", "json", stream)
        logging.getLogger("x").info("quiet")
        logging.getLogger("x").warning("loud")
        assert [line["message"] for line in _lines(stream)] == ["loud"]

    def test_configuring_twice_does_not_double_the_lines(self, restore_root_logger: None) -> None:
        stream = io.StringIO()
        configure_logging("assessment", "INFO", "json", stream)
        configure_logging("assessment", "INFO", "json", stream)
        logging.getLogger("x").info("once")
        assert len(_lines(stream)) == 1


class TestTextFormat:
    def test_text_is_the_human_format(self, restore_root_logger: None) -> None:
        stream = io.StringIO()
        configure_logging("assessment", "INFO", "text", stream)
        logging.getLogger("libs.events.relay").warning("round failed")
        assert stream.getvalue().rstrip().endswith("WARNING libs.events.relay: round failed")
        with pytest.raises(json.JSONDecodeError):
            json.loads(stream.getvalue())


class TestLogFormatVariable:
    def test_json_unless_asked_and_unknown_values_refused(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("LOG_FORMAT", raising=False)
        assert log_format_from_environment() == "json"
        monkeypatch.setenv("LOG_FORMAT", "TEXT")
        assert log_format_from_environment() == "text"
        monkeypatch.setenv("LOG_FORMAT", "xml")
        with pytest.raises(ValueError, match="LOG_FORMAT must be one of json, text"):
            log_format_from_environment()


@pytest.mark.integration
async def test_a_service_process_logs_json_lines_with_the_callers_trace_id(
    database_url: str, nats_url: str, subject_prefix: str
) -> None:
    port = free_port()
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "BW_SUBJECT_PREFIX": subject_prefix,
        "BW_ENVIRONMENT": "development",
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    environment.pop("LOG_FORMAT", None)  # the production default
    migrate = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.assessment", "migrate", cwd=ROOT, env=environment
    )
    assert await asyncio.wait_for(migrate.wait(), timeout=120) == 0
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.assessment",
        "serve",
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    lines: list[dict[str, object]] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            async with asyncio.timeout(60):
                while True:
                    try:
                        response = await client.get(
                            "/healthz",
                            headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
                        )
                        if response.status_code == 200:
                            break
                    except httpx.TransportError:
                        await asyncio.sleep(0.2)
            async with asyncio.timeout(30):
                while not any(line.get("trace_id") == trace_id for line in lines):
                    raw = await process.stderr.readline()
                    assert raw, "the service ended its log"
                    lines.append(json.loads(raw))  # every line is JSON, start-up included
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)
    request_line = next(line for line in lines if line.get("trace_id") == trace_id)
    assert request_line["logger"] == "uvicorn.access"
    assert "GET /healthz" in str(request_line["message"])
    assert request_line["service"] == "assessment"
    assert request_line["span_id"]
    assert any(line["message"] == "assessment started" for line in lines)
