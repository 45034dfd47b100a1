"""Issue 22, finding 1: the message log does not outlive consent. One rule says what a buyer may
read or send again of a factory's events: the factory's grant to that buyer is in force now. After
a revocation the messages of that factory are a 404 (a delivered one, and one the revocation
cancelled before it was ever sent), they are in no list, their attempts in no delivery log, and
they are neither redelivered nor recovered; the buyer's own messages (the revocation itself, a
test message) stay readable. Real PostgreSQL and NATS, a receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from services.notifications.settings import NotificationsSettings
from services.notifications.tests.integration.conftest import Running, make_settings, running
from services.notifications.tests.receiver import Answer, Receiver

pytestmark = pytest.mark.timeout(60)

FACTORY_EVENTS = ["AssessmentCompleted", "SharingRevoked"]


@pytest.fixture
async def slow_retries(settings: NotificationsSettings) -> AsyncIterator[Running]:
    """A first attempt, then a retry 1.5 s later: a revocation lands between them."""
    values = settings.model_dump(by_alias=False)
    async for service in running(make_settings(**{**values, "retry_schedule": "0,1.5"})):
        yield service


async def given_a_delivered_and_a_cancelled_message(
    service: Running, receiver: Receiver
) -> tuple[str, str, str]:
    """brand-a's endpoint got one AssessmentCompleted of fac-1; a second failed its first
    attempt and was cancelled by the revocation before its retry. The endpoint, the delivered
    message and the cancelled one."""
    endpoint = await service.register("brand-a", receiver.url(), FACTORY_EVENTS)
    await service.granted("fac-1", "brand-a")
    delivered = service.upstream.completed("fac-1")
    await service.publish(delivered)
    await receiver.wait_for(lambda: len(receiver.requests) == 1)
    receiver.answer = lambda _request: Answer(500)
    await service.publish(service.upstream.completed("fac-1"))
    await receiver.wait_for(lambda: len(receiver.requests) == 2)
    receiver.answer = lambda _request: Answer(200)
    await service.publish(service.upstream.revoked("fac-1", "brand-a"))
    await service.wait_until(
        "SELECT count(*) FROM {S}.message WHERE status = 'cancelled'", 1, timeout=10
    )
    first, second = [request.headers["webhook-id"] for request in receiver.requests[:2]]
    return endpoint["endpoint_id"], first, second


async def snapshot(service: Running) -> list[Any]:
    """The delivery state, to show that a refused request changed nothing."""
    async with service.assembled.engine.connect() as connection:
        messages = (
            await connection.execute(
                text(
                    "SELECT message_id, status, attempts, round_attempts, lease "
                    "FROM notifications.message ORDER BY message_id"
                )
            )
        ).all()
        attempts = await connection.scalar(text("SELECT count(*) FROM notifications.attempt"))
    return [list(messages), attempts]


async def test_after_a_revocation_the_buyer_reads_and_resends_nothing_of_the_factory(
    slow_retries: Running,
) -> None:
    service = slow_retries
    a = service.buyer("brand-a")
    async with Receiver() as receiver:
        endpoint, delivered, cancelled = await given_a_delivered_and_a_cancelled_message(
            service, receiver
        )
        await receiver.wait_for(lambda: len(receiver.requests) == 3)  # the revocation itself
        revocation = receiver.requests[2].headers["webhook-id"]
        await service.wait_until(
            "SELECT status FROM {S}.message WHERE message_id = :m", "succeeded", m=revocation
        )
        before = await snapshot(service)

        for message in (delivered, cancelled):
            got = await service.client.get(f"/v1/messages/{message}", headers=a)
            assert got.status_code == 404, (message, got.text)
            assert got.headers["content-type"] == "application/problem+json"
            log = await service.client.get(
                "/v1/deliveries", params={"message_id": message}, headers=a
            )
            assert log.status_code == 404, log.text
            again = await service.client.post(
                "/v1/deliveries/redeliver", json={"message_id": message}, headers=a
            )
            assert again.status_code == 404, again.text
        assert await snapshot(service) == before

        listed = await service.client.get(
            "/v1/messages", params={"endpoint_id": endpoint}, headers=a
        )
        assert listed.status_code == 200
        assert [m["message_id"] for m in listed.json()["items"]] == [revocation]
        attempts = await service.client.get(
            "/v1/deliveries", params={"endpoint_id": endpoint}, headers=a
        )
        assert {row["message_id"] for row in attempts.json()["items"]} == {revocation}
        own = await service.client.get(f"/v1/messages/{revocation}", headers=a)
        assert own.status_code == 200 and own.json()["payload"]["type"].endswith(
            "SharingRevoked.v1"
        )

        # a failed message of the factory is not recovered either
        async with service.assembled.engine.begin() as connection:
            await connection.execute(
                text("UPDATE notifications.message SET status = 'failed' WHERE message_id = :m"),
                {"m": delivered},
            )
        before = await snapshot(service)
        recovered = await service.client.post(
            "/v1/deliveries/recover",
            json={"endpoint_id": endpoint, "since": "2000-01-01T00:00:00Z"},
            headers=a,
        )
        assert recovered.status_code == 202, recovered.text
        assert recovered.json()["recovering"] == 0
        assert await snapshot(service) == before
        assert len(receiver.requests) == 3


async def test_the_messages_are_readable_again_once_the_factory_shares_again(
    slow_retries: Running,
) -> None:
    """The rule is the grant in force now, whatever happened before; an admin (programme staff,
    not a buyer) reads the whole log."""
    service = slow_retries
    async with Receiver() as receiver:
        _endpoint, delivered, cancelled = await given_a_delivered_and_a_cancelled_message(
            service, receiver
        )
        for message in (delivered, cancelled):
            by_admin = await service.client.get(f"/v1/messages/{message}", headers=service.admin)
            assert by_admin.status_code == 200, by_admin.text
        hidden = await service.client.get(
            f"/v1/messages/{delivered}", headers=service.buyer("brand-a")
        )
        assert hidden.status_code == 404
        await service.granted("fac-1", "brand-a")
        shown = await service.client.get(
            f"/v1/messages/{delivered}", headers=service.buyer("brand-a")
        )
        assert shown.status_code == 200, shown.text
        assert shown.json()["payload"]["data"]["factory_id"] == "fac-1"
