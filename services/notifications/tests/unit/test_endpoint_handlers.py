"""Commands on a webhook endpoint on the in-memory event store (no I/O): given the events in the
store, when a handler runs, then these events are in the endpoint's stream, these public events
would reach the outbox, and the answer carries what the route shows (a new secret once)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from libs.domain.aggregate import VersionMismatch
from libs.domain.errors import NotFound
from libs.events.memory import InMemoryEventStore
from services.notifications import handlers
from services.notifications.commands import (
    DeleteEndpoint,
    DisableEndpoint,
    RotateSecret,
    UpdateEndpoint,
)
from services.notifications.contract import WebhookEndpointDisabled as PublicDisabled
from services.notifications.domain import endpoint as ep
from services.notifications.errors import (
    EndpointLimitReached,
    OverlapOutOfRange,
    UnknownEventTypes,
    UnsafeUrl,
)
from services.notifications.handlers import Dependencies, EndpointAnswer
from services.notifications.tests.unit.conftest import (
    ENDPOINT,
    NOW,
    STREAM,
    MemoryTables,
    given_registered,
    names,
    registration,
)


def _rotate(overlap: int | None, caller: str = "brand-a") -> RotateSecret:
    return RotateSecret(
        endpoint_id=ENDPOINT, caller_buyer_id=caller, overlap_seconds=overlap, by="u"
    )


class TestRegisterEndpoint:
    async def test_records_the_endpoint_and_keeps_only_a_sealed_secret(
        self, deps: Dependencies, store: InMemoryEventStore, tables: MemoryTables
    ) -> None:
        change = await handlers.register_endpoint(registration(), deps)
        [registered] = store.events(STREAM)
        assert isinstance(registered, ep.WebhookEndpointRegistered)
        assert registered.buyer_id == "brand-a" and registered.registered_at == NOW
        answer: EndpointAnswer = change.answer
        assert answer.secret is not None
        secret = answer.secret.value
        assert (
            secret.startswith("whsec_")
            and answer.secret.fingerprint == registered.secret_fingerprint
        )
        assert secret not in registered.model_dump_json()  # the fact holds a fingerprint only
        [(secret_id, kept)] = tables.secrets.items()
        assert secret_id == registered.secret_id
        assert deps.box.open(kept["sealed"]) == secret and kept["expires_at"] is None
        assert store.published == []  # registration is not a public event

    async def test_the_same_id_again_changes_nothing_and_shows_no_secret(
        self, deps: Dependencies, store: InMemoryEventStore, tables: MemoryTables
    ) -> None:
        await given_registered(deps)
        change = await handlers.register_endpoint(registration(), deps)
        assert change.answer.secret is None and not change.events
        assert len(store.events(STREAM)) == 1 and len(tables.secrets) == 1

    async def test_refuses_unknown_event_types_listing_the_known_ones(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        with pytest.raises(UnknownEventTypes) as refused:
            await handlers.register_endpoint(
                registration(event_types=("AssessmentCompleted", "FactoryBurnedDown")), deps
            )
        assert refused.value.extensions["unknown"] == ["FactoryBurnedDown"]
        assert "NonComplianceFound" in refused.value.extensions["known"]
        assert store.events(STREAM) == []

    async def test_refuses_a_host_that_resolves_to_a_private_address(
        self, deps: Dependencies, store: InMemoryEventStore, tables: MemoryTables
    ) -> None:
        with pytest.raises(UnsafeUrl):
            await handlers.register_endpoint(registration(url="https://internal.example/x"), deps)
        with pytest.raises(UnsafeUrl):
            await handlers.register_endpoint(registration(url="http://hooks.example/x"), deps)
        assert store.events(STREAM) == [] and tables.secrets == {}

    async def test_refuses_a_buyer_at_its_endpoint_limit_but_replays_a_repeat(
        self, deps: Dependencies, store: InMemoryEventStore, tables: MemoryTables
    ) -> None:
        await given_registered(deps)
        tables.endpoint_counts["brand-a"] = deps.max_endpoints_per_buyer
        with pytest.raises(EndpointLimitReached) as refused:
            await handlers.register_endpoint(registration(endpoint_id="ep_2"), deps)
        assert refused.value.extensions["limit"] == deps.max_endpoints_per_buyer
        assert store.events("endpoint-ep_2") == [] and len(tables.secrets) == 1
        # the same registration again is no new endpoint: it decides nothing, refuses nothing
        again = await handlers.register_endpoint(registration(), deps)
        assert not again.events


class TestUpdateEndpoint:
    async def test_changes_and_disabling_are_recorded_and_disabling_is_public(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_registered(deps)
        await handlers.update_endpoint(
            UpdateEndpoint(
                endpoint_id=ENDPOINT,
                caller_buyer_id="brand-a",
                description="ERP",
                enabled=False,
                by="user-1",
            ),
            deps,
        )
        assert names(store.events(STREAM)) == [
            "WebhookEndpointRegistered",
            "WebhookEndpointUpdated",
            "WebhookEndpointDisabled",
        ]
        [published] = store.published
        assert published.event_name == "WebhookEndpointDisabled"
        assert published.data == PublicDisabled(
            endpoint_id=ENDPOINT, buyer_id="brand-a", reason="manual", disabled_at=NOW
        ).model_dump(mode="json")

    async def test_another_buyers_endpoint_is_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_registered(deps)
        with pytest.raises(NotFound):
            await handlers.update_endpoint(
                UpdateEndpoint(
                    endpoint_id=ENDPOINT, caller_buyer_id="brand-b", enabled=False, by="b"
                ),
                deps,
            )
        assert len(store.events(STREAM)) == 1 and store.published == []

    async def test_refuses_unknown_types_and_a_stale_version(self, deps: Dependencies) -> None:
        await given_registered(deps)
        with pytest.raises(UnknownEventTypes):
            await handlers.update_endpoint(
                UpdateEndpoint(
                    endpoint_id=ENDPOINT, caller_buyer_id="brand-a", event_types=("X",), by="u"
                ),
                deps,
            )
        with pytest.raises(VersionMismatch):
            await handlers.update_endpoint(
                UpdateEndpoint(
                    endpoint_id=ENDPOINT,
                    caller_buyer_id="brand-a",
                    description="late",
                    expected_version=7,
                    by="u",
                ),
                deps,
            )

    async def test_a_new_url_is_checked_against_ssrf(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_registered(deps)
        with pytest.raises(UnsafeUrl):
            await handlers.update_endpoint(
                UpdateEndpoint(
                    endpoint_id=ENDPOINT,
                    caller_buyer_id="brand-a",
                    url="https://internal.example/x",
                    by="u",
                ),
                deps,
            )
        assert len(store.events(STREAM)) == 1

    async def test_a_deleted_endpoint_is_not_found(self, deps: Dependencies) -> None:
        await given_registered(deps)
        await handlers.delete_endpoint(
            DeleteEndpoint(endpoint_id=ENDPOINT, caller_buyer_id="brand-a", by="u"), deps
        )
        with pytest.raises(NotFound):
            await handlers.update_endpoint(
                UpdateEndpoint(endpoint_id=ENDPOINT, caller_buyer_id=None, enabled=True, by="a"),
                deps,
            )


class TestRotateSecret:
    async def test_a_new_secret_and_the_old_one_until_the_overlap_ends(
        self, deps: Dependencies, store: InMemoryEventStore, tables: MemoryTables
    ) -> None:
        first = await given_registered(deps)
        change = await handlers.rotate_secret(_rotate(3600), deps)
        second = change.answer.secret
        until = NOW + timedelta(hours=1)
        assert second.previous_valid_until == until and second.value != first
        rotated = store.events(STREAM)[-1]
        assert isinstance(rotated, ep.WebhookEndpointSecretRotated)
        assert rotated.previous_valid_until == until
        assert rotated.secret_fingerprint == second.fingerprint
        by_secret = {deps.box.open(kept["sealed"]): kept for kept in tables.secrets.values()}
        assert by_secret[first]["expires_at"] == until
        assert by_secret[second.value]["expires_at"] is None
        assert store.published == []

    @pytest.mark.parametrize("overlap", [-1, 7 * 24 * 3600 + 1])
    async def test_refuses_an_overlap_out_of_bounds(
        self, deps: Dependencies, store: InMemoryEventStore, tables: MemoryTables, overlap: int
    ) -> None:
        await given_registered(deps)
        with pytest.raises(OverlapOutOfRange):
            await handlers.rotate_secret(_rotate(overlap), deps)
        assert len(store.events(STREAM)) == 1 and len(tables.secrets) == 1

    async def test_seven_days_is_the_longest_overlap(self, deps: Dependencies) -> None:
        await given_registered(deps)
        change = await handlers.rotate_secret(_rotate(7 * 24 * 3600), deps)
        assert change.answer.secret.previous_valid_until == NOW + timedelta(days=7)

    async def test_without_an_overlap_the_configured_one_applies(self, deps: Dependencies) -> None:
        await given_registered(deps)
        deps.rotation_overlap_seconds = 600
        change = await handlers.rotate_secret(_rotate(None), deps)
        assert change.answer.secret.previous_valid_until == NOW + timedelta(minutes=10)

    async def test_another_buyers_endpoint_is_not_found(
        self, deps: Dependencies, tables: MemoryTables
    ) -> None:
        await given_registered(deps)
        with pytest.raises(NotFound):
            await handlers.rotate_secret(_rotate(60, caller="brand-b"), deps)
        assert len(tables.secrets) == 1


class TestDeleteEndpoint:
    async def test_records_the_deletion(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_registered(deps)
        await handlers.delete_endpoint(
            DeleteEndpoint(endpoint_id=ENDPOINT, caller_buyer_id="brand-a", by="u"), deps
        )
        assert names(store.events(STREAM))[-1] == "WebhookEndpointDeleted"

    async def test_another_buyers_or_an_unknown_endpoint_is_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_registered(deps)
        for command in (
            DeleteEndpoint(endpoint_id=ENDPOINT, caller_buyer_id="brand-b", by="b"),
            DeleteEndpoint(endpoint_id="ep_unknown", caller_buyer_id="brand-a", by="u"),
        ):
            with pytest.raises(NotFound):
                await handlers.delete_endpoint(command, deps)
        assert len(store.events(STREAM)) == 1

    async def test_deleted_twice_is_not_found(self, deps: Dependencies) -> None:
        await given_registered(deps)
        command = DeleteEndpoint(endpoint_id=ENDPOINT, caller_buyer_id="brand-a", by="u")
        await handlers.delete_endpoint(command, deps)
        with pytest.raises(NotFound):
            await handlers.delete_endpoint(command, deps)


class TestDisableEndpoint:
    async def test_the_dispatchers_disable_is_recorded_and_public(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_registered(deps)
        await handlers.disable_endpoint(
            DisableEndpoint(endpoint_id=ENDPOINT, reason="gone", detail="410"), deps
        )
        disabled = store.events(STREAM)[-1]
        assert isinstance(disabled, ep.WebhookEndpointDisabled)
        assert (disabled.reason, disabled.disabled_by) == ("gone", "notifications")
        [published] = store.published
        assert published.data["reason"] == "gone" and published.data["buyer_id"] == "brand-a"

    async def test_an_already_disabled_or_deleted_endpoint_publishes_nothing_more(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_registered(deps)
        command = DisableEndpoint(endpoint_id=ENDPOINT, reason="failing")
        await handlers.disable_endpoint(command, deps)
        change = await handlers.disable_endpoint(command, deps)
        assert not change.events and len(store.published) == 1
        await handlers.delete_endpoint(
            DeleteEndpoint(endpoint_id=ENDPOINT, caller_buyer_id=None, by="admin"), deps
        )
        assert not (await handlers.disable_endpoint(command, deps)).events
        assert len(store.published) == 1
