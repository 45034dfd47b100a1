"""CloudEvents 1.0 envelope, typed domain events, the event registry and upcasters.

An event's `type` is `org.betterwork.<service>.<EventName>.v<schema version>`; consumers keep their own
narrow copies of the events they read and register them under the producing service's name.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

TYPE_PREFIX = "org.betterwork"


class DomainEvent(BaseModel):
    """Base of every event: a frozen fact named in the past tense.

    Subclasses may set `event_name` (defaults to the class name) and `schema_version`.
    Unknown fields from newer producers are ignored, so consumers keep working.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_name: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("event_name"):
            cls.event_name = cls.__name__


class Envelope(BaseModel):
    """A CloudEvents 1.0 structured-mode JSON document; also the body of a webhook.

    `time` is business time, as CloudEvents defines it: when the fact happened (a report's
    completion, a grant, a training day). For a command through the live API that is the moment
    it was recorded; for a fact imported from a programme's history it is in the past.

    Extension attributes (lowercase, as the spec requires): `recordedtime`, when the event store
    recorded the fact (absent on events recorded before business time existed: then `time`);
    `importedfrom`, the history bundle an imported fact came from (absent for live facts);
    `traceparent`/`tracestate` (W3C trace context), `correlationid` and `causationid`, and
    `streamid`/`streamversion`, the aggregate stream and its version, so consumers can order and
    de-duplicate per aggregate. Unknown extension attributes from newer producers are kept and
    round-trip unchanged.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str
    subject: str
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]
    traceparent: str | None = None
    tracestate: str | None = None
    correlationid: str
    causationid: str | None = None
    streamid: str
    streamversion: int = Field(ge=1)
    recordedtime: datetime | None = None
    importedfrom: str | None = None

    @property
    def recorded_time(self) -> datetime:
        """When the store recorded the fact (`time` is when it happened)."""
        return self.recordedtime if self.recordedtime is not None else self.time

    @property
    def imported(self) -> bool:
        """The fact came from a programme's history bundle, not from the live API."""
        return self.importedfrom is not None

    @property
    def service(self) -> str:
        return parse_type(self.type)[0]

    @property
    def event_name(self) -> str:
        return parse_type(self.type)[1]

    @property
    def schema_version(self) -> int:
        return parse_type(self.type)[2]

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, payload: bytes | str) -> Envelope:
        return cls.model_validate_json(payload)


def event_type(service: str, event_name: str, schema_version: int) -> str:
    return f"{TYPE_PREFIX}.{service}.{event_name}.v{schema_version}"


@lru_cache(maxsize=1024)
def parse_type(type_: str) -> tuple[str, str, int]:
    """`org.betterwork.assessment.AssessmentCompleted.v2` → ("assessment", "AssessmentCompleted", 2)."""
    parts = type_.split(".")
    if len(parts) != 5 or ".".join(parts[:2]) != TYPE_PREFIX or not parts[4].startswith("v"):
        raise UnknownEventType(type_)
    try:
        version = int(parts[4][1:])
    except ValueError as error:
        raise UnknownEventType(type_) from error
    return parts[2], parts[3], version


class UnknownEventType(Exception):
    """The envelope's type is malformed or not registered with this registry."""


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
E = TypeVar("E", bound=type[DomainEvent])


class EventRegistry:
    """Maps (service, event name) to the event class and upcasts old schema versions on decode."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._classes: dict[tuple[str, str], type[DomainEvent]] = {}
        self._upcasters: dict[tuple[str, str, int], Upcaster] = {}

    def register(self, cls: E, *, service: str | None = None) -> E:
        self._classes[(service or self.service, cls.event_name)] = cls
        return cls

    def register_all(self, *classes: type[DomainEvent], service: str | None = None) -> None:
        for cls in classes:
            self.register(cls, service=service)

    def upcaster(
        self, event_name: str, from_version: int, *, service: str | None = None
    ) -> Callable[[Upcaster], Upcaster]:
        """Register a function that turns version `from_version` of an event's data into the next."""

        def decorator(function: Upcaster) -> Upcaster:
            self._upcasters[(service or self.service, event_name, from_version)] = function
            return function

        return decorator

    def classes(self) -> list[tuple[str, type[DomainEvent]]]:
        """Every registered event class with the service it is registered under."""
        return [(service, cls) for (service, _), cls in self._classes.items()]

    def knows(self, type_: str) -> bool:
        service, name, _ = parse_type(type_)
        return (service, name) in self._classes

    def type_of(self, event: DomainEvent) -> str:
        return event_type(self.service, event.event_name, event.schema_version)

    def decode(self, envelope: Envelope) -> DomainEvent:
        return self.decode_data(envelope.type, envelope.data)

    def decode_json(self, type_: str, data: str | bytes) -> DomainEvent:
        """Decode stored JSON; the current version is validated straight from JSON (fast path)."""
        service, name, version = parse_type(type_)
        cls = self._classes.get((service, name))
        if cls is not None and version == cls.schema_version:
            return cls.model_validate_json(data)
        return self.decode_data(type_, json.loads(data))

    def decode_data(self, type_: str, data: dict[str, Any]) -> DomainEvent:
        service, name, version = parse_type(type_)
        cls = self._classes.get((service, name))
        if cls is None:
            raise UnknownEventType(type_)
        while version < cls.schema_version:
            upcast = self._upcasters.get((service, name, version))
            if upcast is None:
                raise UnknownEventType(f"{type_}: no upcaster from v{version}")
            data = upcast(dict(data))
            version += 1
        return cls.model_validate(data)


