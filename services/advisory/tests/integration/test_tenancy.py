"""Who may see and do what: another factory's session or visit is a 404, as is one of another
country programme for a trainer or advisor (reads and writes alike); a buyer has no access to the
API; a trainer changes only their own sessions. Nothing a refused request touches changes."""

from __future__ import annotations

from libs.servicekit.auth import Role, mint_token
from services.advisory.tests.integration.conftest import Service, attendee, schedule, sign


async def given_session_and_visit(service: Service) -> tuple[str, str]:
    await service.known(("f-1", "KH"), ("f-2", "KH"), ("f-3", "VN"))
    session = await schedule(service, "f-1")
    visit = await service.client.post(
        "/v1/advisory-visits",
        json={"factory_id": "f-1", "planned_for": "2025-06-18", "purpose": "other"},
        headers=service.advisor(),
    )
    assert session.status_code == visit.status_code == 201
    return session.json()["session_id"], visit.json()["visit_id"]


async def test_another_factory_sees_neither_the_session_nor_the_visit(service: Service) -> None:
    session_id, visit_id = await given_session_and_visit(service)
    other = service.factory("f-2")
    for path in (
        f"/v1/training-sessions/{session_id}",
        f"/v1/training-sessions/{session_id}/attendance",
        f"/v1/training-sessions/{session_id}/survey-results",
        f"/v1/advisory-visits/{visit_id}",
    ):
        response = await service.client.get(path, headers=other)
        assert response.status_code == 404, path
    days = await service.client.get(
        "/v1/advisory-visits/days", params={"factory_id": "f-1"}, headers=other
    )
    assert days.status_code == 404
    listed = await service.client.get("/v1/training-sessions", headers=other)
    assert listed.json()["items"] == []
    asked = await service.client.get(
        "/v1/advisory-visits", params={"factory_id": "f-1"}, headers=other
    )
    assert asked.json()["items"] == []


async def test_staff_of_another_country_get_a_404_for_reads_and_writes(service: Service) -> None:
    session_id, visit_id = await given_session_and_visit(service)
    before = (await service.rows(), await service.history())
    vietnam = service.trainer("trainer-1", country="VN")
    assert (
        await service.client.get(f"/v1/training-sessions/{session_id}", headers=vietnam)
    ).status_code == 404
    signed = await service.client.post(
        f"/v1/training-sessions/{session_id}/attendance",
        json={"attendees": [attendee("p-1")]},
        headers=vietnam,
    )
    assert signed.status_code == 404
    completed = await service.client.post(
        f"/v1/advisory-visits/{visit_id}/completion",
        json={"visited_on": "2025-06-18", "duration_days": 1},
        headers=service.advisor("advisor-1", country="VN"),
    )
    assert completed.status_code == 404
    elsewhere = await schedule(service, "f-1", headers=vietnam)
    assert elsewhere.status_code == 404
    assert elsewhere.json()["type"].endswith("/factory-not-found")
    assert (await service.client.get("/v1/training-sessions", headers=vietnam)).json()[
        "items"
    ] == []
    assert (await service.rows(), await service.history()) == before


async def test_a_factory_in_another_country_is_not_schedulable(service: Service) -> None:
    await given_session_and_visit(service)
    mixed = await schedule(service, "f-1", "f-3", headers=service.admin, trainer="trainer-1")
    assert mixed.status_code == 422 and mixed.json()["type"].endswith("/invalid-session")
    cambodian = await schedule(service, "f-3")
    assert cambodian.status_code == 404


async def test_roles_that_may_not_write_get_a_403(service: Service) -> None:
    session_id, visit_id = await given_session_and_visit(service)
    before = (await service.rows(), await service.history())
    buyer = {
        "Authorization": "Bearer "
        + mint_token(service.settings.jwt_secret, "buyer-user", Role.BUYER, buyer_id="b-1")
    }
    for path in ("/v1/training-sessions", "/v1/advisory-visits", f"/v1/advisory-visits/{visit_id}"):
        assert (await service.client.get(path, headers=buyer)).status_code == 403, path
    assert (
        await sign(service, session_id, attendee("p-1"), **service.factory("f-1"))
    ).status_code == 403
    by_another = await sign(service, session_id, attendee("p-1"), **service.trainer("trainer-2"))
    assert by_another.status_code == 403
    assert by_another.json()["type"].endswith("/not-responsible")
    by_trainer = await service.client.post(
        f"/v1/advisory-visits/{visit_id}/cancellation",
        json={"reason": "no"},
        headers=service.trainer(),
    )
    assert by_trainer.status_code == 403
    unauthenticated = await service.client.get(f"/v1/training-sessions/{session_id}")
    assert unauthenticated.status_code == 401
    assert (await service.rows(), await service.history()) == before
