"""Deliveries end to end on real PostgreSQL and NATS with a receiver on 127.0.0.1: signatures,
retries, 410, Retry-After, redirects, disabling after a whole schedule, grants, rotation, and a
hanging endpoint beside a healthy one."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from libs.events.nats import stream_name, subject_for
from services.notifications.domain.messages import webhook_body
from services.notifications.tests.integration.conftest import Running, make_settings, running
from services.notifications.tests.receiver import Answer, Receiver

pytestmark = pytest.mark.timeout(60)
T = TypeVar("T")


async def _eventually(fetch: Callable[[], Awaitable[T]], timeout: float = 10.0) -> T:
    """What `fetch` gives once it stops failing; past the deadline, its last error is raised
    (a missing message says what was missing, not only that time ran out)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            # one try may not outlast the deadline either (its timeout is then the last error)
            return await asyncio.wait_for(fetch(), timeout=max(deadline - loop.time(), 0.1))
        except Exception:
            if loop.time() >= deadline:
                raise
        await asyncio.sleep(0.1)


ONE_DELIVERY = "SELECT count(*) FROM {S}.message WHERE status = 'succeeded'"


async def test_a_delivery_is_the_published_document_signed_as_standard_webhooks_say(
    service: Running,
) -> None:
    async with Receiver() as receiver:
        endpoint = await service.register("brand-a", receiver.url())
        assert endpoint["secret"].startswith("whsec_")
        await service.granted("fac-1", "brand-a")
        event = service.upstream.completed("fac-1")
        await service.publish(event)
        await receiver.wait_for(lambda: len(receiver.requests) == 1)
        request = receiver.requests[0]
        assert request.body == webhook_body(event)
        payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
        assert payload["id"] == event.id and payload["type"].endswith("AssessmentCompleted.v2")
        # a wrong secret does not verify: the check can fail
        other = await service.register("brand-a", receiver.url("/other"))
        with pytest.raises(WebhookVerificationError):
            Webhook(other["secret"]).verify(request.body, request.headers)
        await service.wait_until(ONE_DELIVERY, 1)
        log = await service.client.get(
            "/v1/deliveries",
            params={"endpoint_id": endpoint["endpoint_id"]},
            headers=service.buyer("brand-a"),
        )
        [attempt] = log.json()["items"]
        assert attempt["status_code"] == 200 and attempt["succeeded"]
        assert attempt["message_id"] == request.headers["webhook-id"]


async def test_retries_until_the_receiver_recovers_with_one_webhook_id(service: Running) -> None:
    answers = iter([Answer(500), Answer(503), Answer(200)])
    async with Receiver(lambda _r: next(answers, Answer(200))) as receiver:
        endpoint = await service.register("brand-a", receiver.url())
        await service.granted("fac-1", "brand-a")
        await service.publish(service.upstream.completed("fac-1"))
        await receiver.wait_for(lambda: len(receiver.requests) == 3)
        assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
        await service.wait_until(ONE_DELIVERY, 1)
        message_id = receiver.requests[0].headers["webhook-id"]
        log = await service.client.get(
            "/v1/deliveries", params={"message_id": message_id}, headers=service.buyer("brand-a")
        )
        assert [a["status_code"] for a in log.json()["items"]] == [200, 503, 500]
        got = await service.client.get(
            f"/v1/messages/{message_id}", headers=service.buyer("brand-a")
        )
        assert got.json()["status"] == "succeeded" and got.json()["attempts"] == 3
        assert endpoint["endpoint_id"] == got.json()["endpoint_id"]


