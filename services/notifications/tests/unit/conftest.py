"""Fixtures of the handler unit tests: the in-memory event store, an in-memory fake of the
delivery tables, and the handlers' dependencies on them (a fixed clock, a fake DNS)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from libs.domain.envelope import DomainEvent
from libs.events.memory import InMemoryEventStore
from services.notifications.adapters.delivery_tables import MessageFound
from services.notifications.adapters.secretbox import DEV_KEY, SecretBox
from services.notifications.commands import RegisterEndpoint
from services.notifications.contract import CONTRACT
from services.notifications.domain.ssrf import AddressPolicy
from services.notifications.handlers import Dependencies, EndpointAnswer, register_endpoint
from services.notifications.service import events

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
    endpoint_counts: dict[str, int] = field(default_factory=dict)  # per buyer

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

    async def endpoints_of(self, connection: Any, buyer_id: str) -> int:
        return self.endpoint_counts.get(buyer_id, 0)

    async def find_message(self, connection: Any, message: str) -> MessageFound | None:
        found = self.messages.get(message)
        if found is None:
            return None
        return MessageFound(
            message, found["endpoint_id"], found["buyer_id"], found.get("purged", False)
        )

    async def redeliver(self, connection: Any, message: str, now: datetime) -> None:
        self.redelivered.append(message)
        self.messages[message]["status"] = "pending"

    async def recover(
        self, connection: Any, endpoint_id: str, since: datetime, now: datetime
    ) -> int:
        self.recovered.append((endpoint_id, since))
        return 3

    async def endpoint(self, connection: Any, endpoint_id: str) -> Mapping[str, Any] | None:
        return None  # no read model here

    async def message(self, connection: Any, message: str) -> Mapping[str, Any] | None:
        return {"message_id": message, **self.messages[message]}


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore(events(), public=CONTRACT)


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


def registration(**overrides: Any) -> RegisterEndpoint:
    values: dict[str, Any] = {
        "endpoint_id": ENDPOINT,
        "buyer_id": "brand-a",
        "url": "https://hooks.example/bw",
        "event_types": ("AssessmentCompleted", "SharingRevoked"),
        "by": "user-1",
    }
    return RegisterEndpoint(**{**values, **overrides})


async def given_registered(deps: Dependencies) -> str:
    """Registers ENDPOINT for brand-a; its secret."""
    answer: EndpointAnswer = (await register_endpoint(registration(), deps)).answer
    assert answer.secret is not None
    return answer.secret.value


def names(events: list[DomainEvent]) -> list[str]:
    return [type(event).__name__ for event in events]
