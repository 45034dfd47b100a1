"""The givens and whens of the handler unit tests: the actors and names they use, a movable
clock, a fake of the read-model lookups, the events a stream holds, and each command as a test
sends it, through the service's registry of handlers (`run`, as `RunCommand` runs it)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from libs.domain.aggregate import Change
from libs.domain.envelope import DomainEvent
from libs.events.memory import InMemoryEventStore
from services.buyer_sharing import commands
from services.buyer_sharing.commands import (
    ApproveAccessRequest,
    DeclareAuditReliance,
    DeclineAccessRequest,
    GrantSharing,
    RegisterBuyer,
    RequestAccess,
    RevokeSharing,
    WithdrawAuditReliance,
)
from services.buyer_sharing.dependencies import Dependencies
from services.buyer_sharing.domain.access_request import (
    ACCESS_REQUEST,
    AccessApproved,
    AccessDeclined,
    AccessRequested,
)
from services.buyer_sharing.domain.sharing import (
    SHARING,
    AuditRelianceDeclared,
)
from services.buyer_sharing.handlers import COMMAND_HANDLERS
from services.buyer_sharing.ids import pair_id

NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
FACTORY = "f-1"
OTHER_FACTORY = "f-2"
ASSESSMENT = "a-1"
BUYER_ID = "b-1"
OTHER_BUYER = "b-2"
OS_ID = "KH2019257Q2JMGF"
FACTORY_USER = "factory-user-1"
BUYER_USER = "buyer-user-1"
CONTACT_EMAIL = "sourcing@brand.example"
MESSAGE = "We source knitwear from you; please share your reports."
NOTE = "Internal: replaces the audit budgeted for Q3."


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class FakeLookups:
    """The read models as the handlers ask them: factories' OS IDs (fed by the assessment
    service's events in production) and each declaration's factory, answered from the store's own
    events as the projection would record them."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self.store = store
        self.os_ids: dict[str, str] = {}
        """factory id -> OS ID of the factories known to the service."""
        self.completed: set[tuple[str, str]] = {(FACTORY, ASSESSMENT), (OTHER_FACTORY, "a-9")}
        """(factory id, assessment id) of the completed assessments the service knows."""

    async def open_requests(self, unit: Any, buyer_id: str) -> int:
        pending = 0
        for stream in self.store.streams.values():
            events = [entry.event for entry in stream]
            if any(
                isinstance(e, AccessRequested) and e.buyer_id == buyer_id for e in events
            ) and not any(isinstance(e, AccessApproved | AccessDeclined) for e in events):
                pending += 1
        return pending

    async def completed_assessment(self, unit: Any, factory_id: str, assessment_id: str) -> bool:
        return (factory_id, assessment_id) in self.completed

    async def factory_by_os_id(self, unit: Any, os_id: str) -> str | None:
        return next((f for f, known in self.os_ids.items() if known == os_id), None)

    async def factory_os_id(self, unit: Any, factory_id: str) -> str | None:
        return self.os_ids.get(factory_id)

    async def reliance_factory(self, unit: Any, reliance_id: str, buyer_id: str) -> str | None:
        for stream in self.store.streams.values():
            for entry in stream:
                event = entry.event
                if (
                    isinstance(event, AuditRelianceDeclared)
                    and event.reliance_id == reliance_id
                    and event.buyer_id == buyer_id
                ):
                    return event.factory_id
        return None


def sharing_events(
    store: InMemoryEventStore, factory_id: str = FACTORY, buyer_id: str = BUYER_ID
) -> list[DomainEvent]:
    return store.events(SHARING.stream_id(pair_id(factory_id, buyer_id)))


def request_events(store: InMemoryEventStore, request_id: str) -> list[DomainEvent]:
    return store.events(ACCESS_REQUEST.stream_id(request_id))


def kinds(events: list[DomainEvent]) -> list[type[object]]:
    return [type(event) for event in events]


def published(store: InMemoryEventStore) -> list[str]:
    return [envelope.event_name for envelope in store.published]


def public(store: InMemoryEventStore, event_name: str) -> list[dict[str, Any]]:
    """The data of the public events of that name that would reach the outbox."""
    return [envelope.data for envelope in store.published if envelope.event_name == event_name]


def total_events(store: InMemoryEventStore) -> int:
    return sum(len(stream) for stream in store.streams.values())


async def given_buyer(deps: Dependencies, buyer_id: str = BUYER_ID) -> None:
    await run(
        RegisterBuyer(
            buyer_id=buyer_id,
            name="Brand A",
            country="SE",
            contact_name="Anna Svensson",
            contact_email=CONTACT_EMAIL,
            by="admin-1",
        ),
        deps,
    )


async def given_grant(
    deps: Dependencies,
    *,
    factory_id: str = FACTORY,
    buyer_id: str = BUYER_ID,
    ends_on: date | None = None,
) -> None:
    await run(
        GrantSharing(
            factory_id=factory_id,
            buyer_id=buyer_id,
            ends_on=ends_on,
            reason="we supply them",
            by=FACTORY_USER,
        ),
        deps,
    )


async def given_request(
    deps: Dependencies,
    request_id: str = "req-1",
    *,
    factory_id: str | None = FACTORY,
    os_id: str | None = None,
    buyer_id: str = BUYER_ID,
) -> None:
    await run(
        RequestAccess(
            request_id=request_id,
            buyer_id=buyer_id,
            factory_id=factory_id,
            os_id=os_id,
            message=MESSAGE,
            by=BUYER_USER,
        ),
        deps,
    )


def revoke(factory_id: str = FACTORY, buyer_id: str = BUYER_ID) -> RevokeSharing:
    return RevokeSharing(
        factory_id=factory_id, buyer_id=buyer_id, reason="contract ended", by=FACTORY_USER
    )


def approve(
    request_id: str = "req-1", factory_id: str = FACTORY, ends_on: date | None = None
) -> ApproveAccessRequest:
    return ApproveAccessRequest(
        request_id=request_id,
        factory_id=factory_id,
        ends_on=ends_on,
        reason="a new customer",
        by=FACTORY_USER,
    )


def decline(request_id: str = "req-1", factory_id: str = FACTORY) -> DeclineAccessRequest:
    return DeclineAccessRequest(
        request_id=request_id, factory_id=factory_id, reason="not a customer", by=FACTORY_USER
    )


def declare(
    reliance_id: str = "rel-1",
    *,
    factory_id: str = FACTORY,
    buyer_id: str = BUYER_ID,
    period_start: date = date(2025, 1, 1),
    period_end: date = date(2025, 12, 31),
    assessment_id: str = ASSESSMENT,
) -> DeclareAuditReliance:
    return DeclareAuditReliance(
        reliance_id=reliance_id,
        factory_id=factory_id,
        buyer_id=buyer_id,
        assessment_id=assessment_id,
        period_start=period_start,
        period_end=period_end,
        note=NOTE,
        by=BUYER_USER,
    )


def withdraw(reliance_id: str = "rel-1", buyer_id: str = BUYER_ID) -> WithdrawAuditReliance:
    return WithdrawAuditReliance(
        reliance_id=reliance_id, buyer_id=buyer_id, reason="own audit after all", by=BUYER_USER
    )


# --- use cases ----------------------------------------------------------------------------------


async def run(command: commands.Command, deps: Dependencies) -> Change[Any]:
    """When: the command, through the service's registry of handlers (as `RunCommand` runs it)."""
    return await COMMAND_HANDLERS[type(command)](command, deps)
