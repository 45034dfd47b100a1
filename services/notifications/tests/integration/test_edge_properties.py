"""Issue 22, finding 5: bad input is a 4xx by construction, never a 500, and changes nothing. The
five values that were server errors here (a messages cursor at year 1 with an offset, a recovery
since year 1, webhook URLs with an empty or a 64-character label), the attempt log's cursor as
the 64-bit position it is, and Hypothesis sending every cursor of this service, every time and
every URL field hostile values. Real PostgreSQL and NATS; names resolve through a fake DNS."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import strategies as st

from libs.servicekit.http import encode_cursor
from services.notifications.settings import NotificationsSettings
from services.notifications.tests.integration.conftest import Running, running
from services.notifications.tests.integration.properties import URLS
from services.notifications.tests.receiver import Receiver
from tools.hostile import ANY_DATE, ANY_VALUE, JSON_CONTENT, cursors, for_all, json_body

pytestmark = pytest.mark.timeout(180)

YEAR_ONE = "0001-01-01T00:00:00+01:00"


async def fake_dns(host: str, _port: int) -> list[str]:
    """Address literals as they are; `localhost` on loopback (allowed in the tests); any other
    name on a private address (refused). A name is IDNA-encoded first, as the system's
    `getaddrinfo` does (where an empty or over-long label raised through to a 500)."""
    host.encode("idna")
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return ["127.0.0.1"] if host == "localhost" else ["10.0.0.7"]
    return [host]


@pytest.fixture
async def edge(settings: NotificationsSettings) -> AsyncIterator[Running]:
    async for service in running(settings, resolver=fake_dns):
        yield service


def assert_problem(response: httpx.Response, *statuses: int, sent: Any = None) -> None:
    assert response.status_code in statuses, (sent, response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json", (sent, response.text)


async def state(service: Running) -> list[Any]:
    """Everything a refused request could have changed."""
    return [
        await service.scalar("SELECT count(*) FROM {S}.event"),
        await service.scalar("SELECT count(*) FROM {S}.endpoint"),
        await service.scalar(
            "SELECT coalesce(string_agg(message_id || status || lease::text, ',' "
            "ORDER BY message_id), '') "
            "FROM {S}.message"
        ),
    ]


async def given_a_delivered_test_message(service: Running) -> str:
    """brand-a's endpoint with one message, delivered (nothing more is due)."""
    async with Receiver() as receiver:
        endpoint = await service.register("brand-a", receiver.url())
        sent = await service.client.post(
            f"/v1/webhook-endpoints/{endpoint['endpoint_id']}/test",
            headers=service.buyer("brand-a"),
        )
        assert sent.status_code == 202
        await service.wait_until("SELECT count(*) FROM {S}.message WHERE status = 'succeeded'", 1)
    return str(endpoint["endpoint_id"])


async def test_the_values_that_were_server_errors_are_4xx_and_change_nothing(
    edge: Running,
) -> None:
    service = edge
    a = service.buyer("brand-a")
    endpoint = await given_a_delivered_test_message(service)
    before = await state(service)

    year_one = encode_cursor({"at": YEAR_ONE, "id": "msg_x"})
    listed = await service.client.get(
        "/v1/messages", params={"endpoint_id": endpoint, "cursor": year_one}, headers=a
    )
    assert_problem(listed, 400)

    recovered = await service.client.post(
        "/v1/deliveries/recover", json={"endpoint_id": endpoint, "since": YEAR_ONE}, headers=a
    )
    assert_problem(recovered, 422)

    for url in ("https://a..example/hook", f"https://{'a' * 64}.example/hook"):
        registered = await service.client.post(
            "/v1/webhook-endpoints",
            json={"url": url, "event_types": ["AssessmentCompleted"]},
            headers=a,
        )
        assert_problem(registered, 422, sent=url)
        assert registered.json()["type"].endswith("/invalid-url"), registered.text
        changed = await service.client.patch(
            f"/v1/webhook-endpoints/{endpoint}", json={"url": url}, headers=a
        )
        assert_problem(changed, 422, sent=url)
        assert changed.json()["type"].endswith("/invalid-url"), changed.text
    assert await state(service) == before

    # the attempt log's position is a bigint: past 2^31 it is a page, not a refusal
    beyond_32_bits = encode_cursor({"before": 3_000_000_000})
    page = await service.client.get(
        "/v1/deliveries", params={"endpoint_id": endpoint, "cursor": beyond_32_bits}, headers=a
    )
    assert page.status_code == 200, page.text
    assert len(page.json()["items"]) == 1
    past_64_bits = encode_cursor({"before": 2**63})
    assert_problem(
        await service.client.get(
            "/v1/deliveries", params={"endpoint_id": endpoint, "cursor": past_64_bits}, headers=a
        ),
        400,
    )


