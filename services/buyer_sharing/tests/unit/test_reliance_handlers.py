"""Handlers of audit reliance on the in-memory event store: a buyer relies on a factory shared
with it now, within the grant's period, and withdraws its own declarations."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from libs.domain.errors import NotFound
from libs.events.memory import InMemoryEventStore
from services.buyer_sharing.dependencies import Dependencies
from services.buyer_sharing.domain.sharing import (
    AuditRelianceDeclared,
    AuditRelianceWithdrawn,
    SharingGranted,
    SharingRevoked,
)
from services.buyer_sharing.errors import InvalidPeriod, UnknownAssessment
from services.buyer_sharing.tests.unit.givens import (
    BUYER_USER,
    NOTE,
    OTHER_BUYER,
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
    total_events,
    withdraw,
)


class TestDeclareAuditReliance:
    async def test_declares_reliance_on_a_shared_factory_without_the_internal_note(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)

        change = await run(declare(), deps)

        assert change.state.reliances == {"rel-1": date(2025, 12, 31)}
        [data] = public(store, "AuditRelianceDeclared")
        assert data["period_start"] == "2025-01-01" and data["period_end"] == "2025-12-31"
        assert NOTE not in str(data) and BUYER_USER not in str(data)

    async def test_without_a_grant_the_factory_is_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)

        with pytest.raises(NotFound):
            await run(declare(), deps)
        assert sharing_events(store) == []

    async def test_naming_no_completed_assessment_of_the_factory_is_refused(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)

        for unknown in ("a-unknown", "a-9"):  # a-9: completed, at another factory
            with pytest.raises(UnknownAssessment):
                await run(declare(assessment_id=unknown), deps)
        assert kinds(sharing_events(store)) == [SharingGranted]

    async def test_an_unshared_factory_is_not_found_before_its_assessments_are_looked_at(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)

        with pytest.raises(NotFound):
            await run(declare(assessment_id="a-unknown"), deps)

    async def test_after_a_revocation_the_factory_is_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)
        await run(revoke(), deps)

        with pytest.raises(NotFound):
            await run(declare(), deps)
        assert kinds(sharing_events(store)) == [SharingGranted, SharingRevoked]

    async def test_a_grant_past_its_end_date_counts_as_revoked(
        self, deps: Dependencies, store: InMemoryEventStore, clock: Clock
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps, ends_on=date(2025, 6, 30))
        clock.now = datetime(2025, 7, 1, 0, 0, tzinfo=UTC)

        with pytest.raises(NotFound):
            await run(declare(), deps)
        assert kinds(sharing_events(store)) == [SharingGranted]

    async def test_a_period_beyond_the_grants_end_date_is_refused(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps, ends_on=date(2025, 9, 30))

        with pytest.raises(InvalidPeriod):
            await run(declare(period_end=date(2025, 12, 31)), deps)
        await run(declare(period_end=date(2025, 9, 30)), deps)
        assert kinds(sharing_events(store)) == [SharingGranted, AuditRelianceDeclared]

    async def test_another_buyers_grant_gives_no_right_to_rely(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_buyer(deps, OTHER_BUYER)
        await given_grant(deps)

        with pytest.raises(NotFound):
            await run(declare(buyer_id=OTHER_BUYER), deps)
        assert sharing_events(store, buyer_id=OTHER_BUYER) == []

    async def test_a_period_that_ends_before_it_starts_is_refused(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)

        with pytest.raises(InvalidPeriod):
            await run(declare(period_start=date(2025, 6, 1), period_end=date(2025, 5, 31)), deps)
        assert kinds(sharing_events(store)) == [SharingGranted]


class TestWithdrawAuditReliance:
    async def test_withdraws_a_declaration_and_publishes_it(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)
        await run(declare(), deps)

        change = await run(withdraw(), deps)

        assert change.state.reliances == {}
        assert kinds(list(change.events)) == [AuditRelianceWithdrawn]
        [data] = public(store, "AuditRelianceWithdrawn")
        assert data["reason"] == "own audit after all" and BUYER_USER not in str(data)

    async def test_withdrawing_twice_is_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)
        await run(declare(), deps)
        await run(withdraw(), deps)

        with pytest.raises(NotFound):
            await run(withdraw(), deps)
        assert published(store).count("AuditRelianceWithdrawn") == 1

    async def test_a_reliance_the_revocation_ended_cannot_be_withdrawn_again(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_grant(deps)
        await run(declare(), deps)
        await run(revoke(), deps)

        with pytest.raises(NotFound):
            await run(withdraw(), deps)
        assert published(store).count("AuditRelianceWithdrawn") == 1

    async def test_another_buyer_cannot_withdraw_it(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_buyer(deps)
        await given_buyer(deps, OTHER_BUYER)
        await given_grant(deps)
        await given_grant(deps, buyer_id=OTHER_BUYER)
        await run(declare(), deps)

        with pytest.raises(NotFound):
            await run(withdraw(buyer_id=OTHER_BUYER), deps)
        assert kinds(sharing_events(store)) == [SharingGranted, AuditRelianceDeclared]

    async def test_an_unknown_declaration_is_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        before = total_events(store)
        with pytest.raises(NotFound):
            await run(withdraw("rel-404"), deps)
        assert total_events(store) == before
