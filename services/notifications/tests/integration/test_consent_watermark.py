"""Issue 22, finding 4 (notifications' side): consent is never stale at the moment of sending. The
consumer of buyer sharing's stream records the latest consent watermark after the grants and
revocations before it; a delivery of a factory's event goes out only while that watermark is at
most `BW_CONSENT_MAX_STALENESS_SECONDS` old, and otherwise waits (pending, no attempt made or
counted) until consent is current again, when the grant is checked anew. Here the test publishes
buyer sharing's watermarks itself; tests/test_consent_fail_closed.py has the real buyer sharing.
Real PostgreSQL and NATS, a receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.settings import NotificationsSettings
from services.notifications.tests.integration.conftest import Running, make_settings, running
from services.notifications.tests.receiver import Receiver

pytestmark = pytest.mark.timeout(60)

BOUND_SECONDS = 1.0
PENDING_UNTRIED = (
    "SELECT count(*) FROM {S}.message WHERE status = 'pending' AND attempts = 0 "
    "AND event_type = 'AssessmentCompleted'"
)


@pytest.fixture
async def unwatched(settings: NotificationsSettings) -> AsyncIterator[Running]:
    """The service with a 1 s staleness bound and no watermark but those the test publishes."""
    values = settings.model_dump(by_alias=False)
    bounded = make_settings(**{**values, "consent_max_staleness_seconds": BOUND_SECONDS})
    async for service in running(bounded, watermarks=False):
        yield service


async def watermark_age_gauge(service: Running) -> float:
    metrics = (await service.client.get("/metrics")).text
    [age] = [
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("bw_consent_watermark_age_seconds")
    ]
    return age


def ids(receiver: Receiver, path: str = "/hook") -> list[str]:
    return [json.loads(r.body)["id"] for r in receiver.requests if r.path == path]


async def test_without_a_watermark_nothing_about_a_factory_is_sent(unwatched: Running) -> None:
    service = unwatched
    async with Receiver() as receiver:
        endpoint = await service.register("brand-a", receiver.url())
        await service.granted("fac-1", "brand-a")
        event = service.upstream.completed("fac-1")
        await service.publish(event)
        await service.wait_until(PENDING_UNTRIED, 1)
        assert await watermark_age_gauge(service) == float("inf")
        # the buyer's own test message is no factory's data: it goes out
        test = await service.client.post(
            f"/v1/webhook-endpoints/{endpoint['endpoint_id']}/test",
            headers=service.buyer("brand-a"),
        )
        assert test.status_code == 202
        await receiver.wait_for(lambda: len(receiver.requests) == 1)
        await asyncio.sleep(0.5)
        assert ids(receiver) == [test.json()["message_id"]]
        assert await service.scalar(PENDING_UNTRIED) == 1
        assert await service.scalar("SELECT count(*) FROM {S}.attempt") == 1

        await service.consent_current()
        await receiver.wait_for(lambda: event.id in ids(receiver))
        # the consent watch looks every poll: its gauge follows
        for _ in range(100):
            if 0 <= await watermark_age_gauge(service) < 30:
                break
            await asyncio.sleep(0.05)
        assert 0 <= await watermark_age_gauge(service) < 30


async def test_a_stale_watermark_holds_deliveries_and_a_revocation_meanwhile_cancels_them(
    unwatched: Running,
) -> None:
    service = unwatched
    async with Receiver() as receiver:
        await service.register("brand-a", receiver.url("/a"))
        await service.register("brand-b", receiver.url("/b"))
        await service.granted("fac-1", "brand-a")
        await service.granted("fac-1", "brand-b")
        await service.consent_current()
        first = service.upstream.completed("fac-1")
        await service.publish(first)
        await receiver.wait_for(lambda: len(receiver.requests) == 2)

        await asyncio.sleep(BOUND_SECONDS + 0.2)  # the watermark is now older than the bound
        held = service.upstream.completed("fac-1")
        await service.publish(held)
        await service.wait_until(PENDING_UNTRIED, 2)
        await asyncio.sleep(0.5)
        assert len(receiver.requests) == 2, "nothing is sent on stale consent"
        assert await service.scalar(PENDING_UNTRIED) == 2, "held, not tried, not failed"

        # the revocation of brand-a, then a watermark after it: consent is current again
        await service.publish(service.upstream.revoked("fac-1", "brand-a"))
        await service.consent_current()
        await receiver.wait_for(lambda: held.id in ids(receiver, "/b"))
        await service.wait_until(
            "SELECT status FROM {S}.message WHERE buyer_id = 'brand-a' AND event_id = :e",
            "cancelled",
            e=held.id,
        )
        await asyncio.sleep(0.3)
        assert ids(receiver, "/a") == [first.id]


async def test_a_watermark_older_than_the_last_one_changes_nothing(unwatched: Running) -> None:
    """Watermarks can be redelivered out of order: the newest applied stays. Being idempotent by
    themselves, they keep no inbox row (the inbox would grow by one per watermark)."""
    service = unwatched
    now = datetime.now(UTC)
    await service.publish(service.upstream.watermark(now))
    await service.publish(service.upstream.watermark(now - timedelta(minutes=5)))
    # the stream is applied in order: once the grant after them is recorded, both were applied
    await service.granted("fac-1", "brand-a")
    assert await service.scalar("SELECT as_of FROM {S}.consent_watermark") == now
    assert await service.scalar("SELECT count(*) FROM {S}.inbox") == 1  # the grant's


async def test_a_parked_revocation_keeps_consent_stale(unwatched: Running) -> None:
    """A revocation that cannot be applied (parked in the dead letters) leaves the grants view
    incomplete: no later watermark makes it current until an operator replays it."""
    service = unwatched
    async with Receiver() as receiver:
        await service.register("brand-a", receiver.url())
        await service.granted("fac-1", "brand-a")
        revocation = service.upstream.revoked("fac-1", "brand-a")
        unreadable = revocation.model_copy(update={"data": {"factory_id": "fac-1"}})
        await service.publish(unreadable)
        await service.wait_until("SELECT count(*) FROM {S}.dead_letter", 1)
        await service.consent_current()
        await service.publish(service.upstream.completed("fac-1"))
        await service.wait_until(PENDING_UNTRIED, 1)
        await asyncio.sleep(1.0)
        assert receiver.requests == []
        assert await service.scalar(PENDING_UNTRIED) == 1
