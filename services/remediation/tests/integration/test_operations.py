"""The operator endpoints for parked events, on a real consumer: a malformed upstream event is
parked, listed for admins only, and a replay that still fails leaves it parked."""

from __future__ import annotations

import pytest

from libs.events.nats import stream_name
from libs.servicekit.auth import Role
from services.remediation.tests.integration.conftest import Service, assessment_envelope, poll

pytestmark = pytest.mark.integration


async def test_a_malformed_event_is_parked_listed_for_admins_and_stays_parked_when_replay_fails(
    service: Service, subject_prefix: str
) -> None:
    runtime = service.runtime
    # an envelope whose data misses the fields this consumer needs
    broken = assessment_envelope(
        "NonComplianceFound", "factory-1", {"assessment_id": "a-1", "factory_id": "factory-1"}
    )
    await runtime.nats.ensure_stream(subject_prefix, "assessment")
    await runtime.nats.jetstream().publish(
        f"{subject_prefix}assessment.NonComplianceFound.v1",
        broken.to_json(),
        stream=stream_name(subject_prefix, "assessment"),
    )

    async def parked() -> list[dict[str, object]]:
        response = await service.client.get("/ops/dead-letters", headers=service.token(Role.ADMIN))
        assert response.status_code == 200
        letters: list[dict[str, object]] = response.json()
        return letters

    [letter] = await poll(parked)
    assert letter["event_id"] == broken.id
    assert "cannot decode" in str(letter["error"])

    for role in (Role.ASSESSOR, Role.FACTORY):
        denied = await service.client.get(
            "/ops/dead-letters", headers=service.token(role, factory_id="factory-1")
        )
        assert denied.status_code == 403

    replay = await service.client.post(
        f"/ops/dead-letters/{letter['id']}/replay", headers=service.token(Role.ADMIN)
    )
    assert replay.status_code == 409
    assert replay.headers["content-type"] == "application/problem+json"
    assert [item["id"] for item in await parked()] == [letter["id"]]

    missing = await service.client.post(
        "/ops/dead-letters/999999/replay", headers=service.token(Role.ADMIN)
    )
    assert missing.status_code == 404
