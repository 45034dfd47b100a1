"""Finding 1 of issue 22 (buyer sharing's part): one rule for what a buyer may read, applied on
every read a buyer makes here (portfolio, one factory, its reports, the CSV export, a report's
credential and its bundle): while a grant is in force it sees the factory; after a revocation,
or past the grant's end date, none of them returns anything of it."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import httpx
import pytest

from services.buyer_sharing.tests.integration.conftest import Service, Upstream
from services.buyer_sharing.tests.integration.credential_events import credential_issued

NC, OK = "non_compliant", "compliant"
PORTFOLIO = "/v1/buyers/brand-a/factories"


async def given_a_shared_factory_with_a_report(service: Service, upstream: Upstream) -> None:
    await service.register_buyer("brand-a")
    await service.feed(
        [
            upstream.factory("f1"),
            *upstream.assessment(
                "f1",
                "f1-a1",
                1,
                date(2025, 3, 1),
                [("Q1", True, False, NC), ("Q2", False, False, OK)],
            ),
            credential_issued(upstream, "f1", "f1-a1"),
        ]
    )
    assert (await service.grant("f1", "brand-a", ends_on="2025-06-30")).status_code == 201


async def what_the_buyer_reads(service: Service) -> dict[str, object]:
    """Each buyer-facing read of the factory: its status, and whether the factory is in it."""
    headers = service.buyer("brand-a")
    listed = await service.client.get(PORTFOLIO, headers=headers)
    one = await service.client.get(f"{PORTFOLIO}/f1", headers=headers)
    reports = await service.client.get(f"{PORTFOLIO}/f1/reports", headers=headers)
    exported = await service.client.get(f"{PORTFOLIO}.csv", headers=headers)
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    credential = await service.client.get(
        f"{PORTFOLIO}/f1/reports/f1-a1/credential", headers=headers
    )
    bundle = await service.client.get(
        f"{PORTFOLIO}/f1/reports/f1-a1/credential?format=bundle", headers=headers
    )
    return {
        "portfolio": [item["factory_id"] for item in listed.json()["items"]],
        "factory": one.status_code,
        "reports": (
            reports.status_code,
            [r["assessment_id"] for r in reports.json()] if reports.status_code == 200 else None,
        ),
        "csv": (exported.status_code, [row["factory_id"] for row in rows]),
        "credential": (credential.status_code, bundle.status_code),
        "f1 anywhere": "f1-a1"
        in listed.text + one.text + reports.text + exported.text + body(credential) + body(bundle),
    }


def body(response: httpx.Response) -> str:
    """What a response tells, less the request's own path a problem document echoes."""
    if response.headers["content-type"] != "application/problem+json":
        return response.text
    return json.dumps({k: v for k, v in response.json().items() if k != "instance"})


SHARED = {
    "portfolio": ["f1"],
    "factory": 200,
    "reports": (200, ["f1-a1"]),
    "csv": (200, ["f1"]),
    "credential": (200, 200),
    "f1 anywhere": True,
}
NOTHING = {
    "portfolio": [],
    "factory": 404,
    "reports": (404, None),
    "csv": (200, []),
    "credential": (404, 404),
    "f1 anywhere": False,
}


async def test_after_a_revocation_no_buyer_read_returns_the_factory(
    service: Service, upstream: Upstream
) -> None:
    await given_a_shared_factory_with_a_report(service, upstream)
    assert await what_the_buyer_reads(service) == SHARED

    revoked = await service.client.post(
        "/v1/sharing-grants/f1/brand-a/revoke",
        json={"reason": "contract ended"},
        headers=service.factory("f1"),
    )
    assert revoked.status_code == 200

    assert await what_the_buyer_reads(service) == NOTHING


@pytest.mark.parametrize(
    ("today", "expected"), [(date(2025, 6, 30), SHARED), (date(2025, 7, 1), NOTHING)]
)
async def test_past_its_end_date_a_grant_shows_nothing_on_any_read(
    service: Service, upstream: Upstream, today: date, expected: dict[str, object]
) -> None:
    await given_a_shared_factory_with_a_report(service, upstream)
    service.clock.now = service.clock.now.replace(month=today.month, day=today.day)
    assert await what_the_buyer_reads(service) == expected


async def test_a_grant_again_after_a_revocation_shows_the_factory_again(
    service: Service, upstream: Upstream
) -> None:
    await given_a_shared_factory_with_a_report(service, upstream)
    await service.client.post(
        "/v1/sharing-grants/f1/brand-a/revoke",
        json={"reason": "paused"},
        headers=service.factory("f1"),
    )
    assert (await service.grant("f1", "brand-a", ends_on="2025-06-30")).status_code == 201
    assert await what_the_buyer_reads(service) == SHARED


async def test_programme_statistics_are_never_a_buyers_read(
    service: Service, upstream: Upstream
) -> None:
    await given_a_shared_factory_with_a_report(service, upstream)
    statistics = await service.client.get(
        "/v1/audit-reliance/statistics", headers=service.buyer("brand-a")
    )
    assert statistics.status_code == 403
