"""The shared event backbone: CloudEvents envelope, PostgreSQL event store with a transactional
outbox, the outbox relay to NATS JetStream, and the durable consumer runner with inbox and dead letters."""

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
