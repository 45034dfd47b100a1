"""Findings 6b and 6c of issue 22: the reliance statistics count no year after today, and a
reliance names a completed assessment of its factory, known from the assessment service's
`AssessmentCompleted`, or is refused with a 422 that changes nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from services.buyer_sharing.tests.integration.conftest import Service, Upstream
from services.buyer_sharing.tests.integration.stream import messages

PERIOD = {"period_start": "2025-06-02", "period_end": "2025-12-31"}


async def given_shared_factories(service: Service, upstream: Upstream) -> None:
    """f1 (a completed assessment f1-a1) shared with brand-a; f2 (f2-a1) shared with nobody."""
    await service.register_buyer("brand-a")
    events = [upstream.factory("f1"), upstream.factory("f2")]
    for factory_id in ("f1", "f2"):
        events += upstream.assessment(
            factory_id, f"{factory_id}-a1", 1, date(2025, 3, 1), [("Q1", True, False, "compliant")]
        )
    await service.feed(events)
    assert (await service.grant("f1", "brand-a")).status_code == 201


async def declare(service: Service, **body: Any) -> httpx.Response:
    return await service.client.post(
        "/v1/audit-reliance", json={**PERIOD, **body}, headers=service.buyer("brand-a")
    )


class TestAReliance:
    async def test_names_a_completed_assessment_of_its_factory(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_shared_factories(service, upstream)
        declared = await declare(service, factory_id="f1", assessment_id="f1-a1")
        assert declared.status_code == 201, declared.text
        assert declared.json()["assessment_id"] == "f1-a1"

    async def test_naming_an_unknown_or_another_factorys_assessment_is_a_422(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_shared_factories(service, upstream)
        before = await service.count_events()
        for body in (
            {"factory_id": "f1", "assessment_id": "no-such-assessment"},
            {"factory_id": "f1", "assessment_id": "f2-a1"},  # completed, of another factory
            {"factory_id": "f1"},  # none named
            {"factory_id": "f1", "assessment_id": None},
        ):
            refused = await declare(service, **body)
            assert refused.status_code == 422, (body, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
        assert await service.count_events() == before
        listed = await service.client.get("/v1/audit-reliance", headers=service.buyer("brand-a"))
        assert listed.json()["items"] == []
        on_stream = await messages(service.assembled.runtime.nats, service.settings.subject_prefix)
        assert "AuditRelianceDeclared" not in {m.event_name for m in on_stream}

    async def test_on_an_unshared_factory_is_a_404_whatever_it_names(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_shared_factories(service, upstream)
        for assessment_id in ("f2-a1", "no-such-assessment"):
            refused = await declare(service, factory_id="f2", assessment_id=assessment_id)
            assert refused.status_code == 404, refused.text


async def test_statistics_count_no_year_after_today_for_a_grant_with_a_far_end_date(
    service: Service, upstream: Upstream
) -> None:
    await service.register_buyer("brand-a")
    await service.feed(
        [
            upstream.factory("f1"),
            *upstream.assessment(
                "f1", "f1-a1", 1, date(2025, 3, 1), [("Q1", True, False, "compliant")]
            ),
        ]
    )
    # on 2 June 2025 (the service's clock), until the end of 2030, relied on until May 2027
    assert (await service.grant("f1", "brand-a", ends_on="2030-12-31")).status_code == 201
    declared = await declare(
        service, factory_id="f1", assessment_id="f1-a1", period_end="2027-05-31"
    )
    assert declared.status_code == 201, declared.text

    stats = (
        await service.client.get("/v1/audit-reliance/statistics", headers=service.admin)
    ).json()
    assert [(row["year"], row["buyers_participating"], row["audits_avoided"]) for row in stats] == [
        (2025, 1, 1)
    ]
    # a year later, that year counts too, and still none after it
    service.clock.now = service.clock.now.replace(year=2026)
    stats = (
        await service.client.get("/v1/audit-reliance/statistics", headers=service.admin)
    ).json()
    assert [row["year"] for row in stats] == [2025, 2026]
    future = await service.client.get(
        "/v1/audit-reliance/statistics?year=2028", headers=service.admin
    )
    assert future.status_code == 200 and future.json() == []
