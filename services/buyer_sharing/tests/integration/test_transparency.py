"""The public transparency pages on the Better Factories Cambodia rules, at their edges, with
caching headers and the per-client rate limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
from asgi_lifespan import LifespanManager

from libs.domain.envelope import Envelope
from services.buyer_sharing.service import SERVICE
from services.buyer_sharing.settings import BuyerSharingSettings
from services.buyer_sharing.tests.integration.conftest import Service, Upstream

OK, NC = "compliant", "non_compliant"


def assessments(
    upstream: Upstream, factory_id: str, compliant_last: int, count: int = 3
) -> list[Envelope]:
    """`count` completed assessments, one a year up to 2024, ten questions each; the last has
    `compliant_last` compliant ones (the first question is a critical issue)."""
    events = [upstream.factory(factory_id)]
    for cycle in range(1, count + 1):
        compliant = 10 if cycle < count else compliant_last
        results = [(f"Q{n:02d}", n == 0, False, OK if n < compliant else NC) for n in range(10)]
        events += upstream.assessment(
            factory_id, f"{factory_id}-a{cycle}", cycle, date(2024 - count + cycle, 3, 1), results
        )
    return events


async def public(service: Service, path: str) -> httpx.Response:
    return await service.client.get(path)


async def test_a_factory_appears_with_its_second_completed_assessment(
    service: Service, upstream: Upstream
) -> None:
    await service.feed(assessments(upstream, "f1", 9, count=1))
    assert (await public(service, "/v1/transparency/factories")).json()["items"] == []
    await service.feed(
        upstream.assessment(
            "f1",
            "f1-a2",
            2,
            date(2025, 3, 1),
            [("Q00", True, False, NC), ("Q01", False, False, OK)],
        )
    )
    (entry,) = (await public(service, "/v1/transparency/factories")).json()["items"]
    assert (entry["factory_id"], entry["completed_assessments"]) == ("f1", 2)
    assert [(c["question_id"], c["compliant"]) for c in entry["critical_issues"]] == [
        ("Q00", False)
    ]


async def test_the_newest_report_replaces_the_older_and_carries_the_public_response(
    service: Service, upstream: Upstream
) -> None:
    await service.feed(
        [
            upstream.factory("f1"),
            *upstream.assessment("f1", "old", 1, date(2023, 3, 1), [("Q00", True, False, NC)]),
            *upstream.assessment("f1", "new", 2, date(2024, 3, 1), [("Q00", True, False, OK)]),
            upstream.finding_event(
                "FactoryResponded", "f1", "old", {"question_id": "Q00", "text": "old answer"}
            ),
        ]
    )
    (entry,) = (await public(service, "/v1/transparency/factories")).json()["items"]
    assert entry["report"]["assessment_id"] == "new"
    assert [(c["question_id"], c["compliant"]) for c in entry["critical_issues"]] == [("Q00", True)]
    assert entry["factory_responses"] == []  # the response was to the replaced report


async def test_the_low_compliance_list_needs_three_assessments_and_more_than_two_deviations(
    service: Service, upstream: Upstream
) -> None:
    events: list[Envelope] = []
    for factory_id in "abcdefghij":  # ten at 100 %
        events += assessments(upstream, factory_id, 10)
    events += assessments(upstream, "low3", 0, count=3)
    events += assessments(upstream, "low2", 0, count=2)
    await service.feed(events)
    listed = (await public(service, "/v1/transparency/low-compliance?country=KH&year=2024")).json()
    # both are 2.24 deviations below the mean of the twelve; low2 has only two assessments
    assert [(e["factory_id"], e["factories_in_country"]) for e in listed] == [("low3", 12)]


async def test_yearly_rates_per_cluster_and_compliance_point(
    service: Service, upstream: Upstream
) -> None:
    await service.feed(assessments(upstream, "f1", 6, count=1))  # 2024: 4 of 10 non-compliant
    body = (await public(service, "/v1/transparency/rates?year=2024&country=KH")).json()
    assert [(r["id"], r["rate"], r["assessments"]) for r in body["clusters"]] == [("OSH", 0.4, 1)]
    assert {r["id"] for r in body["compliance_points"]} == {"OSH-Q0"}
    empty = (await public(service, "/v1/transparency/rates?year=2023")).json()
    assert empty["clusters"] == []
    bad = await public(service, "/v1/transparency/rates?year=1999")
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


async def test_answers_are_cacheable(service: Service) -> None:
    first = await public(service, "/v1/transparency/factories")
    assert first.headers["Cache-Control"].startswith("public, max-age=")
    again = await service.client.get(
        "/v1/transparency/factories", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304 and again.content == b""
    other = await service.client.get(
        "/v1/transparency/factories", headers={"If-None-Match": '"other"'}
    )
    assert other.status_code == 200


@pytest.fixture
async def limited(settings: BuyerSharingSettings) -> AsyncIterator[httpx.AsyncClient]:
    strict = settings.model_copy(
        update={"transparency_burst": 3, "transparency_rate_per_second": 0.01}
    )
    app = SERVICE.app(strict)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bs") as client:
            yield client


async def test_a_client_over_its_rate_gets_a_429_with_retry_after(
    limited: httpx.AsyncClient,
) -> None:
    statuses = [(await limited.get("/v1/transparency/factories")).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = await limited.get("/v1/transparency/factories")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["Retry-After"]) >= 1