@dataclass(frozen=True)
class ImportOrigin:
    """Where an imported fact came from: the history bundle (its id and checksum), the record's
    kind and source id in it, and who imported it."""

    bundle_id: str
    bundle_checksum: str | None
    kind: str
    source_id: str
    imported_by: str

    def as_metadata(self) -> dict[str, str | None]:
        return {
            "bundle": self.bundle_id,
            "checksum": self.bundle_checksum,
            "kind": self.kind,
            "source_id": self.source_id,
            "imported_by": self.imported_by,
        }


@dataclass(frozen=True)
class EventContext:
    """Who and what caused the events appended in this context (request or consumed event), and
    when the facts happened: `occurred_at` None is "now" (the time they are recorded)."""

    correlation_id: str
    causation_id: str | None = None
    actor: str | None = None
    occurred_at: datetime | None = None
    imported: ImportOrigin | None = None

    def __post_init__(self) -> None:
        # a naive business time would be stored without its zone and compare with nothing
        if self.occurred_at is not None and self.occurred_at.tzinfo is None:
            raise ValueError("business time must be timezone-aware")


_context: ContextVar[EventContext | None] = ContextVar("event_context", default=None)


def current_context() -> EventContext:
    context = _context.get()
    return context if context is not None else EventContext(correlation_id=str(uuid.uuid4()))


@contextmanager
def event_context(
    correlation_id: str | None = None,
    causation_id: str | None = None,
    actor: str | None = None,
    *,
    occurred_at: datetime | None = None,
    imported: ImportOrigin | None = None,
) -> Iterator[EventContext]:
    """Set correlation/causation/actor (and business time, import origin) for events appended
    inside the block."""
    context = EventContext(
        correlation_id or str(uuid.uuid4()), causation_id, actor, occurred_at, imported
    )
    token = _context.set(context)
    try:
        yield context
    finally:
        _context.reset(token)


def consumed_context(envelope: Envelope) -> EventContext:
    """The context of events a consumer appends in reaction to `envelope`: caused by it, and, for
    an imported fact, happened when it did and imported from the same bundle (so what follows
    from the past is the past too, and is not announced as news)."""
    if envelope.importedfrom is None:
        return EventContext(envelope.correlationid, envelope.id)
    origin = ImportOrigin(
        bundle_id=envelope.importedfrom,
        bundle_checksum=None,
        kind="derived",
        source_id=envelope.id,
        imported_by=envelope.source,
    )
    return EventContext(envelope.correlationid, envelope.id, None, envelope.time, origin)


@contextmanager
def in_context(context: EventContext) -> Iterator[EventContext]:
    """Events appended inside the block have `context`."""
    token = _context.set(context)
    try:
        yield context
    finally:
        _context.reset(token)


@contextmanager
def business_time(
    occurred_at: datetime, *, imported: ImportOrigin | None = None
) -> Iterator[EventContext]:
    """Events appended inside the block happened at `occurred_at` (an aware datetime), and came
    from `imported` when given; the rest of the current context (correlation, actor) is kept."""
    if occurred_at.tzinfo is None:
        raise ValueError("business time must be timezone-aware")
    outer = current_context()
    context = EventContext(
        outer.correlation_id,
        outer.causation_id,
        imported.imported_by if imported is not None else outer.actor,
        occurred_at,
        imported,
    )
    token = _context.set(context)
    try:
        yield context
    finally:
        _context.reset(token)


def utcnow() -> datetime:
    return datetime.now(UTC)