async def test_410_disables_the_endpoint_at_once_and_publishes_it(service: Running) -> None:
    async with Receiver(lambda _r: Answer(410)) as receiver:
        endpoint = await service.register("brand-a", receiver.url())
        await service.granted("fac-1", "brand-a")
        await service.publish(service.upstream.completed("fac-1"))
        await service.wait_until(
            "SELECT disabled_reason FROM {S}.endpoint WHERE endpoint_id = :e",
            "gone",
            e=endpoint["endpoint_id"],
        )
        assert len(receiver.requests) == 1  # no retry after a 410
        prefix = service.settings.subject_prefix
        js = service.assembled.runtime.nats.jetstream()
        published = await _eventually(
            lambda: js.get_last_msg(
                stream_name(prefix, "notifications"),
                subject_for(prefix, "notifications", "WebhookEndpointDisabled"),
            )
        )
        assert published.data is not None
        document = json.loads(published.data)
        assert document["data"] == {
            "endpoint_id": endpoint["endpoint_id"],
            "buyer_id": "brand-a",
            "reason": "gone",
            "disabled_at": document["data"]["disabled_at"],
        }
        await service.publish(service.upstream.completed("fac-1"))
        await asyncio.sleep(0.5)
        assert len(receiver.requests) == 1  # a disabled endpoint is not queued for


async def test_retry_after_is_honoured_on_429(service: Running) -> None:
    answers = iter([Answer(429, {"Retry-After": "1"})])
    async with Receiver(lambda _r: next(answers, Answer(200))) as receiver:
        await service.register("brand-a", receiver.url())
        await service.granted("fac-1", "brand-a")
        await service.publish(service.upstream.completed("fac-1"))
        await receiver.wait_for(lambda: len(receiver.requests) == 2)
        gap = receiver.requests[1].at - receiver.requests[0].at
        assert gap >= 0.95, gap  # the schedule alone would have retried after 0.2 s


async def test_redirects_are_failures_and_are_not_followed(service: Running) -> None:
    def answer(request: object) -> Answer:
        return Answer(302, {"Location": receiver.url("/elsewhere")})

    async with Receiver(answer) as receiver:
        await service.register("brand-a", receiver.url())
        await service.granted("fac-1", "brand-a")
        await service.publish(service.upstream.completed("fac-1"))
        await service.wait_until("SELECT count(*) FROM {S}.attempt", 4)  # the whole schedule
        assert {r.path for r in receiver.requests} == {"/hook"}
        error = await service.scalar("SELECT min(error) FROM {S}.attempt")
        assert "redirect" in error


async def test_an_endpoint_failing_for_the_whole_schedule_is_disabled(service: Running) -> None:
    async with Receiver(lambda _r: Answer(500)) as receiver:
        endpoint = await service.register("brand-a", receiver.url())
        await service.granted("fac-1", "brand-a")
        await service.publish(service.upstream.completed("fac-1"))
        await service.wait_until(
            "SELECT disabled_reason FROM {S}.endpoint WHERE endpoint_id = :e",
            "failing",
            e=endpoint["endpoint_id"],
        )
        assert len(receiver.requests) == 4
        assert await service.scalar("SELECT status FROM {S}.message") == "failed"
        got = await service.client.get(
            f"/v1/webhook-endpoints/{endpoint['endpoint_id']}", headers=service.buyer("brand-a")
        )
        assert got.json()["enabled"] is False
        # re-enabled and recovered, the failed message is delivered
        receiver.answer = lambda _r: Answer(200)
        enabled = await service.client.patch(
            f"/v1/webhook-endpoints/{endpoint['endpoint_id']}",
            json={"enabled": True},
            headers=service.buyer("brand-a"),
        )
        assert enabled.status_code == 200, enabled.text
        recovered = await service.client.post(
            "/v1/deliveries/recover",
            json={"endpoint_id": endpoint["endpoint_id"], "since": "2000-01-01T00:00:00Z"},
            headers=service.buyer("brand-a"),
        )
        assert recovered.json()["recovering"] == 1
        await service.wait_until(ONE_DELIVERY, 1)


async def test_without_a_grant_a_buyer_receives_nothing(service: Running) -> None:
    async with Receiver() as receiver:
        await service.register("brand-a", receiver.url())
        await service.register("brand-b", receiver.url("/b"))
        await service.granted("fac-1", "brand-b")
        await service.granted("fac-2", "brand-a")  # another factory
        await service.publish(service.upstream.completed("fac-1"))
        await receiver.wait_for(lambda: len(receiver.requests) == 1)
        await asyncio.sleep(0.5)
        assert [r.path for r in receiver.requests] == ["/b"]


