"""The REST API on real PostgreSQL and NATS: tenancy (another buyer's endpoint is a 404), bad
input as problem+json, URL refusals at registration, pages, and redelivery."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from services.notifications.tests.integration.conftest import Running
from services.notifications.tests.receiver import Receiver

pytestmark = pytest.mark.timeout(60)


async def test_a_buyer_sees_and_manages_only_its_own_endpoints(service: Running) -> None:
    mine = await service.register("brand-a", "http://127.0.0.1:9/a")
    theirs = await service.register("brand-b", "http://127.0.0.1:9/b")
    a = service.buyer("brand-a")
    listed = await service.client.get("/v1/webhook-endpoints", headers=a)
    assert [e["endpoint_id"] for e in listed.json()["items"]] == [mine["endpoint_id"]]
    assert "secret" not in listed.json()["items"][0]
    other = theirs["endpoint_id"]
    for method, path, body in [
        ("GET", f"/v1/webhook-endpoints/{other}", None),
        ("PATCH", f"/v1/webhook-endpoints/{other}", {"enabled": False}),
        ("DELETE", f"/v1/webhook-endpoints/{other}", None),
        ("POST", f"/v1/webhook-endpoints/{other}/rotate-secret", {}),
        ("POST", f"/v1/webhook-endpoints/{other}/test", None),
        ("GET", f"/v1/messages?endpoint_id={other}", None),
        ("GET", f"/v1/deliveries?endpoint_id={other}", None),
    ]:
        response = await service.client.request(method, path, json=body, headers=a)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    admin = await service.client.get("/v1/webhook-endpoints", headers=service.admin)
    assert len(admin.json()["items"]) == 2
    still = await service.client.get(
        f"/v1/webhook-endpoints/{other}", headers=service.buyer("brand-b")
    )
    assert still.json()["enabled"] is True


async def test_unknown_event_types_are_refused_with_the_known_ones(service: Running) -> None:
    response = await service.client.post(
        "/v1/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/a", "event_types": ["AssessmentCompleted", "Nope"]},
        headers=service.buyer("brand-a"),
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["unknown"] == ["Nope"]
    assert {
        "AssessmentCompleted",
        "NonComplianceFound",
        "ImprovementPlanUpdated",
        "RemediationVerified",
        "SharingRevoked",
    } <= set(problem["known"])


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/hook",
        "https://[fd00::1]/hook",
        "https://224.0.0.1/hook",
        "https://0.0.0.0/hook",
        "ftp://127.0.0.1/hook",
        "https://no-such-host.invalid/hook",
    ],
)
async def test_registration_refuses_urls_webhooks_may_not_reach(service: Running, url: str) -> None:
    response = await service.client.post(
        "/v1/webhook-endpoints",
        json={"url": url, "event_types": ["AssessmentCompleted"]},
        headers=service.buyer("brand-a"),
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_pages_and_redelivery(service: Running) -> None:
    async with Receiver() as receiver:
        endpoint = await service.register("brand-a", receiver.url())
        a = service.buyer("brand-a")
        for _ in range(3):
            sent = await service.client.post(
                f"/v1/webhook-endpoints/{endpoint['endpoint_id']}/test", headers=a
            )
            assert sent.status_code == 202
        await receiver.wait_for(lambda: len(receiver.requests) == 3)
        first = await service.client.get(
            "/v1/messages", params={"endpoint_id": endpoint["endpoint_id"], "limit": 2}, headers=a
        )
        second = await service.client.get(
            "/v1/messages",
            params={"endpoint_id": endpoint["endpoint_id"], "cursor": first.json()["next_cursor"]},
            headers=a,
        )
        ids = [m["message_id"] for m in first.json()["items"] + second.json()["items"]]
        assert len(set(ids)) == 3 and second.json()["next_cursor"] is None
        again = await service.client.post(
            "/v1/deliveries/redeliver", json={"message_id": ids[0]}, headers=a
        )
        assert again.status_code == 202, again.text
        await receiver.wait_for(lambda: len(receiver.requests) == 4)
        assert receiver.requests[3].headers["webhook-id"] == ids[0]
        assert len(receiver.effects) == 3  # de-duplicated on webhook-id
        bad = await service.client.get(
            "/v1/messages",
            params={"endpoint_id": endpoint["endpoint_id"], "cursor": "xx"},
            headers=a,
        )
        assert bad.status_code == 400


async def test_each_refusal_keeps_its_problem_type_and_status(service: Running) -> None:
    """The service's own errors keep their slugs; the library's bases give the rest, and a
    stale If-Match is `precondition-failed` with the current version."""
    a = service.buyer("brand-a")

    async def problem(
        method: str, url: str, body: Any = None, **headers: str
    ) -> tuple[int, str, dict[str, Any]]:
        response = await service.client.request(method, url, json=body, headers={**a, **headers})
        assert response.headers["content-type"] == "application/problem+json", response.text
        document: dict[str, Any] = response.json()
        return response.status_code, document["type"].rsplit("/", 1)[-1], document

    async with Receiver() as receiver:
        endpoint = await service.register("brand-a", receiver.url())
        path = f"/v1/webhook-endpoints/{endpoint['endpoint_id']}"
        sent = await service.client.post(f"{path}/test", headers=a)
        message_id = sent.json()["message_id"]
        await service.wait_until(
            "SELECT status FROM {S}.message WHERE message_id = :m", "succeeded", m=message_id
        )
    stale = await problem("PATCH", path, {"description": "x"}, **{"If-Match": '"7"'})
    assert (stale[0], stale[1], stale[2]["current_version"]) == (412, "precondition-failed", 1)
    unsafe = {"url": "ftp://127.0.0.1/", "event_types": ["AssessmentCompleted"]}
    assert (await problem("POST", "/v1/webhook-endpoints", unsafe))[:2] == (422, "unsafe-url")
    unknown = {"url": receiver.url(), "event_types": ["Nope"]}
    assert (await problem("POST", "/v1/webhook-endpoints", unknown))[:2] == (
        422,
        "unknown-event-types",
    )
    async with service.assembled.engine.begin() as connection:  # as the purge leaves it
        await connection.execute(text("UPDATE notifications.message SET payload = NULL"))
    redeliver = ("POST", "/v1/deliveries/redeliver", {"message_id": message_id})
    assert (await problem(*redeliver))[:2] == (410, "payload-expired")
    disabled = await service.client.patch(path, json={"enabled": False}, headers=a)
    assert disabled.status_code == 200, disabled.text
    assert (await problem("POST", f"{path}/test"))[:2] == (409, "endpoint-disabled")
    assert (await problem(*redeliver))[:2] == (409, "endpoint-disabled")
    deleted = await service.client.delete(path, headers=a)
    assert deleted.status_code == 204, deleted.text
    assert (await problem("DELETE", path))[:2] == (404, "not-found")
    assert (await problem(*redeliver))[:2] == (404, "not-found")
    for_nobody = {"url": receiver.url(), "event_types": ["AssessmentCompleted"]}
    admin = await service.client.post(
        "/v1/webhook-endpoints", json=for_nobody, headers=service.admin
    )
    assert admin.status_code == 422 and admin.json()["type"].endswith("/unprocessable-entity")
