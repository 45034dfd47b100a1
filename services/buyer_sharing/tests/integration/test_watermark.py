"""Finding 4 of issue 22 (the producer's side): the running service publishes the consent
watermark on its own stream after the grants and revocations committed before it, so a consumer
that applied the watermark knows the consent state as of its time (notifications checks it before
every delivery)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from libs.domain.envelope import Envelope
from services.buyer_sharing.contract import CONTRACT, ConsentWatermark
from services.buyer_sharing.service import SERVICE
from services.buyer_sharing.settings import BuyerSharingSettings
from services.buyer_sharing.tests.integration.conftest import Service
from services.buyer_sharing.tests.integration.stream import Message, messages
from tools.testkit import MovableClock

WATERMARK = "ConsentWatermark"
WAIT_SECONDS = 15.0


@pytest.fixture
async def quick(settings: BuyerSharingSettings) -> AsyncIterator[Service]:
    """The service with a watermark every 0.2 s (the default is 5)."""
    fast = settings.model_copy(update={"consent_watermark_seconds": 0.2})
    clock = MovableClock(datetime(2025, 6, 2, 9, 0, tzinfo=UTC))
    app = SERVICE.app(fast, clock=clock)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bs") as client:
            yield Service(app, client, fast, clock)


async def database_now(service: Service) -> datetime:
    async with service.assembled.engine.connect() as connection:
        now: datetime = await connection.scalar(text("SELECT clock_timestamp()"))
    return now


async def watermark_after(service: Service, event_name: str, committed_by: datetime) -> Message:
    """The watermark that stands after the last `event_name` on the stream and is as of a time
    after `committed_by`; fails, naming what the stream holds, if none comes."""
    prefix = service.settings.subject_prefix
    nats = service.assembled.runtime.nats
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while True:
        on_stream = await messages(nats, prefix)
        events = [m for m in on_stream if m.event_name == event_name]
        marks = [m for m in on_stream if m.event_name == WATERMARK]
        if events and marks:
            after = [
                mark
                for mark in marks
                if mark.sequence > events[-1].sequence
                and datetime.fromisoformat(mark.document["data"]["as_of"]) >= committed_by
            ]
            if after:
                return after[-1]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"no watermark after {event_name} committed by {committed_by.isoformat()}: "
                f"{[(m.sequence, m.event_name) for m in on_stream]}"
            )
        await asyncio.sleep(0.1)


async def test_a_watermark_follows_a_grant_and_a_revocation_on_the_stream(quick: Service) -> None:
    await quick.register_buyer("brand-a")
    assert (await quick.grant("f1", "brand-a")).status_code == 201
    granted_by = await database_now(quick)

    mark = await watermark_after(quick, "SharingGranted", granted_by)

    prefix = quick.settings.subject_prefix
    assert mark.subject == f"{prefix}buyer_sharing.ConsentWatermark.v1"
    document = mark.document
    assert document["specversion"] == "1.0"
    assert document["type"] == "org.betterwork.buyer_sharing.ConsentWatermark.v1"
    assert document["source"] == "/betterwork/buyer_sharing"
    assert document["datacontenttype"] == "application/json"
    as_of = datetime.fromisoformat(document["data"]["as_of"])
    assert as_of.utcoffset() is not None and as_of.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert datetime.fromisoformat(document["time"]) == as_of
    assert set(document["data"]) == {"as_of"}
    # it is about no factory and no buyer (the ids are random UUIDs, which may hold "f1")
    named = {key: value for key, value in document.items() if key not in ("id", "correlationid")}
    assert "f1" not in str(named) and "brand-a" not in str(named)
    # a consumer of this stream that does not read it decodes its envelope and passes over it
    envelope = Envelope.model_validate(document)
    decoded = CONTRACT.registry.decode(envelope)
    assert isinstance(decoded, ConsentWatermark) and decoded.as_of == as_of

    revoked = await quick.client.post(
        "/v1/sharing-grants/f1/brand-a/revoke",
        json={"reason": "ended"},
        headers=quick.factory("f1"),
    )
    assert revoked.status_code == 200
    revoked_by = await database_now(quick)
    later = await watermark_after(quick, "SharingRevoked", revoked_by)
    assert later.document["id"] != document["id"]
    assert datetime.fromisoformat(later.document["data"]["as_of"]) > as_of

    # one watermark kept on the stream (each replaces the last)
    on_stream = await messages(quick.assembled.runtime.nats, prefix)
    assert [m.event_name for m in on_stream].count(WATERMARK) == 1


def test_the_watermark_interval_is_a_setting_of_5_seconds_by_default(
    settings: BuyerSharingSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert SERVICE.watermark is not None
    assert SERVICE.watermark(settings).every == 5.0
    monkeypatch.setenv("BW_CONSENT_WATERMARK_SECONDS", "0.5")
    configured = BuyerSharingSettings(database_url=settings.database_url)
    watermark = SERVICE.watermark(configured)
    assert (watermark.subject, watermark.every) == ("buyer_sharing.ConsentWatermark.v1", 0.5)
