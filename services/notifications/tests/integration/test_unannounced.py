"""Issue 22, finding 3: nothing of an unannounced assessment reaches a buyer. `AssessmentScheduled`
cannot be subscribed to (422 `unknown-event-types`, the known types listed without it), an
endpoint that had it before stops receiving it, and what a buyer sees of an event (the webhook
body, the message log) carries none of the producer's internal stream positions (`streamid`,
`streamversion`). Real PostgreSQL and NATS, a receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from services.notifications.adapters.secretbox import DEV_KEY, SecretBox
from services.notifications.domain import endpoint as ep
from services.notifications.domain import signing
from services.notifications.tests.integration.conftest import Running
from services.notifications.tests.receiver import Receiver

pytestmark = pytest.mark.timeout(60)

INTERNAL = {"streamid", "streamversion"}


async def endpoint_count(service: Running) -> Any:
    return await service.scalar("SELECT count(*) FROM {S}.endpoint")


async def test_no_endpoint_can_subscribe_to_a_scheduled_assessment(service: Running) -> None:
    a = service.buyer("brand-a")
    refused = await service.client.post(
        "/v1/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/a", "event_types": ["AssessmentScheduled"]},
        headers=a,
    )
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/unknown-event-types")
    assert problem["unknown"] == ["AssessmentScheduled"]
    assert "AssessmentScheduled" not in problem["known"]
    assert "AssessmentCompleted" in problem["known"]
    assert "ConsentWatermark" not in problem["known"]
    assert await endpoint_count(service) == 0

    endpoint = await service.register("brand-a", "http://127.0.0.1:9/a")
    path = f"/v1/webhook-endpoints/{endpoint['endpoint_id']}"
    changed = await service.client.patch(
        path, json={"event_types": ["AssessmentCompleted", "AssessmentScheduled"]}, headers=a
    )
    assert changed.status_code == 422, changed.text
    unchanged = await service.client.get(path, headers=a)
    assert unchanged.json()["event_types"] == ["AssessmentCompleted"]
    assert unchanged.json()["version"] == 1


async def an_endpoint_registered_before_the_rule(service: Running, url: str) -> str:
    """An endpoint whose history says it asked for AssessmentScheduled (registered when that was
    allowed), written as its registration was then: the event, the read model, the secret."""
    endpoint_id, secret = "ep_legacy", signing.new_secret()
    deps = service.assembled.deps
    async with deps.store.unit_of_work() as unit:
        await deps.endpoints.execute(
            endpoint_id,
            lambda state: ep.register(
                state,
                endpoint_id=endpoint_id,
                buyer_id="brand-a",
                url=url,
                event_types=("AssessmentScheduled", "AssessmentCompleted"),
                factory_ids=None,
                description="",
                secret_id="sec_legacy",
                secret_fingerprint=signing.fingerprint(secret),
                by="user-1",
                at=deps.clock(),
            ),
            unit=unit,
        )
        await deps.tables.keep_secret(
            unit.connection,
            endpoint_id,
            "sec_legacy",
            SecretBox([DEV_KEY]).seal(secret),
            signing.fingerprint(secret),
            deps.clock(),
        )
    return endpoint_id


async def test_an_endpoint_that_had_it_receives_no_scheduled_assessment(service: Running) -> None:
    async with Receiver() as receiver:
        endpoint_id = await an_endpoint_registered_before_the_rule(service, receiver.url())
        await service.granted("fac-1", "brand-a")
        scheduled = service.upstream.scheduled("fac-1")
        completed = service.upstream.completed("fac-1")
        await service.publish(scheduled)
        await service.publish(completed)
        await receiver.wait_for(lambda: len(receiver.requests) >= 1)
        await asyncio.sleep(0.5)
        assert [json.loads(r.body)["type"] for r in receiver.requests] == [completed.type]
        assert (
            await service.scalar(
                "SELECT count(*) FROM {S}.message WHERE event_type = 'AssessmentScheduled'"
            )
            == 0
        )
        shown = await service.client.get(
            f"/v1/webhook-endpoints/{endpoint_id}", headers=service.buyer("brand-a")
        )
        assert shown.json()["event_types"] == ["AssessmentCompleted"]


async def test_buyers_see_no_internal_stream_positions(service: Running) -> None:
    async with Receiver() as receiver:
        await service.register("brand-a", receiver.url())
        await service.granted("fac-1", "brand-a")
        completed = service.upstream.completed("fac-1")
        await service.publish(completed)
        await receiver.wait_for(lambda: len(receiver.requests) == 1)
        body = json.loads(receiver.requests[0].body)
        assert not INTERNAL & set(body), body
        assert body["id"] == completed.id and body["data"] == completed.data
        assert body["subject"] == "fac-1" and body["time"]
        message_id = receiver.requests[0].headers["webhook-id"]
        logged = await service.client.get(
            f"/v1/messages/{message_id}", headers=service.buyer("brand-a")
        )
        assert logged.status_code == 200
        assert not INTERNAL & set(logged.json()["payload"])
        assert logged.json()["payload"] == body
