"""The one logging setup of every service process: JSON lines (time, level, logger, message,
service, trace and span ids of the current OpenTelemetry span, exception text) for log collectors,
or `LOG_FORMAT=text` for people reading a console (`bw.py up` sets it)."""

from __future__ import annotations

import logging
import os
import sys
from typing import IO

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

LOG_FORMATS = ("json", "text")
DEFAULT_LOG_FORMAT = "json"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = ["levelname", "name", "message", "service", "trace_id", "span_id"]
JSON_NAMES = {"levelname": "level", "name": "logger", "exc_info": "exception"}


class TraceContextFilter(logging.Filter):
    """Stamps each record with the service name and the ids of the span current where it was
    logged (None outside a span, or when nothing is sampled and no caller's context continues)."""

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self.service_name = service_name

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        record.service = self.service_name
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        else:
            record.trace_id = None
            record.span_id = None
        return True


def log_format_from_environment() -> str:
    """`LOG_FORMAT`, json when unset; anything else is refused at start-up, not guessed."""
    chosen = os.environ.get("LOG_FORMAT", "").strip().lower() or DEFAULT_LOG_FORMAT
    if chosen not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {chosen!r}")
    return chosen


def json_formatter() -> logging.Formatter:
    # `timestamp="time"`: ISO 8601 in UTC from the record's creation time.
    return JsonFormatter(JSON_FIELDS, rename_fields=JSON_NAMES, timestamp="time")


def configure_logging(
    service_name: str,
    level: str = "INFO",
    log_format: str | None = None,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Route every logger (uvicorn's too) through one root handler in the chosen format; replaces
    handlers installed before, so calling it twice does not double the lines."""
    chosen = log_format or log_format_from_environment()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(TraceContextFilter(service_name))
    handler.setFormatter(json_formatter() if chosen == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for previous in list(root.handlers):
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's loggers have handlers of their own only when uvicorn configures logging; `run`
    # passes log_config=None, so they propagate here like any other.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    return handler