async def test_nothing_arrives_after_a_revocation_not_even_a_message_queued_before(
    settings: object,
) -> None:
    # a slow schedule: the first attempt fails, the revocation lands before the retry
    slow = make_settings(**{**settings.model_dump(by_alias=False), "retry_schedule": "0,1.5"})  # type: ignore[attr-defined]
    async for service in running(slow):
        async with Receiver(lambda _r: Answer(500)) as receiver:
            await service.register("brand-a", receiver.url())
            await service.granted("fac-1", "brand-a")
            await service.publish(service.upstream.completed("fac-1"))
            await receiver.wait_for(lambda: len(receiver.requests) == 1)
            receiver.answer = lambda _r: Answer(200)
            await service.publish(service.upstream.revoked("fac-1", "brand-a"))
            await service.wait_until("SELECT count(*) FROM {S}.grant_event", 2)
            await service.wait_until(
                "SELECT status FROM {S}.message WHERE event_type = 'AssessmentCompleted'",
                "cancelled",
                timeout=5,
            )
            await service.publish(service.upstream.completed("fac-1"))
            await asyncio.sleep(1.0)
            assert len(receiver.requests) == 1
            assert await service.scalar("SELECT count(*) FROM {S}.message") == 1


async def test_during_a_rotation_both_secrets_verify(service: Running) -> None:
    async with Receiver() as receiver:
        endpoint = await service.register("brand-a", receiver.url())
        rotated = await service.client.post(
            f"/v1/webhook-endpoints/{endpoint['endpoint_id']}/rotate-secret",
            json={"overlap_seconds": 3600},
            headers=service.buyer("brand-a"),
        )
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secret"]
        assert new_secret != endpoint["secret"]
        await service.granted("fac-1", "brand-a")
        await service.publish(service.upstream.completed("fac-1"))
        await receiver.wait_for(lambda: len(receiver.requests) == 1)
        request = receiver.requests[0]
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        Webhook(endpoint["secret"]).verify(request.body, request.headers)
        Webhook(new_secret).verify(request.body, request.headers)
        # no overlap: only the newest secret signs
        again = await service.client.post(
            f"/v1/webhook-endpoints/{endpoint['endpoint_id']}/rotate-secret",
            json={"overlap_seconds": 0},
            headers=service.buyer("brand-a"),
        )
        newest = again.json()["secret"]
        await service.client.post(
            f"/v1/webhook-endpoints/{endpoint['endpoint_id']}/test",
            headers=service.buyer("brand-a"),
        )
        await receiver.wait_for(lambda: len(receiver.requests) == 2)
        last = receiver.requests[1]
        assert len(last.headers["webhook-signature"].split(" ")) == 1
        Webhook(newest).verify(last.body, last.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(new_secret).verify(last.body, last.headers)


async def test_a_hanging_endpoint_does_not_delay_a_healthy_one(service: Running) -> None:
    async with Receiver(lambda r: Answer(hang=r.path == "/hang")) as receiver:
        await service.register("brand-slow", receiver.url("/hang"))
        await service.register("brand-fast", receiver.url("/fast"))
        await service.granted("fac-1", "brand-slow")
        await service.granted("fac-1", "brand-fast")
        events = [service.upstream.completed("fac-1") for _ in range(20)]
        started = time.monotonic()
        await service.publish(*events)
        await receiver.wait_for(
            lambda: sum(r.path == "/fast" for r in receiver.requests) == 20, timeout=10
        )
        elapsed = time.monotonic() - started
        # the hanging endpoint holds its 4 slots for the whole 3 s timeout meanwhile
        assert elapsed < 2.0, elapsed
        hanging = sum(r.path == "/hang" for r in receiver.requests)
        assert 1 <= hanging <= 4
        bodies = {json.loads(r.body)["id"] for r in receiver.requests if r.path == "/fast"}
        assert bodies == {event.id for event in events}
