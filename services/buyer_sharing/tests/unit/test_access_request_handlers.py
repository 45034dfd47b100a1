"""Handlers of access requests on the in-memory event store: a buyer asks (by factory id or OS
ID, learning nothing of whether the factory exists), the factory it is addressed to approves (a
grant in the same transaction) or declines; anyone else gets a 404."""

from __future__ import annotations

import dataclasses
import re
from datetime import date

import pytest

from libs.domain.errors import NotFound
from libs.events.memory import InMemoryEventStore
from services.buyer_sharing.commands import (
    RequestAccess,
)
from services.buyer_sharing.dependencies import Dependencies
from services.buyer_sharing.domain.access_request import (
    AccessApproved,
    AccessDeclined,
    AccessRequested,
)
from services.buyer_sharing.domain.sharing import (
    SharingGranted,
)
from services.buyer_sharing.errors import AlreadyDecided, InvalidPeriod, TooManyOpenRequests
from services.buyer_sharing.tests.unit.givens import (
    BUYER_ID,
    BUYER_USER,
    FACTORY,
    FACTORY_USER,
    MESSAGE,
    NOW,
    OS_ID,
    OTHER_FACTORY,
    FakeLookups,
    approve,
    decline,
    given_buyer,
    given_request,
    kinds,
    public,
    published,
    request_events,
    run,
    sharing_events,
)


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

        known = await run(
            RequestAccess(request_id="req-1", buyer_id=BUYER_ID, factory_id=FACTORY, by="u"),
            deps,
        )
        unknown = await run(
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
        # (the envelope's random ids may hold the letters "f-1": look at what the producer set)
        assert FACTORY not in str(known.data) and FACTORY not in known.subject
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

        change = await run(approve(ends_on=date(2026, 1, 31)), deps)

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
            await run(approve(factory_id=OTHER_FACTORY), deps)
        assert kinds(request_events(store, "req-1")) == [AccessRequested]
        assert sharing_events(store, OTHER_FACTORY) == []

    async def test_an_unknown_request_is_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        with pytest.raises(NotFound):
            await run(approve("req-404"), deps)
        assert store.streams == {}

    async def test_approving_twice_is_a_conflict_and_grants_once(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_request(deps)
        await run(approve(), deps)

        with pytest.raises(AlreadyDecided):
            await run(approve(), deps)
        assert kinds(sharing_events(store)) == [SharingGranted]

    async def test_a_declined_request_cannot_be_approved(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_request(deps)
        await run(decline(), deps)

        with pytest.raises(AlreadyDecided) as refused:
            await run(approve(), deps)
        assert refused.value.extensions == {"status": "declined"}
        assert sharing_events(store) == []

    async def test_a_refused_grant_leaves_the_request_pending(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_request(deps)

        with pytest.raises(InvalidPeriod):
            await run(approve(ends_on=date(2025, 1, 1)), deps)

        assert kinds(request_events(store, "req-1")) == [AccessRequested]
        assert sharing_events(store) == []
        assert published(store) == ["BuyerRegistered", "AccessRequested"]

    async def test_the_factory_approves_a_request_by_its_os_id_made_before_it_was_known(
        self, deps: Dependencies, store: InMemoryEventStore, lookups: FakeLookups
    ) -> None:
        await given_buyer(deps)
        await given_request(deps, factory_id=None, os_id=OS_ID)
        lookups.os_ids[FACTORY] = OS_ID  # registered in assessment after the request

        await run(approve(), deps)

        assert kinds(sharing_events(store)) == [SharingGranted]

    async def test_a_request_by_os_id_is_not_found_for_a_factory_with_another_os_id(
        self, deps: Dependencies, store: InMemoryEventStore, lookups: FakeLookups
    ) -> None:
        await given_buyer(deps)
        await given_request(deps, factory_id=None, os_id=OS_ID)
        lookups.os_ids[OTHER_FACTORY] = "BD2019257Q2JMGX"

        with pytest.raises(NotFound):
            await run(approve(factory_id=OTHER_FACTORY), deps)
        assert kinds(request_events(store, "req-1")) == [AccessRequested]


class TestDeclineAccessRequest:
    async def test_declines_with_a_reason_the_buyer_sees_but_not_who_declined(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_request(deps)

        change = await run(decline(), deps)

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
        await run(decline(), deps)

        with pytest.raises(AlreadyDecided):
            await run(decline(), deps)
        assert kinds(request_events(store, "req-1")) == [AccessRequested, AccessDeclined]

    async def test_an_approved_request_cannot_be_declined(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_request(deps)
        await run(approve(), deps)

        with pytest.raises(AlreadyDecided):
            await run(decline(), deps)
        assert kinds(sharing_events(store)) == [SharingGranted]

    async def test_declining_a_request_by_os_id_does_not_name_the_factory_to_the_buyer(
        self, deps: Dependencies, store: InMemoryEventStore, lookups: FakeLookups
    ) -> None:
        # a decline is no consent; the API already hides the resolved factory from the buyer
        await given_buyer(deps)
        lookups.os_ids[FACTORY] = OS_ID
        await given_request(deps, factory_id=None, os_id=OS_ID)

        await run(decline(), deps)

        [envelope] = [e for e in store.published if e.event_name == "AccessDeclined"]
        # the envelope's random UUIDs left out: "f-1" stands in one now and then ("…af-1b2…")
        text = re.sub(
            r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "<id>", envelope.model_dump_json()
        )
        assert FACTORY not in text

    async def test_another_factory_gets_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_request(deps)

        with pytest.raises(NotFound):
            await run(decline(factory_id=OTHER_FACTORY), deps)
        assert kinds(request_events(store, "req-1")) == [AccessRequested]


class TestOpenRequestLimit:
    async def test_a_buyer_at_its_limit_of_pending_requests_is_refused_until_one_is_decided(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        limited = dataclasses.replace(deps, max_open_requests=2)
        await given_buyer(limited)
        await given_request(limited, "req-1")
        await given_request(limited, "req-2", factory_id=OTHER_FACTORY)

        with pytest.raises(TooManyOpenRequests) as refused:
            await given_request(limited, "req-3")
        assert refused.value.extensions == {"limit": 2}
        assert request_events(store, "req-3") == []

        await run(decline("req-1"), limited)
        await given_request(limited, "req-3")
        assert kinds(request_events(store, "req-3")) == [AccessRequested]
