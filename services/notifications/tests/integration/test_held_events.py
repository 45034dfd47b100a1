"""Grants and factory events travel on different streams: an event consumed before the grant
that preceded it is held and released when the grant arrives (real PostgreSQL, NATS, and a
receiver on 127.0.0.1); held events past their window are dropped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from libs.domain.envelope import Envelope
from services.notifications.domain.messages import webhook_body
from services.notifications.scheduler import Dispatcher
from services.notifications.settings import NotificationsSettings
from services.notifications.tests.integration.conftest import Running, make_settings, running
from services.notifications.tests.receiver import Receiver

pytestmark = pytest.mark.timeout(60)

HELD = "SELECT count(*) FROM {S}.held_event"
DELIVERED = "SELECT count(*) FROM {S}.message WHERE status = 'succeeded' AND event_type = :t"


def _at(envelope: Envelope, when: datetime) -> Envelope:
    return envelope.model_copy(update={"time": when})


def _granted_at(service: Running, factory_id: str, buyer_id: str, when: datetime) -> Envelope:
    envelope = service.upstream.granted(factory_id, buyer_id)
    return envelope.model_copy(
        update={"data": {**envelope.data, "granted_at": when.isoformat()}, "time": when}
    )


async def test_grant_first_then_event_is_delivered_without_holding(service: Running) -> None:
    async with Receiver() as receiver:
        await service.register("brand-a", receiver.url())
        await service.granted("fac-1", "brand-a")
        event = service.upstream.completed("fac-1")
        await service.publish(event)
        await receiver.wait_for(lambda: len(receiver.requests) == 1)
        await service.wait_until(DELIVERED, 1, t="AssessmentCompleted")
        assert await service.scalar(HELD) == 0


async def test_event_first_then_its_earlier_grant_releases_it(service: Running) -> None:
    async with Receiver() as receiver:
        await service.register("brand-a", receiver.url())
        await service.register("brand-late", receiver.url("/late"))
        now = datetime.now(UTC)
        # brand-a was granted before the event happened; brand-late only after it
        grant = _granted_at(service, "fac-1", "brand-a", now - timedelta(seconds=5))
        late_grant = _granted_at(service, "fac-1", "brand-late", now + timedelta(seconds=5))
        event = _at(service.upstream.completed("fac-1"), now)
        await service.publish(event)
        await service.wait_until(HELD, 1)
        await asyncio.sleep(0.3)
        assert receiver.requests == []  # held: no grant known yet
        assert await service.scalar("SELECT count(*) FROM {S}.message") == 0
        await service.publish(grant, late_grant)
        await receiver.wait_for(lambda: any(r.path == "/hook" for r in receiver.requests))
        await service.wait_until(DELIVERED, 1, t="AssessmentCompleted")
        await service.wait_until("SELECT count(*) FROM {S}.grant_event", 2)
        await asyncio.sleep(0.5)
        completed = [r for r in receiver.requests if b"AssessmentCompleted" in r.body]
        assert [r.path for r in completed] == ["/hook"]  # not the buyer granted afterwards
        assert completed[0].body == webhook_body(event)
        # released once: a redelivered grant queues nothing new
        await service.publish(grant)
        await asyncio.sleep(0.5)
        assert (
            await service.scalar(
                "SELECT count(*) FROM {S}.message WHERE event_type = 'AssessmentCompleted'"
            )
            == 1
        )


async def test_a_revocation_consumed_before_grant_and_event_still_wins(service: Running) -> None:
    async with Receiver() as receiver:
        await service.register("brand-a", receiver.url())
        now = datetime.now(UTC)
        grant = _granted_at(service, "fac-1", "brand-a", now - timedelta(seconds=10))
        revoke = service.upstream.revoked("fac-1", "brand-a")  # now: after the event
        event = _at(service.upstream.completed("fac-1"), now - timedelta(seconds=5))
        await service.publish(revoke)
        await service.wait_until("SELECT count(*) FROM {S}.grant_event", 1)
        await service.publish(event)
        await service.wait_until(HELD, 1)
        await service.publish(grant)
        # entitled when it happened, but no longer when it would be sent: cancelled, not sent
        await service.wait_until(
            "SELECT status FROM {S}.message WHERE event_type = 'AssessmentCompleted'",
            "cancelled",
        )
        assert not [r for r in receiver.requests if b"AssessmentCompleted" in r.body]


@pytest.fixture
async def short_hold(settings: NotificationsSettings) -> AsyncIterator[Running]:
    values = settings.model_dump(by_alias=False)
    async for service in running(make_settings(**{**values, "hold_seconds": 0.5})):
        yield service


async def test_held_events_expire_after_the_window(short_hold: Running) -> None:
    service = short_hold
    async with Receiver() as receiver:
        await service.register("brand-a", receiver.url())
        now = datetime.now(UTC)
        grant = _granted_at(service, "fac-1", "brand-a", now - timedelta(seconds=5))
        await service.publish(_at(service.upstream.completed("fac-1"), now))
        await service.wait_until(HELD, 1)
        await asyncio.sleep(0.8)  # past the window
        await service.publish(grant)
        await service.wait_until("SELECT count(*) FROM {S}.grant_event", 1)
        await asyncio.sleep(0.5)
        assert not [r for r in receiver.requests if b"AssessmentCompleted" in r.body]
        assert (
            await service.scalar(
                "SELECT count(*) FROM {S}.message WHERE event_type = 'AssessmentCompleted'"
            )
            == 0
        )
        await service.assembled.component(Dispatcher).purge_once()
        assert await service.scalar(HELD) == 0
