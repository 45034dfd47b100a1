"""Command handlers of notifications on the in-memory event store (no I/O): given the events in
the store, when a handler runs, then these events are in the endpoint's stream and these public
events would reach the outbox. Secrets and delivery state go to an in-memory fake of the
delivery tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from libs.domain.aggregate import VersionMismatch
from libs.domain.envelope import DomainEvent
from libs.events.memory import InMemoryEventStore
from services.notifications import endpoint as ep
from services.notifications import handlers
from services.notifications.app import build_registry
from services.notifications.commands import (
    DeleteEndpoint,
    DisableEndpoint,
    Recover,
    Redeliver,
    RegisterEndpoint,
    RotateSecret,
    SendTestMessage,
    UpdateEndpoint,
)
from services.notifications.contract import CONTRACT
from services.notifications.contract import WebhookEndpointDisabled as PublicDisabled
from services.notifications.errors import (
    EndpointDeleted,
    EndpointDisabled,
    NotFound,
    OverlapOutOfRange,
    PayloadExpired,
    UnknownEventTypes,
    UnsafeUrl,
)
from services.notifications.handlers import Dependencies, MessageFound
from services.notifications.secretbox import DEV_KEY, SecretBox
from services.notifications.ssrf import AddressPolicy

NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
ENDPOINT = "ep_1"
STREAM = f"endpoint-{ENDPOINT}"
PUBLIC_HOST = "93.184.216.34"  # a globally routable address; nothing is ever sent to it here


async def resolve(host: str, _port: int) -> list[str]:
    return {"hooks.example": [PUBLIC_HOST], "internal.example": ["10.0.0.7"]}[host]


@dataclass
class MemoryTables:
    """The delivery tables as dictionaries."""

    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    redelivered: list[str] = field(default_factory=list)
    recovered: list[tuple[str, datetime]] = field(default_factory=list)

    async def keep_secret(
        self,
        connection: Any,
        endpoint_id: str,
        secret_id: str,
        sealed: bytes,
        fingerprint: str,
        at: datetime,
    ) -> None:
        self.secrets[secret_id] = {
            "endpoint_id": endpoint_id,
            "sealed": sealed,
            "fingerprint": fingerprint,
            "expires_at": None,
        }

    async def expire_secrets(self, connection: Any, endpoint_id: str, until: datetime) -> None:
        for secret in self.secrets.values():
            if secret["endpoint_id"] == endpoint_id and (
                secret["expires_at"] is None or secret["expires_at"] > until
            ):
                secret["expires_at"] = until

    async def queue_test_message(
        self,
        connection: Any,
        message: str,
        endpoint_id: str,
        buyer_id: str,
        payload: bytes,
        at: datetime,
    ) -> None:
        self.messages[message] = {"endpoint_id": endpoint_id, "buyer_id": buyer_id, "body": payload}

    async def find_message(self, connection: Any, message: str) -> MessageFound | None:
        found = self.messages.get(message)
        if found is None:
            return None
        return MessageFound(
            message,
            found["endpoint_id"],
            found["buyer_id"],
            found.get("purged", False),
            found.get("enabled", True),
        )

    async def redeliver(self, connection: Any, message: str, now: datetime) -> None:
        self.redelivered.append(message)

    async def recover(
        self, connection: Any, endpoint_id: str, since: datetime, now: datetime
    ) -> int:
        self.recovered.append((endpoint_id, since))
        return 3


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore(build_registry(), public=CONTRACT)


@pytest.fixture
def tables() -> MemoryTables:
    return MemoryTables()


@pytest.fixture
def deps(store: InMemoryEventStore, tables: MemoryTables) -> Dependencies:
    return Dependencies(
        store=store,
        box=SecretBox([DEV_KEY]),
        policy=AddressPolicy.parse([]),
        resolver=resolve,
        clock=lambda: NOW,
        tables=tables,
        read_models=False,
    )


def _register(**overrides: Any) -> RegisterEndpoint:
    values: dict[str, Any] = {
        "endpoint_id": ENDPOINT,
        "buyer_id": "brand-a",
        "url": "https://hooks.example/bw",
        "event_types": ("AssessmentCompleted", "SharingRevoked"),
        "by": "user-1",
    }
    return RegisterEndpoint(**{**values, **overrides})


async def _given_registered(deps: Dependencies) -> str:
    _change, secret = await handlers.register_endpoint(_register(), deps)
    assert secret is not None
    return secret


def _names(events: list[DomainEvent]) -> list[str]:
    return [type(event).__name__ for event in events]


class TestRegisterEndpoint:
    async def test_records_the_endpoint_and_keeps_only_a_sealed_secret(
        self, deps: Dependencies, store: InMemoryEventStore, tables: MemoryTables
    ) -> None:
        _change, secret = await handlers.register_endpoint(_register(), deps)
        [registered] = store.events(STREAM)
        assert isinstance(registered, ep.WebhookEndpointRegistered)
        assert registered.buyer_id == "brand-a" and registered.registered_at == NOW
        assert secret is not None and secret.startswith("whsec_")
        assert secret not in registered.model_dump_json()  # the fact holds a fingerprint only
        [(secret_id, kept)] = tables.secrets.items()
        assert secret_id == registered.secret_id
        assert deps.box.open(kept["sealed"]) == secret and kept["expires_at"] is None
        assert store.published == []  # registration is not a public event

    async def test_the_same_id_again_changes_nothing_and_shows_no_secret(
        self, deps: Dependencies, store: InMemoryEventStore, tables: MemoryTables
    ) -> None:
        await _given_registered(deps)
        change, secret = await handlers.register_endpoint(_register(), deps)
        assert secret is None and not change.events
        assert len(store.events(STREAM)) == 1 and len(tables.secrets) == 1

    async def test_refuses_unknown_event_types_listing_the_known_ones(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        with pytest.raises(UnknownEventTypes) as refused:
            await handlers.register_endpoint(
                _register(event_types=("AssessmentCompleted", "FactoryBurnedDown")), deps
            )
        assert refused.value.extensions["unknown"] == ["FactoryBurnedDown"]
        assert "NonComplianceFound" in refused.value.extensions["known"]
        assert store.events(STREAM) == []

    async def test_refuses_a_host_that_resolves_to_a_private_address(
        self, deps: Dependencies, store: InMemoryEventStore, tables: MemoryTables
    ) -> None:
        with pytest.raises(UnsafeUrl):
            await handlers.register_endpoint(_register(url="https://internal.example/x"), deps)
        with pytest.raises(UnsafeUrl):
            await handlers.register_endpoint(_register(url="http://hooks.example/x"), deps)
        assert store.events(STREAM) == [] and tables.secrets == {}


class TestUpdateEndpoint:
    async def test_changes_and_disabling_are_recorded_and_disabling_is_public(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await _given_registered(deps)
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
        assert _names(store.events(STREAM)) == [
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
        await _given_registered(deps)
        with pytest.raises(NotFound):
            await handlers.update_endpoint(
                UpdateEndpoint(
                    endpoint_id=ENDPOINT, caller_buyer_id="brand-b", enabled=False, by="b"
                ),
                deps,
            )
        assert len(store.events(STREAM)) == 1 and store.published == []

    async def test_refuses_unknown_types_and_a_stale_version(self, deps: Dependencies) -> None:
        await _given_registered(deps)
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
        await _given_registered(deps)
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
        await _given_registered(deps)
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
        first = await _given_registered(deps)
        _change, second, until = await handlers.rotate_secret(
            RotateSecret(
                endpoint_id=ENDPOINT, caller_buyer_id="brand-a", overlap_seconds=3600, by="u"
            ),
            deps,
        )
        assert until == NOW + timedelta(hours=1) and second != first
        rotated = store.events(STREAM)[-1]
        assert isinstance(rotated, ep.WebhookEndpointSecretRotated)
        assert rotated.previous_valid_until == until
        by_secret = {deps.box.open(kept["sealed"]): kept for kept in tables.secrets.values()}
        assert by_secret[first]["expires_at"] == until
        assert by_secret[second]["expires_at"] is None
        assert store.published == []

    @pytest.mark.parametrize("overlap", [-1, 7 * 24 * 3600 + 1])
    async def test_refuses_an_overlap_out_of_bounds(
        self, deps: Dependencies, store: InMemoryEventStore, tables: MemoryTables, overlap: int
    ) -> None:
        await _given_registered(deps)
        with pytest.raises(OverlapOutOfRange):
            await handlers.rotate_secret(
                RotateSecret(
                    endpoint_id=ENDPOINT, caller_buyer_id="brand-a", overlap_seconds=overlap, by="u"
                ),
                deps,
            )
        assert len(store.events(STREAM)) == 1 and len(tables.secrets) == 1

    async def test_seven_days_is_the_longest_overlap(self, deps: Dependencies) -> None:
        await _given_registered(deps)
        _change, _secret, until = await handlers.rotate_secret(
            RotateSecret(
                endpoint_id=ENDPOINT,
                caller_buyer_id="brand-a",
                overlap_seconds=7 * 24 * 3600,
                by="u",
            ),
            deps,
        )
        assert until == NOW + timedelta(days=7)

    async def test_another_buyers_endpoint_is_not_found(
        self, deps: Dependencies, tables: MemoryTables
    ) -> None:
        await _given_registered(deps)
        with pytest.raises(NotFound):
            await handlers.rotate_secret(
                RotateSecret(
                    endpoint_id=ENDPOINT, caller_buyer_id="brand-b", overlap_seconds=60, by="b"
                ),
                deps,
            )
        assert len(tables.secrets) == 1


class TestDeleteEndpoint:
    async def test_records_the_deletion(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await _given_registered(deps)
        await handlers.delete_endpoint(
            DeleteEndpoint(endpoint_id=ENDPOINT, caller_buyer_id="brand-a", by="u"), deps
        )
        assert _names(store.events(STREAM))[-1] == "WebhookEndpointDeleted"

    async def test_another_buyers_or_an_unknown_endpoint_is_not_found(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await _given_registered(deps)
        for command in (
            DeleteEndpoint(endpoint_id=ENDPOINT, caller_buyer_id="brand-b", by="b"),
            DeleteEndpoint(endpoint_id="ep_unknown", caller_buyer_id="brand-a", by="u"),
        ):
            with pytest.raises(NotFound):
                await handlers.delete_endpoint(command, deps)
        assert len(store.events(STREAM)) == 1

    async def test_deleted_twice_is_not_found(self, deps: Dependencies) -> None:
        await _given_registered(deps)
        command = DeleteEndpoint(endpoint_id=ENDPOINT, caller_buyer_id="brand-a", by="u")
        await handlers.delete_endpoint(command, deps)
        with pytest.raises(NotFound):
            await handlers.delete_endpoint(command, deps)


class TestDisableEndpoint:
    async def test_the_dispatchers_disable_is_recorded_and_public(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await _given_registered(deps)
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
        await _given_registered(deps)
        command = DisableEndpoint(endpoint_id=ENDPOINT, reason="failing")
        await handlers.disable_endpoint(command, deps)
        change = await handlers.disable_endpoint(command, deps)
        assert not change.events and len(store.published) == 1
        await handlers.delete_endpoint(
            DeleteEndpoint(endpoint_id=ENDPOINT, caller_buyer_id=None, by="admin"), deps
        )
        assert not (await handlers.disable_endpoint(command, deps)).events
        assert len(store.published) == 1


class TestSendTestMessage:
    async def test_queues_a_webhook_test_document_for_the_endpoint(
        self, deps: Dependencies, tables: MemoryTables, store: InMemoryEventStore
    ) -> None:
        await _given_registered(deps)
        message = await handlers.send_test_message(
            SendTestMessage(endpoint_id=ENDPOINT, caller_buyer_id="brand-a", by="u"), deps
        )
        queued = tables.messages[message]
        assert (queued["endpoint_id"], queued["buyer_id"]) == (ENDPOINT, "brand-a")
        assert b"org.betterwork.notifications.WebhookTest.v1" in queued["body"]
        assert len(store.events(STREAM)) == 1  # a test message is no fact about the endpoint

    async def test_refuses_another_buyer_and_a_disabled_endpoint(
        self, deps: Dependencies, tables: MemoryTables
    ) -> None:
        await _given_registered(deps)
        with pytest.raises(NotFound):
            await handlers.send_test_message(
                SendTestMessage(endpoint_id=ENDPOINT, caller_buyer_id="brand-b", by="b"), deps
            )
        await handlers.disable_endpoint(DisableEndpoint(endpoint_id=ENDPOINT, reason="m"), deps)
        with pytest.raises(EndpointDisabled):
            await handlers.send_test_message(
                SendTestMessage(endpoint_id=ENDPOINT, caller_buyer_id="brand-a", by="u"), deps
            )
        assert tables.messages == {}


class TestRedeliver:
    async def test_sends_the_message_again(self, deps: Dependencies, tables: MemoryTables) -> None:
        tables.messages["msg_1"] = {"endpoint_id": ENDPOINT, "buyer_id": "brand-a", "body": b""}
        await handlers.redeliver(Redeliver(message_id="msg_1", caller_buyer_id="brand-a"), deps)
        assert tables.redelivered == ["msg_1"]

    async def test_refusals(self, deps: Dependencies, tables: MemoryTables) -> None:
        tables.messages["msg_1"] = {"endpoint_id": ENDPOINT, "buyer_id": "brand-a", "body": b""}
        tables.messages["msg_off"] = {**tables.messages["msg_1"], "enabled": False}
        tables.messages["msg_old"] = {**tables.messages["msg_1"], "purged": True}
        cases: list[tuple[str, str | None, type[Exception]]] = [
            ("msg_1", "brand-b", NotFound),  # another buyer's message
            ("msg_unknown", None, NotFound),
            ("msg_off", "brand-a", EndpointDisabled),
            ("msg_old", None, PayloadExpired),
        ]
        for message, caller, error in cases:
            with pytest.raises(error):
                await handlers.redeliver(
                    Redeliver(message_id=message, caller_buyer_id=caller), deps
                )
        assert tables.redelivered == []


class TestRecover:
    async def test_recovers_the_failed_messages_since_a_time(
        self, deps: Dependencies, tables: MemoryTables
    ) -> None:
        await _given_registered(deps)
        since = NOW - timedelta(days=1)
        count = await handlers.recover(
            Recover(endpoint_id=ENDPOINT, caller_buyer_id="brand-a", since=since), deps
        )
        assert count == 3 and tables.recovered == [(ENDPOINT, since)]

    async def test_refuses_another_buyer_a_disabled_and_a_deleted_endpoint(
        self, deps: Dependencies, tables: MemoryTables
    ) -> None:
        await _given_registered(deps)
        since = NOW - timedelta(days=1)
        with pytest.raises(NotFound):
            await handlers.recover(
                Recover(endpoint_id=ENDPOINT, caller_buyer_id="brand-b", since=since), deps
            )
        await handlers.disable_endpoint(DisableEndpoint(endpoint_id=ENDPOINT, reason="m"), deps)
        with pytest.raises(EndpointDisabled):
            await handlers.recover(
                Recover(endpoint_id=ENDPOINT, caller_buyer_id="brand-a", since=since), deps
            )
        await handlers.delete_endpoint(
            DeleteEndpoint(endpoint_id=ENDPOINT, caller_buyer_id="brand-a", by="u"), deps
        )
        with pytest.raises(NotFound):
            await handlers.recover(
                Recover(endpoint_id=ENDPOINT, caller_buyer_id=None, since=since), deps
            )
        assert tables.recovered == []


def test_a_deleted_endpoint_refuses_domain_changes() -> None:
    """The aggregate's own guard behind the handlers' 404 (EndpointDeleted)."""
    [registered] = ep.register(
        ep.Endpoint(),
        endpoint_id=ENDPOINT,
        buyer_id="brand-a",
        url="https://hooks.example/x",
        event_types=("AssessmentCompleted",),
        factory_ids=None,
        description="",
        secret_id="s",
        secret_fingerprint="f",
        by="u",
        at=NOW,
    )
    state = ep.ENDPOINT.fold(
        [
            registered,
            *ep.delete(ep.ENDPOINT.fold([registered]), endpoint_id=ENDPOINT, by="u", at=NOW),
        ]
    )
    with pytest.raises(EndpointDeleted):
        ep.rotate_secret(
            state,
            endpoint_id=ENDPOINT,
            secret_id="s2",
            secret_fingerprint="f2",
            previous_valid_until=NOW,
            by="u",
            at=NOW,
        )
