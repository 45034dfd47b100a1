"""Advisory visits on real PostgreSQL and NATS: planned by an advisor at a factory learnt from
the assessment service, completed with two plan items and a committee meeting, published without
the notes, and counted in advisory days per assessment cycle."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from services.advisory.tests.integration.conftest import Service, poll


async def plan(service: Service, factory_id: str = "f-1", **body: Any) -> httpx.Response:
    request = {
        "factory_id": factory_id,
        "planned_for": "2025-06-18",
        "purpose": "committee_support",
    }
    return await service.client.post(
        "/v1/advisory-visits", json={**request, **body}, headers=service.advisor()
    )


async def complete(service: Service, visit_id: str, **body: Any) -> httpx.Response:
    request = {
        "visited_on": "2025-06-18",
        "duration_days": 1.5,
        "notes": "The manager resisted the exit plan.",
        "plan_item_ids": ["item-1", "item-2"],
        "committee_meeting_id": "meeting-1",
    }
    return await service.client.post(
        f"/v1/advisory-visits/{visit_id}/completion",
        json={**request, **body},
        headers=service.advisor(),
    )


async def test_a_visit_linked_to_two_plan_items_is_published_without_notes(
    service: Service,
) -> None:
    await service.known(("f-1", "KH"))
    planned = await plan(service)
    assert planned.status_code == 201, planned.text
    visit_id = planned.json()["visit_id"]
    assert planned.json()["advisor"] == "advisor-1" and planned.headers["ETag"] == '"1"'
    completed = await complete(service, visit_id)
    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "completed" and completed.json()["duration_days"] == 1.5
    (event,) = await service.published("AdvisoryVisitCompleted", 1)
    assert event["subject"] == "f-1"
    assert event["data"]["plan_item_ids"] == ["item-1", "item-2"]
    assert event["data"]["committee_meeting_id"] == "meeting-1"
    assert "notes" not in event["data"] and "resisted" not in str(event)
    staff = await service.client.get(f"/v1/advisory-visits/{visit_id}", headers=service.trainer())
    assert staff.json()["notes"] == "The manager resisted the exit plan."
    own = await service.client.get(
        f"/v1/advisory-visits/{visit_id}", headers=service.factory("f-1")
    )
    assert own.status_code == 200 and own.json()["notes"] is None


async def test_advisory_days_per_assessment_cycle(service: Service) -> None:
    await service.known(("f-1", "KH"))
    await service.publish(
        service.upstream.completed("f-1", 1, date(2024, 3, 1)),
        service.upstream.completed("f-1", 2, date(2025, 3, 1)),
    )
    for visited_on, days in (("2024-05-02", 1.0), ("2024-11-20", 0.5), ("2025-04-10", 2.0)):
        visit_id = (await plan(service, planned_for=visited_on)).json()["visit_id"]
        response = await complete(service, visit_id, visited_on=visited_on, duration_days=days)
        assert response.status_code == 200, response.text
    cancelled_id = (await plan(service)).json()["visit_id"]
    cancelled = await service.client.post(
        f"/v1/advisory-visits/{cancelled_id}/cancellation",
        json={"reason": "Strike at the factory."},
        headers=service.advisor(),
    )
    assert cancelled.json()["status"] == "cancelled"

    async def cycles() -> list[dict[str, Any]] | None:
        answer = await service.client.get(
            "/v1/advisory-visits/days", params={"factory_id": "f-1"}, headers=service.factory("f-1")
        )
        found: list[dict[str, Any]] = answer.json()["cycles"]
        return found if len(found) == 2 else None

    assert await poll(cycles) == [
        {"cycle": 1, "report_date": "2024-03-01", "visits": 2, "days": 1.5},
        {"cycle": 2, "report_date": "2025-03-01", "visits": 1, "days": 2.0},
    ]
    listed = await service.client.get(
        "/v1/advisory-visits", params={"status": "completed", "limit": 2}, headers=service.advisor()
    )
    assert [v["visited_on"] for v in listed.json()["items"]] == ["2025-04-10", "2024-11-20"]
