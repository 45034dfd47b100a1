"""Finding 6a of issue 22: who decided an access request is never shown to the buyer, and for a
request the buyer made by OS ID neither is the reason (it can name the factory), on every read of
the request: one request, the list, and the decline published on the stream for its webhook."""

from __future__ import annotations

import asyncio
from typing import Any

from services.buyer_sharing.tests.integration.conftest import Service, Upstream
from services.buyer_sharing.tests.integration.stream import Message, messages

OS_ID = "KH2019257Q2JMGF"
REVEALING = "Sunrise Garments of Phnom Penh does not share with you"


async def asked(service: Service, body: dict[str, Any]) -> str:
    response = await service.client.post(
        "/v1/access-requests", json=body, headers=service.buyer("brand-a")
    )
    assert response.status_code == 202, response.text
    request_id: str = response.json()["request_id"]
    return request_id


async def declined(service: Service, request_id: str) -> None:
    response = await service.client.post(
        f"/v1/access-requests/{request_id}/decline",
        json={"reason": REVEALING},
        headers=service.factory("f1"),
    )
    assert response.status_code == 200, response.text


async def the_buyers_views(service: Service, request_id: str) -> list[dict[str, Any]]:
    """The request as the buyer reads it: alone, and in its list."""
    headers = service.buyer("brand-a")
    one = await service.client.get(f"/v1/access-requests/{request_id}", headers=headers)
    assert one.status_code == 200
    listed = await service.client.get("/v1/access-requests", headers=headers)
    (in_list,) = [row for row in listed.json()["items"] if row["request_id"] == request_id]
    views: list[dict[str, Any]] = [one.json(), in_list]
    return views


async def published(service: Service, event_name: str) -> list[Message]:
    prefix = service.settings.subject_prefix
    async with asyncio.timeout(15):
        while True:
            found = [
                m
                for m in await messages(service.assembled.runtime.nats, prefix)
                if m.event_name == event_name
            ]
            if found:
                return found
            await asyncio.sleep(0.1)


async def test_a_declined_request_by_os_id_shows_the_buyer_neither_who_nor_why(
    service: Service, upstream: Upstream
) -> None:
    await service.register_buyer("brand-a")
    await service.feed([upstream.factory("f1", os_id=OS_ID)])
    request_id = await asked(service, {"os_id": OS_ID})
    await declined(service, request_id)

    for view in await the_buyers_views(service, request_id):
        assert view["status"] == "declined"
        assert (view["decided_by"], view["decision_reason"], view["factory_id"]) == (
            None,
            None,
            None,
        ), view
        assert view["decided_at"] is not None
    # the factory it was addressed to keeps the whole record
    own = await service.client.get(
        f"/v1/access-requests/{request_id}", headers=service.factory("f1")
    )
    assert (own.json()["decided_by"], own.json()["decision_reason"]) == ("f1-manager", REVEALING)
    # and the decline the buyer's webhook gets names neither the factory nor the reason
    (decline,) = await published(service, "AccessDeclined")
    assert decline.document["data"]["os_id"] == OS_ID
    assert decline.document["data"]["factory_id"] is None
    # the request's own id is random hex and may hold "f1": what names a factory is the rest
    named = {key: value for key, value in decline.document["data"].items() if key != "request_id"}
    assert REVEALING not in str(decline.document) and "f1" not in str(named)


async def test_a_declined_request_by_factory_id_shows_why_but_not_who(service: Service) -> None:
    await service.register_buyer("brand-a")
    request_id = await asked(service, {"factory_id": "f1"})
    await declined(service, request_id)

    for view in await the_buyers_views(service, request_id):
        assert (view["decided_by"], view["decision_reason"]) == (None, REVEALING), view
    admin = await service.client.get(f"/v1/access-requests/{request_id}", headers=service.admin)
    assert admin.json()["decided_by"] == "f1-manager"


async def test_an_approved_request_by_os_id_does_not_show_the_buyer_who_approved(
    service: Service, upstream: Upstream
) -> None:
    await service.register_buyer("brand-a")
    await service.feed([upstream.factory("f1", os_id=OS_ID)])
    request_id = await asked(service, {"os_id": OS_ID})
    approved = await service.client.post(
        f"/v1/access-requests/{request_id}/approve",
        json={"reason": "welcome to Sunrise"},
        headers=service.factory("f1"),
    )
    assert approved.status_code == 200
    for view in await the_buyers_views(service, request_id):
        assert view["status"] == "approved"
        assert (view["decided_by"], view["decision_reason"]) == (None, None), view
