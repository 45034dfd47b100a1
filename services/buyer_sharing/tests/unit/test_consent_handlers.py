"""Handlers of consent on the in-memory event store: given the events in the store, when a buyer
is registered or a factory grants or revokes (with or without If-Match), then these events are in
the pair's stream and these public events would reach the outbox."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from libs.domain.aggregate import VersionMismatch
from libs.domain.errors import AlreadyExists, NotFound
from libs.events.memory import InMemoryEventStore
from services.buyer_sharing.commands import (
    GrantSharing,
)
from services.buyer_sharing.dependencies import Dependencies
from services.buyer_sharing.domain.buyer import BUYER, BuyerRegistered
from services.buyer_sharing.domain.sharing import (
    AuditRelianceDeclared,
    AuditRelianceWithdrawn,
    SharingGranted,
    SharingRevoked,
)
from services.buyer_sharing.errors import InvalidPeriod
from services.buyer_sharing.tests.unit.givens import (
    BUYER_ID,
    FACTORY,
    FACTORY_USER,
    NOW,
    OTHER_FACTORY,
    Clock,
    declare,
    given_buyer,
    given_grant,
    kinds,
    public,
    published,
    revoke,
    run,
    sharing_events,
    withdraw,
)


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

        change = await run(revoke(), deps)

        assert kinds(sharing_events(store)) == [SharingGranted, SharingRevoked]
        assert not change.state.in_force(NOW.date())
        [revoked] = public(store, "SharingRevoked")
        assert revoked["reason"] == "contract ended" and "revoked_by" not in revoked

    async def test_revoking_twice_is_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)
        await run(revoke(), deps)

        with pytest.raises(NotFound):
            await run(revoke(), deps)
        assert kinds(sharing_events(store)) == [SharingGranted, SharingRevoked]

    async def test_another_factory_cannot_revoke_a_grant_it_did_not_make(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        # the route takes the factory from the caller's token: another factory names itself
        await given_buyer(deps)
        await given_grant(deps)

        with pytest.raises(NotFound):
            await run(revoke(factory_id=OTHER_FACTORY), deps)
        assert kinds(sharing_events(store)) == [SharingGranted]

    async def test_an_end_dated_grant_past_its_end_can_still_be_revoked_for_the_record(
        self, deps: Dependencies, store: InMemoryEventStore, clock: Clock
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps, ends_on=date(2025, 6, 30))
        clock.now = datetime(2025, 7, 15, tzinfo=UTC)

        await run(revoke(), deps)

        assert kinds(sharing_events(store)) == [SharingGranted, SharingRevoked]

    async def test_a_revocation_ends_every_reliance_in_force_and_publishes_each_end(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)
        await run(declare("rel-1"), deps)
        await run(declare("rel-2"), deps)
        await run(withdraw("rel-2"), deps)

        change = await run(revoke(), deps)

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
        await run(declare(), deps)

        with pytest.raises(VersionMismatch) as stale:
            await run(revoke().model_copy(update={"expected_version": 1}), deps)
        assert (stale.value.expected, stale.value.actual) == (1, 2)
        assert kinds(sharing_events(store)) == [SharingGranted, AuditRelianceDeclared]
        assert "SharingRevoked" not in published(store)

    async def test_a_revocation_on_the_current_version_goes_through(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)

        change = await run(revoke().model_copy(update={"expected_version": 1}), deps)

        assert change.version == 2 and "SharingRevoked" in published(store)

    async def test_a_new_grant_on_a_stale_version_is_refused(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)
        await run(revoke(), deps)

        with pytest.raises(VersionMismatch):
            await run(
                GrantSharing(
                    factory_id=FACTORY, buyer_id=BUYER_ID, by=FACTORY_USER, expected_version=1
                ),
                deps,
            )
        assert kinds(sharing_events(store)) == [SharingGranted, SharingRevoked]
