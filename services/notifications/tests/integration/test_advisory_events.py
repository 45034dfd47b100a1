"""Issue 18: the advisory service's public events (`TrainingSessionDelivered`,
`AdvisoryVisitCompleted`, stream ADVISORY) reach buyers as signed webhooks under the same consent
rules as every other factory event: a buyer the factory shares with receives both, signed (checked
with `standardwebhooks`) and as published; an unshared buyer nothing; after a revocation nothing;
an event consumed before its grant is held and released by it; nothing goes out on stale consent;
a redelivered event is delivered once. The events are built from advisory's own contract classes
(services/advisory/contract.py), with a field of a newer version besides. Real PostgreSQL and
NATS, a receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from libs.domain.contract import public_event_id
from libs.domain.envelope import DomainEvent, Envelope
from libs.events.nats import subject_for
from services.advisory.contract import (
    CONTRACT,
    AdvisoryVisitCompleted,
    ParticipantGroup,
    TrainingSessionDelivered,
)
from services.notifications.domain.messages import webhook_body
from services.notifications.settings import NotificationsSettings
from services.notifications.tests.integration.conftest import Running, make_settings, running
from services.notifications.tests.receiver import Receiver

pytestmark = pytest.mark.timeout(60)

ADVISORY_TYPES = ["TrainingSessionDelivered", "AdvisoryVisitCompleted"]
CONSUMED = "SELECT count(*) FROM {S}.inbox WHERE event_id IN (:a, :b)"
MESSAGES = "SELECT count(*) FROM {S}.message WHERE buyer_id = :b"


def advisory_envelope(event: DomainEvent, factory_id: str, stream_id: str) -> Envelope:
    """The envelope advisory's relay publishes, its data the whole public event plus a field a
    newer version might add (our narrow copy ignores it; the buyer gets it as published)."""
    public_type = CONTRACT.registry.type_of(event)
    return Envelope(
        id=public_event_id(str(uuid.uuid4()), public_type),
        source="/betterwork/advisory",
        type=public_type,
        subject=factory_id,
        time=datetime.now(UTC),
        data={**event.model_dump(mode="json"), "a_newer_field": {"kept": True}},
        correlationid=str(uuid.uuid4()),
        streamid=stream_id,
        streamversion=3,
    )


def session_delivered(factory_id: str) -> Envelope:
    session_id = f"ts-{uuid.uuid4().hex[:8]}"
    event = TrainingSessionDelivered(
        session_id=session_id,
        factory_id=factory_id,
        country="KH",
        course_code="SST",
        course_version=1,
        course_title="Supervisory Skills Training",
        open_session=False,
        start_date=date(2025, 5, 5),
        end_date=date(2025, 5, 8),
        training_days=4,
        language="km",
        plan_item_ids=("item-1",),
        participants=12,
        completions=10,
        groups=(
            ParticipantGroup(role="supervisor", gender="female", participants=8, completions=7),
            ParticipantGroup(role="supervisor", gender="male", participants=4, completions=3),
        ),
        delivered_on=date(2025, 5, 9),
    )
    return advisory_envelope(event, factory_id, f"factory-{factory_id}")


def visit_completed(factory_id: str) -> Envelope:
    visit_id = f"av-{uuid.uuid4().hex[:8]}"
    event = AdvisoryVisitCompleted(
        visit_id=visit_id,
        factory_id=factory_id,
        country="KH",
        visited_on=date(2025, 5, 12),
        duration_days=1.5,
        purpose="committee_support",
        plan_item_ids=("item-1",),
        committee_meeting_id=None,
    )
    return advisory_envelope(event, factory_id, f"advisory-visit-{visit_id}")


def received(receiver: Receiver, path: str) -> list[str]:
    return [json.loads(r.body)["id"] for r in receiver.requests if r.path == path]


async def publish_again(service: Running, envelope: Envelope) -> None:
    """The same document once more under another `Nats-Msg-Id`, so JetStream keeps it and the
    consumer gets it again (as after a crash between its commit and its ack)."""
    js = service.assembled.runtime.nats.jetstream()
    subject = subject_for(
        service.settings.subject_prefix, "advisory", envelope.event_name, envelope.schema_version
    )
    await js.publish(
        subject, envelope.to_json(), headers={"Nats-Msg-Id": str(uuid.uuid4())}, timeout=5
    )


async def test_a_shared_buyer_receives_both_events_signed_and_an_unshared_one_nothing(
    service: Running,
) -> None:
    async with Receiver() as receiver:
        shared = await service.register("brand-a", receiver.url("/a"), ADVISORY_TYPES)
        await service.register("brand-b", receiver.url("/b"), ADVISORY_TYPES)
        await service.granted("fac-1", "brand-a")
        training, visit = session_delivered("fac-1"), visit_completed("fac-1")
        await service.publish(training, visit)
        await receiver.wait_for(lambda: len(received(receiver, "/a")) == 2)
        await service.wait_until(CONSUMED, 2, a=training.id, b=visit.id)
        await asyncio.sleep(0.5)

        by_id = {json.loads(r.body)["id"]: r for r in receiver.requests if r.path == "/a"}
        for envelope, name in ((training, "TrainingSessionDelivered"), (visit, "AdvisoryVisit")):
            request = by_id[envelope.id]
            assert request.body == webhook_body(envelope)
            payload = Webhook(shared["secret"]).verify(request.body, request.headers)
            assert payload["type"].startswith(f"org.betterwork.advisory.{name}")
            assert payload["subject"] == "fac-1" and payload["data"]["factory_id"] == "fac-1"
            assert payload["data"]["a_newer_field"] == {"kept": True}
            assert "streamid" not in payload and "streamversion" not in payload
        assert received(receiver, "/b") == []
        assert await service.scalar(MESSAGES, b="brand-b") == 0


async def test_after_a_revocation_nothing_reaches_the_buyer(service: Running) -> None:
    async with Receiver() as receiver:
        await service.register("brand-a", receiver.url("/a"), ADVISORY_TYPES)
        await service.granted("fac-1", "brand-a")
        before = session_delivered("fac-1")
        await service.publish(before)
        await receiver.wait_for(lambda: received(receiver, "/a") == [before.id])

        await service.publish(service.upstream.revoked("fac-1", "brand-a"))
        await service.wait_until("SELECT count(*) FROM {S}.grant_event", 2)
        training, visit = session_delivered("fac-1"), visit_completed("fac-1")
        await service.publish(training, visit)
        await service.wait_until(CONSUMED, 2, a=training.id, b=visit.id)
        await asyncio.sleep(0.5)
        assert received(receiver, "/a") == [before.id]
        assert await service.scalar(MESSAGES, b="brand-a") == 1


async def test_an_event_consumed_before_its_grant_is_held_and_released(service: Running) -> None:
    async with Receiver() as receiver:
        await service.register("brand-a", receiver.url("/a"), ADVISORY_TYPES)
        granted = service.upstream.granted("fac-1", "brand-a")
        when = datetime.now(UTC) - timedelta(seconds=5)
        grant = granted.model_copy(
            update={"data": {**granted.data, "granted_at": when.isoformat()}, "time": when}
        )
        visit = visit_completed("fac-1")
        await service.publish(visit)
        await service.wait_until(
            "SELECT count(*) FROM {S}.held_event WHERE event_id = :e", 1, e=visit.id
        )
        assert receiver.requests == []
        await service.publish(grant)
        await receiver.wait_for(lambda: received(receiver, "/a") == [visit.id])


async def test_a_redelivered_event_is_delivered_once(service: Running) -> None:
    async with Receiver() as receiver:
        await service.register("brand-a", receiver.url("/a"), ADVISORY_TYPES)
        await service.granted("fac-1", "brand-a")
        training, after = session_delivered("fac-1"), visit_completed("fac-1")
        await service.publish(training)
        await receiver.wait_for(lambda: received(receiver, "/a") == [training.id])
        await publish_again(service, training)
        await service.publish(after)  # one lane in stream order: the repeat was consumed first
        await receiver.wait_for(lambda: after.id in received(receiver, "/a"))
        await asyncio.sleep(0.5)
        assert received(receiver, "/a") == [training.id, after.id]
        assert await service.scalar(MESSAGES, b="brand-a") == 2


@pytest.fixture
async def unwatched(settings: NotificationsSettings) -> AsyncIterator[Running]:
    """The service with a 1 s staleness bound and only the watermarks the test publishes."""
    values = settings.model_dump(by_alias=False)
    bounded = make_settings(**{**values, "consent_max_staleness_seconds": 1.0})
    async for service in running(bounded, watermarks=False):
        yield service


async def test_nothing_goes_out_on_stale_consent(unwatched: Running) -> None:
    service = unwatched
    async with Receiver() as receiver:
        await service.register("brand-a", receiver.url("/a"), ADVISORY_TYPES)
        await service.granted("fac-1", "brand-a")
        training, visit = session_delivered("fac-1"), visit_completed("fac-1")
        await service.publish(training, visit)
        waiting = "SELECT count(*) FROM {S}.message WHERE status = 'pending' AND attempts = 0"
        await service.wait_until(waiting, 2)
        await asyncio.sleep(0.5)
        assert receiver.requests == [], "no watermark: nothing about the factory is sent"
        await service.consent_current()
        await receiver.wait_for(lambda: len(received(receiver, "/a")) == 2)
        assert set(received(receiver, "/a")) == {training.id, visit.id}
