"""The shared event backbone: CloudEvents envelope, PostgreSQL event store with a transactional
outbox, the outbox relay to NATS JetStream, and the durable consumer runner with inbox and dead letters.

Names are imported on first use, so that importing `libs.events.envelope` (as pure domain modules do)
loads neither the NATS client nor the database drivers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BatchHandler": "libs.events.consumer",
    "ConsumerRunner": "libs.events.consumer",
    "DeadLetter": "libs.events.consumer",
    "Handler": "libs.events.consumer",
    "Subscription": "libs.events.consumer",
    "DomainEvent": "libs.events.envelope",
    "Envelope": "libs.events.envelope",
    "EventRegistry": "libs.events.envelope",
    "UnknownEventType": "libs.events.envelope",
    "event_context": "libs.events.envelope",
    "NatsConnection": "libs.events.nats",
    "stream_name": "libs.events.nats",
    "subject_for": "libs.events.nats",
    "OutboxRelay": "libs.events.relay",
    "ConcurrencyConflict": "libs.events.store",
    "EventStore": "libs.events.store",
    "RecordedEvent": "libs.events.store",
    "StreamNotFound": "libs.events.store",
    "UnitOfWork": "libs.events.store",
}

if TYPE_CHECKING:
    from libs.events.consumer import BatchHandler, ConsumerRunner, DeadLetter, Handler, Subscription
    from libs.events.envelope import (
        DomainEvent,
        Envelope,
        EventRegistry,
        UnknownEventType,
        event_context,
    )
    from libs.events.nats import NatsConnection, stream_name, subject_for
    from libs.events.relay import OutboxRelay
    from libs.events.store import (
        ConcurrencyConflict,
        EventStore,
        RecordedEvent,
        StreamNotFound,
        UnitOfWork,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "BatchHandler",
    "ConcurrencyConflict",
    "ConsumerRunner",
    "DeadLetter",
    "DomainEvent",
    "Envelope",
    "EventRegistry",
    "EventStore",
    "Handler",
    "NatsConnection",
    "OutboxRelay",
    "RecordedEvent",
    "StreamNotFound",
    "Subscription",
    "UnitOfWork",
    "UnknownEventType",
    "event_context",
    "stream_name",
    "subject_for",
]
