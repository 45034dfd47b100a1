"""The problem documents clients see for each kind of domain error, now that the service's errors
stand on the shared bases (libs.domain.errors) and only its own are mapped in service.py: the
same statuses and type slugs as before, and a failed If-Match is `precondition-failed` with the
current version."""

from __future__ import annotations

import httpx

from services.buyer_sharing.tests.integration.conftest import Service

PROBLEMS = "https://betterwork.example/problems/"


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    document: dict[str, object] = response.json()
    assert (document["type"], document["status"]) == (PROBLEMS + slug, status)
    return document


async def test_an_unknown_buyer_is_not_found(service: Service) -> None:
    missing = await service.client.get("/v1/buyers/brand-x", headers=service.admin)
    problem(missing, 404, "not-found")


async def test_a_buyer_registered_twice_already_exists(service: Service) -> None:
    await service.register_buyer("brand-a")
    again = await service.client.post(
        "/v1/buyers",
        json={
            "buyer_id": "brand-a",
            "name": "Brand A",
            "country": "US",
            "contact_name": "Sourcing lead",
            "contact_email": "sourcing@brand-a.example",
        },
        headers=service.admin,
    )
    problem(again, 409, "already-exists")


async def test_a_request_approved_twice_is_already_decided(service: Service) -> None:
    await service.register_buyer("brand-a")
    asked = await service.client.post(
        "/v1/access-requests", json={"factory_id": "f1"}, headers=service.buyer("brand-a")
    )
    assert asked.status_code == 202, asked.text
    path = f"/v1/access-requests/{asked.json()['request_id']}/approve"
    first = await service.client.post(path, json={}, headers=service.factory("f1"))
    assert first.status_code == 200, first.text
    second = await service.client.post(path, json={}, headers=service.factory("f1"))
    problem(second, 409, "already-decided")


async def test_a_grant_ending_in_the_past_is_an_invalid_period(service: Service) -> None:
    await service.register_buyer("brand-a")
    refused = await service.grant("f1", "brand-a", ends_on="2024-12-31")
    problem(refused, 422, "invalid-period")


async def test_a_stale_if_match_is_a_failed_precondition_naming_the_current_version(
    service: Service,
) -> None:
    await service.register_buyer("brand-a")
    granted = await service.grant("f1", "brand-a")
    stale_etag = granted.headers["etag"]
    again = await service.grant("f1", "brand-a", reason="renewed")
    assert again.status_code == 201, again.text
    refused = await service.client.post(
        "/v1/sharing-grants/f1/brand-a/revoke",
        json={"reason": "ended"},
        headers={**service.factory("f1"), "If-Match": stale_etag},
    )
    document = problem(refused, 412, "precondition-failed")
    assert document["current_version"] == 2
