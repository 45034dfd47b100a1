"""A service's public contract: which of its internal events leave it, as which public events.
Pure (no I/O), so that services' domain and contract modules can import it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from libs.domain.envelope import DomainEvent, Envelope, EventRegistry
from libs.domain.identifiers import name_id


@dataclass(frozen=True)
class PublicContract:
    """What of a service's history leaves it: `translate` maps each internal event, with the
    aggregate's state right after it (when the appender knows it, as the aggregate repository
    does; else None), to the public events it publishes (none for a private fact), whose classes
    `registry` holds under the service's name. Only these are written to the outbox, so an
    internal event can change without changing what other services and buyers' webhooks receive."""

    registry: EventRegistry
    translate: Callable[[DomainEvent, Any], Sequence[DomainEvent]]

    @classmethod
    def of(
        cls,
        service: str,
        events: Sequence[type[DomainEvent]],
        translate: Callable[[DomainEvent, Any], Sequence[DomainEvent]],
    ) -> PublicContract:
        """The contract of `service`: its public event classes and the translation to them."""
        registry = EventRegistry(service)
        registry.register_all(*events)
        return cls(registry, translate)


def public_event_id(internal_event_id: str, public_type: str) -> str:
    """A public event's id is derived from the internal event it comes from, so translating the
    same history again gives the same ids (JetStream and the consumers' inboxes de-duplicate)."""
    return name_id(internal_event_id, public_type)


def public_envelopes(
    public: PublicContract | None,
    envelopes: Sequence[Envelope],
    events: Sequence[DomainEvent],
    states: Sequence[Any] | None = None,
) -> list[Envelope]:
    """The public events the internal ones map to, in envelopes of their own; or every event as
    it is when the service declares no public contract."""
    if public is None:
        return list(envelopes)
    after = states if states is not None else [None] * len(events)
    return [
        envelope.model_copy(
            update={
                "id": public_event_id(envelope.id, public_type),
                "type": public_type,
                "data": public_event.model_dump(mode="json"),
            }
        )
        for envelope, event, state in zip(envelopes, events, after, strict=True)
        for public_event in public.translate(event, state)
        for public_type in (public.registry.type_of(public_event),)
    ]
