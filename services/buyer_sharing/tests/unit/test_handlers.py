"""Buyer sharing's command handlers on the in-memory event store (no I/O): given the events in the
store, when a handler runs, then these events are in its streams and these public events would
reach the outbox. The read-model lookups the handlers make are a fake answering from the same
events (and from the factories' OS IDs, an upstream read model)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import pytest

from libs.domain.aggregate import VersionMismatch
from libs.domain.envelope import DomainEvent
from libs.events.memory import InMemoryEventStore
from libs.events.store import EventStore
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
from services.buyer_sharing.contract import CONTRACT, PUBLIC_EVENTS
from services.buyer_sharing.domain import make_registry
from services.buyer_sharing.domain.access_request import (
    ACCESS_REQUEST,
    AccessApproved,
    AccessDeclined,
    AccessRequested,
)
from services.buyer_sharing.domain.buyer import BUYER, BuyerRegistered
from services.buyer_sharing.domain.sharing import (
    SHARING,
    AuditRelianceDeclared,
    AuditRelianceWithdrawn,
    SharingGranted,
    SharingRevoked,
)
from services.buyer_sharing.errors import AlreadyDecided, AlreadyExists, InvalidPeriod, NotFound
from services.buyer_sharing.handlers import (
    COMMAND_HANDLERS,
    Dependencies,
    approve_access_request,
    declare_audit_reliance,
    decline_access_request,
    grant_sharing,
    register_buyer,
    request_access,
    revoke_sharing,
    withdraw_audit_reliance,
)
from services.buyer_sharing.ids import pair_id

NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
FACTORY = "f-1"
OTHER_FACTORY = "f-2"
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


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore(make_registry(), public=CONTRACT)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def lookups(store: InMemoryEventStore) -> FakeLookups:
    return FakeLookups(store)


@pytest.fixture
def deps(store: InMemoryEventStore, clock: Clock, lookups: FakeLookups) -> Dependencies:
    # typed as the PostgreSQL store for the routes' reads; the handlers need only units of work
    return Dependencies(store=cast(EventStore, store), clock=clock, lookups=lookups)


# --- helpers ------------------------------------------------------------------------------------


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
    await register_buyer(
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
    await grant_sharing(
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
    await request_access(
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
) -> DeclareAuditReliance:
    return DeclareAuditReliance(
        reliance_id=reliance_id,
        factory_id=factory_id,
        buyer_id=buyer_id,
        assessment_id="a-1",
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


class TestRegisterBuyer:
    async def test_stores_the_registration_and_publishes_it_without_contact_details(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)

        assert kinds(store.events(BUYER.stream_id(BUYER_ID))) == [BuyerRegistered]
        [registered] = public(store, "BuyerRegistered")
        assert registered == {
            "buyer_id": BUYER_ID,
            "name": "Brand A",
            "country": "SE",
            "registered_at": NOW.isoformat().replace("+00:00", "Z"),
        }

    async def test_registering_the_same_buyer_again_is_refused(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)

        with pytest.raises(AlreadyExists):
            await given_buyer(deps)
        assert len(store.events(BUYER.stream_id(BUYER_ID))) == 1


class TestGrantSharing:
    async def test_grants_and_publishes_the_grant_about_the_factory(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)

        await given_grant(deps, ends_on=date(2025, 12, 31))

        [granted] = sharing_events(store)
        assert isinstance(granted, SharingGranted)
        assert (granted.granted_by, granted.reason) == (FACTORY_USER, "we supply them")
        [envelope] = [e for e in store.published if e.event_name == "SharingGranted"]
        assert envelope.subject == FACTORY
        assert envelope.data == {
            "factory_id": FACTORY,
            "buyer_id": BUYER_ID,
            "granted_at": envelope.data["granted_at"],
            "ends_on": "2025-12-31",
            "access_request_id": None,
        }

    async def test_a_grant_to_an_unregistered_buyer_is_not_found_and_stores_nothing(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        with pytest.raises(NotFound):
            await given_grant(deps)
        assert sharing_events(store) == [] and store.published == []

    async def test_an_end_date_in_the_past_is_refused(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)

        with pytest.raises(InvalidPeriod):
            await given_grant(deps, ends_on=NOW.date() - timedelta(days=1))
        assert sharing_events(store) == []

    async def test_granting_again_records_a_new_grant_in_the_history(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps, ends_on=date(2025, 6, 30))

        await given_grant(deps, ends_on=date(2026, 6, 30))

        events = sharing_events(store)
        assert [getattr(e, "ends_on", None) for e in events] == [
            date(2025, 6, 30),
            date(2026, 6, 30),
        ]
        assert published(store).count("SharingGranted") == 2


class TestRevokeSharing:
    async def test_revokes_at_once_and_publishes_the_reason(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)

        change = await revoke_sharing(revoke(), deps)

        assert kinds(sharing_events(store)) == [SharingGranted, SharingRevoked]
        assert not change.state.in_force(NOW.date())
        [revoked] = public(store, "SharingRevoked")
        assert revoked["reason"] == "contract ended" and "revoked_by" not in revoked

    async def test_revoking_twice_is_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)
        await revoke_sharing(revoke(), deps)

        with pytest.raises(NotFound):
            await revoke_sharing(revoke(), deps)
        assert kinds(sharing_events(store)) == [SharingGranted, SharingRevoked]

    async def test_another_factory_cannot_revoke_a_grant_it_did_not_make(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        # the route takes the factory from the caller's token: another factory names itself
        await given_buyer(deps)
        await given_grant(deps)

        with pytest.raises(NotFound):
            await revoke_sharing(revoke(factory_id=OTHER_FACTORY), deps)
        assert kinds(sharing_events(store)) == [SharingGranted]

    async def test_an_end_dated_grant_past_its_end_can_still_be_revoked_for_the_record(
        self, deps: Dependencies, store: InMemoryEventStore, clock: Clock
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps, ends_on=date(2025, 6, 30))
        clock.now = datetime(2025, 7, 15, tzinfo=UTC)

        await revoke_sharing(revoke(), deps)

        assert kinds(sharing_events(store)) == [SharingGranted, SharingRevoked]

    async def test_a_revocation_ends_every_reliance_in_force_and_publishes_each_end(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)
        await declare_audit_reliance(declare("rel-1"), deps)
        await declare_audit_reliance(declare("rel-2"), deps)
        await withdraw_audit_reliance(withdraw("rel-2"), deps)

        change = await revoke_sharing(revoke(), deps)

        assert kinds(list(change.events)) == [SharingRevoked, AuditRelianceWithdrawn]
        assert change.state.reliances == {}
        ended = public(store, "AuditRelianceWithdrawn")
        assert [(e["reliance_id"], e["reason"]) for e in ended] == [
            ("rel-2", "own audit after all"),
            ("rel-1", "sharing revoked"),
        ]


class TestIfMatch:
    async def test_a_revocation_on_a_stale_version_is_refused_and_changes_nothing(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        # the factory saw version 1; the buyer has declared reliance since (version 2)
        await given_buyer(deps)
        await given_grant(deps)
        await declare_audit_reliance(declare(), deps)

        with pytest.raises(VersionMismatch) as stale:
            await revoke_sharing(revoke().model_copy(update={"expected_version": 1}), deps)
        assert (stale.value.expected, stale.value.actual) == (1, 2)
        assert kinds(sharing_events(store)) == [SharingGranted, AuditRelianceDeclared]
        assert "SharingRevoked" not in published(store)

    async def test_a_revocation_on_the_current_version_goes_through(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)

        change = await revoke_sharing(revoke().model_copy(update={"expected_version": 1}), deps)

        assert change.version == 2 and "SharingRevoked" in published(store)

    async def test_a_new_grant_on_a_stale_version_is_refused(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)
        await revoke_sharing(revoke(), deps)

        with pytest.raises(VersionMismatch):
            await grant_sharing(
                GrantSharing(
                    factory_id=FACTORY, buyer_id=BUYER_ID, by=FACTORY_USER, expected_version=1
                ),
                deps,
            )
        assert kinds(sharing_events(store)) == [SharingGranted, SharingRevoked]


class TestRequestAccess:
    async def test_records_the_request_and_publishes_it_without_the_message(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)

        await given_request(deps)

        [requested] = request_events(store, "req-1")
        assert isinstance(requested, AccessRequested) and requested.message == MESSAGE
        [data] = public(store, "AccessRequested")
        assert set(data) == {"request_id", "buyer_id", "factory_id", "os_id", "requested_at"}
        assert MESSAGE not in str(data) and BUYER_USER not in str(data)

    async def test_a_request_for_an_unknown_factory_is_answered_like_one_for_a_known_factory(
        self, deps: Dependencies, store: InMemoryEventStore, lookups: FakeLookups
    ) -> None:
        await given_buyer(deps)
        lookups.os_ids[FACTORY] = OS_ID

        known = await request_access(
            RequestAccess(request_id="req-1", buyer_id=BUYER_ID, factory_id=FACTORY, by="u"),
            deps,
        )
        unknown = await request_access(
            RequestAccess(request_id="req-2", buyer_id=BUYER_ID, factory_id="f-404", by="u"),
            deps,
        )

        assert (known.version, known.state.status) == (unknown.version, unknown.state.status)
        first, second = public(store, "AccessRequested")
        assert {**first, "request_id": "", "factory_id": ""} == {
            **second,
            "request_id": "",
            "factory_id": "",
        }

    async def test_a_request_by_os_id_tells_the_buyer_nothing_about_whether_the_factory_exists(
        self, deps: Dependencies, store: InMemoryEventStore, lookups: FakeLookups
    ) -> None:
        # The buyer's own webhook receives AccessRequested whatever its grants (notifications'
        # BUYER_ADDRESSED), so neither the subject nor the data may carry the factory the OS ID
        # resolved to: that would tell the buyer which factory it is before consent.
        await given_buyer(deps)
        lookups.os_ids[FACTORY] = OS_ID
        unknown_os_id = "BD2019257Q2JMGX"

        await given_request(deps, "req-1", factory_id=None, os_id=OS_ID)
        await given_request(deps, "req-2", factory_id=None, os_id=unknown_os_id)

        known, unknown = [e for e in store.published if e.event_name == "AccessRequested"]
        assert FACTORY not in known.model_dump_json()
        assert (known.subject, unknown.subject) == (OS_ID, unknown_os_id)
        assert {**known.data, "request_id": "", "os_id": ""} == {
            **unknown.data,
            "request_id": "",
            "os_id": "",
        }

    async def test_a_request_by_os_id_is_resolved_inside_for_the_factory_to_find(
        self, deps: Dependencies, store: InMemoryEventStore, lookups: FakeLookups
    ) -> None:
        await given_buyer(deps)
        lookups.os_ids[FACTORY] = OS_ID

        await given_request(deps, factory_id=None, os_id=OS_ID)

        [requested] = request_events(store, "req-1")
        assert isinstance(requested, AccessRequested)
        assert (requested.factory_id, requested.os_id) == (FACTORY, OS_ID)

    async def test_a_request_of_an_unregistered_buyer_is_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        with pytest.raises(NotFound):
            await given_request(deps)
        assert request_events(store, "req-1") == [] and store.published == []

    async def test_a_retried_request_records_nothing_new(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_request(deps)

        await given_request(deps)

        assert len(request_events(store, "req-1")) == 1
        assert published(store).count("AccessRequested") == 1


class TestApproveAccessRequest:
    async def test_approving_decides_the_request_and_grants_in_one_go(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_request(deps)

        change = await approve_access_request(approve(ends_on=date(2026, 1, 31)), deps)

        requested, approved = request_events(store, "req-1")
        assert isinstance(requested, AccessRequested) and isinstance(approved, AccessApproved)
        [granted] = sharing_events(store)
        assert isinstance(granted, SharingGranted) and granted.access_request_id == "req-1"
        assert change.state.in_force(NOW.date())
        # the approval is published as the grant that names the request, nothing else
        assert published(store)[-1:] == ["SharingGranted"]
        assert "AccessApproved" not in published(store)
        [data] = public(store, "SharingGranted")
        assert (data["access_request_id"], data["ends_on"]) == ("req-1", "2026-01-31")

    async def test_another_factory_gets_not_found_and_nothing_changes(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_request(deps)

        with pytest.raises(NotFound):
            await approve_access_request(approve(factory_id=OTHER_FACTORY), deps)
        assert kinds(request_events(store, "req-1")) == [AccessRequested]
        assert sharing_events(store, OTHER_FACTORY) == []

    async def test_an_unknown_request_is_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        with pytest.raises(NotFound):
            await approve_access_request(approve("req-404"), deps)
        assert store.streams == {}

    async def test_approving_twice_is_a_conflict_and_grants_once(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_request(deps)
        await approve_access_request(approve(), deps)

        with pytest.raises(AlreadyDecided):
            await approve_access_request(approve(), deps)
        assert kinds(sharing_events(store)) == [SharingGranted]

    async def test_a_declined_request_cannot_be_approved(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_request(deps)
        await decline_access_request(decline(), deps)

        with pytest.raises(AlreadyDecided) as refused:
            await approve_access_request(approve(), deps)
        assert refused.value.extensions == {"status": "declined"}
        assert sharing_events(store) == []

    async def test_a_refused_grant_leaves_the_request_pending(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_request(deps)

        with pytest.raises(InvalidPeriod):
            await approve_access_request(approve(ends_on=date(2025, 1, 1)), deps)

        assert kinds(request_events(store, "req-1")) == [AccessRequested]
        assert sharing_events(store) == []
        assert published(store) == ["BuyerRegistered", "AccessRequested"]

    async def test_the_factory_approves_a_request_by_its_os_id_made_before_it_was_known(
        self, deps: Dependencies, store: InMemoryEventStore, lookups: FakeLookups
    ) -> None:
        await given_buyer(deps)
        await given_request(deps, factory_id=None, os_id=OS_ID)
        lookups.os_ids[FACTORY] = OS_ID  # registered in assessment after the request

        await approve_access_request(approve(), deps)

        assert kinds(sharing_events(store)) == [SharingGranted]

    async def test_a_request_by_os_id_is_not_found_for_a_factory_with_another_os_id(
        self, deps: Dependencies, store: InMemoryEventStore, lookups: FakeLookups
    ) -> None:
        await given_buyer(deps)
        await given_request(deps, factory_id=None, os_id=OS_ID)
        lookups.os_ids[OTHER_FACTORY] = "BD2019257Q2JMGX"

        with pytest.raises(NotFound):
            await approve_access_request(approve(factory_id=OTHER_FACTORY), deps)
        assert kinds(request_events(store, "req-1")) == [AccessRequested]


class TestDeclineAccessRequest:
    async def test_declines_with_a_reason_the_buyer_sees_but_not_who_declined(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_request(deps)

        change = await decline_access_request(decline(), deps)

        assert change.state.status == "declined"
        [declined] = request_events(store, "req-1")[1:]
        assert isinstance(declined, AccessDeclined) and declined.declined_by == FACTORY_USER
        [data] = public(store, "AccessDeclined")
        assert data["reason"] == "not a customer" and FACTORY_USER not in str(data)
        assert sharing_events(store) == []

    async def test_declining_twice_is_a_conflict(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_request(deps)
        await decline_access_request(decline(), deps)

        with pytest.raises(AlreadyDecided):
            await decline_access_request(decline(), deps)
        assert kinds(request_events(store, "req-1")) == [AccessRequested, AccessDeclined]

    async def test_an_approved_request_cannot_be_declined(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_request(deps)
        await approve_access_request(approve(), deps)

        with pytest.raises(AlreadyDecided):
            await decline_access_request(decline(), deps)
        assert kinds(sharing_events(store)) == [SharingGranted]

    async def test_declining_a_request_by_os_id_does_not_name_the_factory_to_the_buyer(
        self, deps: Dependencies, store: InMemoryEventStore, lookups: FakeLookups
    ) -> None:
        # a decline is no consent; the API already hides the resolved factory from the buyer
        await given_buyer(deps)
        lookups.os_ids[FACTORY] = OS_ID
        await given_request(deps, factory_id=None, os_id=OS_ID)

        await decline_access_request(decline(), deps)

        [envelope] = [e for e in store.published if e.event_name == "AccessDeclined"]
        assert FACTORY not in envelope.model_dump_json()

    async def test_another_factory_gets_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_request(deps)

        with pytest.raises(NotFound):
            await decline_access_request(decline(factory_id=OTHER_FACTORY), deps)
        assert kinds(request_events(store, "req-1")) == [AccessRequested]


class TestDeclareAuditReliance:
    async def test_declares_reliance_on_a_shared_factory_without_the_internal_note(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)

        change = await declare_audit_reliance(declare(), deps)

        assert change.state.reliances == {"rel-1": date(2025, 12, 31)}
        [data] = public(store, "AuditRelianceDeclared")
        assert data["period_start"] == "2025-01-01" and data["period_end"] == "2025-12-31"
        assert NOTE not in str(data) and BUYER_USER not in str(data)

    async def test_without_a_grant_the_factory_is_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)

        with pytest.raises(NotFound):
            await declare_audit_reliance(declare(), deps)
        assert sharing_events(store) == []

    async def test_after_a_revocation_the_factory_is_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)
        await revoke_sharing(revoke(), deps)

        with pytest.raises(NotFound):
            await declare_audit_reliance(declare(), deps)
        assert kinds(sharing_events(store)) == [SharingGranted, SharingRevoked]

    async def test_a_grant_past_its_end_date_counts_as_revoked(
        self, deps: Dependencies, store: InMemoryEventStore, clock: Clock
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps, ends_on=date(2025, 6, 30))
        clock.now = datetime(2025, 7, 1, 0, 0, tzinfo=UTC)

        with pytest.raises(NotFound):
            await declare_audit_reliance(declare(), deps)
        assert kinds(sharing_events(store)) == [SharingGranted]

    async def test_a_period_beyond_the_grants_end_date_is_refused(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps, ends_on=date(2025, 9, 30))

        with pytest.raises(InvalidPeriod):
            await declare_audit_reliance(declare(period_end=date(2025, 12, 31)), deps)
        await declare_audit_reliance(declare(period_end=date(2025, 9, 30)), deps)
        assert kinds(sharing_events(store)) == [SharingGranted, AuditRelianceDeclared]

    async def test_another_buyers_grant_gives_no_right_to_rely(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_buyer(deps, OTHER_BUYER)
        await given_grant(deps)

        with pytest.raises(NotFound):
            await declare_audit_reliance(declare(buyer_id=OTHER_BUYER), deps)
        assert sharing_events(store, buyer_id=OTHER_BUYER) == []

    async def test_a_period_that_ends_before_it_starts_is_refused(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)

        with pytest.raises(InvalidPeriod):
            await declare_audit_reliance(
                declare(period_start=date(2025, 6, 1), period_end=date(2025, 5, 31)), deps
            )
        assert kinds(sharing_events(store)) == [SharingGranted]


class TestWithdrawAuditReliance:
    async def test_withdraws_a_declaration_and_publishes_it(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)
        await declare_audit_reliance(declare(), deps)

        change = await withdraw_audit_reliance(withdraw(), deps)

        assert change.state.reliances == {}
        assert kinds(list(change.events)) == [AuditRelianceWithdrawn]
        [data] = public(store, "AuditRelianceWithdrawn")
        assert data["reason"] == "own audit after all" and BUYER_USER not in str(data)

    async def test_withdrawing_twice_is_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)
        await declare_audit_reliance(declare(), deps)
        await withdraw_audit_reliance(withdraw(), deps)

        with pytest.raises(NotFound):
            await withdraw_audit_reliance(withdraw(), deps)
        assert published(store).count("AuditRelianceWithdrawn") == 1

    async def test_a_reliance_the_revocation_ended_cannot_be_withdrawn_again(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)
        await declare_audit_reliance(declare(), deps)
        await revoke_sharing(revoke(), deps)

        with pytest.raises(NotFound):
            await withdraw_audit_reliance(withdraw(), deps)
        assert published(store).count("AuditRelianceWithdrawn") == 1

    async def test_another_buyer_cannot_withdraw_it(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_buyer(deps, OTHER_BUYER)
        await given_grant(deps)
        await given_grant(deps, buyer_id=OTHER_BUYER)
        await declare_audit_reliance(declare(), deps)

        with pytest.raises(NotFound):
            await withdraw_audit_reliance(withdraw(buyer_id=OTHER_BUYER), deps)
        assert kinds(sharing_events(store)) == [SharingGranted, AuditRelianceDeclared]

    async def test_an_unknown_declaration_is_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        before = total_events(store)
        with pytest.raises(NotFound):
            await withdraw_audit_reliance(withdraw("rel-404"), deps)
        assert total_events(store) == before


class TestWhatLeavesTheService:
    async def test_only_public_events_leave_with_no_contact_details_free_text_or_actors(
        self, deps: Dependencies, store: InMemoryEventStore, lookups: FakeLookups
    ) -> None:
        # given every kind of command, each with private facts in it
        await given_buyer(deps)
        await given_request(deps, "req-1")
        await approve_access_request(approve("req-1"), deps)
        await given_request(deps, "req-2", factory_id=OTHER_FACTORY)
        await decline_access_request(decline("req-2", OTHER_FACTORY), deps)
        await declare_audit_reliance(declare("rel-1"), deps)
        await declare_audit_reliance(declare("rel-2"), deps)
        await withdraw_audit_reliance(withdraw("rel-2"), deps)
        await revoke_sharing(revoke(), deps)

        fields = {cls.event_name: set(cls.model_fields) for cls in PUBLIC_EVENTS}
        assert sorted(set(published(store))) == sorted(fields)
        for envelope in store.published:
            # exactly the contract's fields, and the envelope's type is the contract's
            assert set(envelope.data) == fields[envelope.event_name], envelope.event_name
            assert type(CONTRACT.registry.decode(envelope)).event_name == envelope.event_name
            text = envelope.model_dump_json()
            for private in (CONTACT_EMAIL, "Anna Svensson", MESSAGE, NOTE, FACTORY_USER):
                assert private not in text, (envelope.event_name, private)
            assert BUYER_USER not in text and "admin-1" not in text


class TestRegistry:
    def test_every_command_has_its_handler(self) -> None:
        every = {
            cls
            for cls in vars(commands).values()
            if isinstance(cls, type)
            and issubclass(cls, commands.Command)
            and cls is not commands.Command
        }
        assert set(COMMAND_HANDLERS) == every