async def test_a_url_is_stored_with_its_host_in_ascii(edge: Running) -> None:
    created = await edge.register("brand-a", "http://LOCALHOST:8080/Hook?x=1")
    assert created["url"] == "http://localhost:8080/Hook?x=1"


async def test_every_cursor_is_a_page_or_a_4xx(edge: Running) -> None:
    service = edge
    endpoint = await given_a_delivered_test_message(service)
    lists: list[tuple[str, dict[str, Any], dict[str, st.SearchStrategy[Any]]]] = [
        ("/v1/webhook-endpoints", {}, {"endpoint_id": ANY_VALUE}),
        ("/v1/messages", {"endpoint_id": endpoint}, {"at": ANY_DATE, "id": ANY_VALUE}),
        ("/v1/deliveries", {"endpoint_id": endpoint}, {"before": ANY_VALUE}),
    ]
    for path, params, fields in lists:

        async def check(cursor: str, path: str = path, params: dict[str, Any] = params) -> None:
            response = await service.client.get(
                path, params={**params, "cursor": cursor}, headers=service.admin
            )
            if response.status_code != 200:
                assert_problem(response, 400, 422, sent=cursor)

        await for_all(cursors(fields), check, examples=120)


async def test_every_recovery_time_is_accepted_or_a_4xx_that_changes_nothing(
    edge: Running,
) -> None:
    service = edge
    endpoint = await given_a_delivered_test_message(service)
    before = await state(service)

    async def check(since: Any) -> None:
        response = await service.client.post(
            "/v1/deliveries/recover",
            content=json_body({"endpoint_id": endpoint, "since": since}),
            headers={**service.buyer("brand-a"), **JSON_CONTENT},
        )
        if response.status_code != 202:
            assert_problem(response, 422, sent=since)
            assert await state(service) == before

    await for_all(ANY_DATE, check, examples=120)


async def test_every_url_is_registered_or_a_4xx_that_changes_nothing(edge: Running) -> None:
    service = edge

    async def check(url: Any) -> None:
        buyer = f"brand-{uuid.uuid4().hex[:12]}"  # the per-buyer limit stays out of the way
        before = await state(service)
        response = await service.client.post(
            "/v1/webhook-endpoints",
            content=json_body({"url": url, "event_types": ["AssessmentCompleted"]}),
            headers={**service.buyer(buyer), **JSON_CONTENT},
        )
        if response.status_code != 201:
            assert_problem(response, 422, sent=url)
            assert await state(service) == before

    await for_all(URLS, check, examples=300)


async def test_every_url_change_is_applied_or_a_4xx_that_changes_nothing(edge: Running) -> None:
    service = edge
    endpoint = await service.register("brand-a", "http://127.0.0.1:9/hook")
    path = f"/v1/webhook-endpoints/{endpoint['endpoint_id']}"

    async def check(url: Any) -> None:
        before = await state(service)
        response = await service.client.patch(
            path,
            content=json_body({"url": url}),
            headers={**service.buyer("brand-a"), **JSON_CONTENT},
        )
        if response.status_code != 200:
            assert_problem(response, 422, sent=url)
            assert await state(service) == before

    await for_all(URLS, check, examples=200)
