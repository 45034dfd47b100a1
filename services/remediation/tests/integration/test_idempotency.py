"""Idempotency keys on the remediation API: scoped by the caller, authorized before any replay."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from libs.servicekit.auth import Role, mint_token
from services.remediation.tests.integration.conftest import Service

pytestmark = pytest.mark.integration

MEMBERS = {
    "members": [
        {"name": "Sokha Chan", "side": "management"},
        {"name": "Dara Kim", "side": "worker"},
    ]
}


async def committee_events(service: Service, factory_id: str) -> int:
    async with service.deps.store.engine.connect() as connection:
        count = await connection.scalar(
            text("SELECT count(*) FROM remediation.event WHERE stream_id LIKE :stream"),
            {"stream": f"%{factory_id}%"},
        )
    return int(count or 0)


async def test_another_tenant_with_the_same_key_gets_its_own_refusal(service: Service) -> None:
    """Found live: factory B's token with factory A's key got A's committee, members included."""
    key = {"Idempotency-Key": "committee-K"}
    path = "/v1/committees/A/members"
    own = await service.client.put(
        path, json=MEMBERS, headers={**service.token(Role.FACTORY, "A"), **key}
    )
    assert own.status_code == 200, own.text
    events_of_a = await committee_events(service, "A")
    assert events_of_a > 0

    # The same subject ("user") and key, but another factory, a buyer and no key at all.
    other_factory = await service.client.put(
        path, json=MEMBERS, headers={**service.token(Role.FACTORY, "B"), **key}
    )
    other_without_key = await service.client.put(
        path, json=MEMBERS, headers=service.token(Role.FACTORY, "B")
    )
    buyer = {
        "Authorization": "Bearer "
        + mint_token(service.settings.jwt_secret, "user", Role.BUYER, buyer_id="brand-1")
    }
    buyer_with_key = await service.client.put(path, json=MEMBERS, headers={**buyer, **key})
    buyer_without_key = await service.client.put(path, json=MEMBERS, headers=buyer)

    assert other_factory.status_code == other_without_key.status_code == 404
    assert buyer_with_key.status_code == buyer_without_key.status_code == 403
    for refused in (other_factory, buyer_with_key):
        assert "idempotent-replayed" not in refused.headers
        assert "Sokha" not in refused.text
        assert refused.headers["content-type"] == "application/problem+json"

    replay = await service.client.put(
        path, json=MEMBERS, headers={**service.token(Role.FACTORY, "A"), **key}
    )
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == own.json()
    assert await committee_events(service, "A") == events_of_a
    assert await committee_events(service, "B") == 0
