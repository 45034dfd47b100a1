"""`python -m services.advisory rebuild`: the read models rebuilt from the event history are the
ones the live projections wrote, row for row (the running totals of figures and survey results
too), whatever state they were in before."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import delete, update

from libs.servicekit.service import RebuildContext
from services.advisory.queries.figures import figures_version_now
from services.advisory.service import SERVICE
from services.advisory.tables import training_figure, training_session
from services.advisory.tests.integration.conftest import (
    MONDAY,
    THURSDAY,
    Service,
    attendee,
    poll,
    schedule,
    sign,
)


async def given_a_programme(service: Service) -> None:
    """Factories with cycles, a revised and a retired course, a revised survey, sessions in
    every state (one open, with forms before and after), and visits in every state."""
    await service.known(("f-1", "KH"), ("f-2", "KH"), ("f-3", "KH"))
    await service.publish(service.upstream.completed("f-1", 1, date(2024, 3, 1)))
    await poll(service.caught_up)
    admin, trainer = service.admin, service.trainer()
    course = (await service.client.get("/v1/courses/WRR", headers=admin)).json()
    details = {
        k: course[k] for k in ("title", "description", "audience_roles", "languages", "topics")
    }
    await service.client.put("/v1/courses/WRR", json={**details, "duration_days": 2}, headers=admin)
    await service.client.post("/v1/courses/NEGOTIATION/retirement", headers=admin)
    items = [{"item_id": "talk", "text": "Listened to?"}, {"item_id": "trust", "text": "Trust?"}]
    survey = await service.client.post(
        "/v1/surveys",
        json={"course_code": "SST", "title": "Relations", "items": items},
        headers=admin,
    )
    survey_id = survey.json()["survey_id"]
    await service.client.put(
        f"/v1/surveys/{survey_id}", json={"title": "Relations", "items": items[:1]}, headers=admin
    )
    delivered = (await schedule(service, "f-1", "f-2", survey_id=survey_id)).json()["session_id"]
    await sign(
        service,
        delivered,
        attendee("p-1", factory_id="f-1", name="Dara"),
        attendee("p-2", MONDAY, factory_id="f-1"),
        attendee("p-1", factory_id="f-2", role="manager", gender="male"),
    )
    for phase, scores in (("pre", (2, 3, 1)), ("post", (4, 3, 5))):
        forms = [
            {
                "participant_id": p,
                "factory_id": f,
                "phase": phase,
                "survey_version": 1,
                "answers": {"talk": score, "trust": score},
            }
            for (p, f), score in zip(
                (("p-1", "f-1"), ("p-2", "f-1"), ("p-1", "f-2")), scores, strict=True
            )
        ]
        answer = await service.client.post(
            f"/v1/training-sessions/{delivered}/survey-responses",
            json={"responses": forms},
            headers=trainer,
        )
        assert answer.status_code == 200, answer.text
    await service.client.post(f"/v1/training-sessions/{delivered}/delivery", headers=trainer)
    single = (
        await schedule(
            service,
            "f-3",
            course_code="OSH",
            start_date=MONDAY.isoformat(),
            end_date=THURSDAY.isoformat(),
        )
    ).json()["session_id"]
    await sign(service, single, attendee("p-7", MONDAY, THURSDAY, role="worker"))
    await service.client.post(f"/v1/training-sessions/{single}/delivery", headers=trainer)
    signed_only = (await schedule(service, "f-1")).json()["session_id"]
    await sign(service, signed_only, attendee("p-1", MONDAY))
    cancelled = (await schedule(service, "f-2")).json()["session_id"]
    await service.client.post(
        f"/v1/training-sessions/{cancelled}/cancellation", json={"reason": "Rain."}, headers=trainer
    )
    advisor = service.advisor()
    for status in ("completed", "cancelled", "planned"):
        visit = await service.client.post(
            "/v1/advisory-visits",
            json={"factory_id": "f-1", "planned_for": "2025-06-18", "purpose": "improvement_plan"},
            headers=advisor,
        )
        visit_id = visit.json()["visit_id"]
        if status == "completed":
            await service.client.post(
                f"/v1/advisory-visits/{visit_id}/completion",
                json={
                    "visited_on": "2025-06-18",
                    "duration_days": 1.5,
                    "notes": "Internal.",
                    "plan_item_ids": ["item-1"],
                },
                headers=advisor,
            )
        elif status == "cancelled":
            await service.client.post(
                f"/v1/advisory-visits/{visit_id}/cancellation",
                json={"reason": "Strike."},
                headers=advisor,
            )


async def rebuild(service: Service) -> Any:
    context = RebuildContext(
        service.settings, service.assembled.engine, SERVICE.events(), lambda *_: None
    )
    assert SERVICE.rebuild is not None
    return await SERVICE.rebuild(context)


async def test_rebuilt_read_models_equal_the_live_ones(service: Service) -> None:
    await given_a_programme(service)
    live = await service.rows()
    assert live["training_figure"] and live["survey_result"] and live["factory_cycle"]
    assert {row["status"] for row in live["training_session"]} == {
        "delivered",
        "scheduled",
        "cancelled",
    }
    async with service.assembled.engine.connect() as connection:
        version = await figures_version_now(connection)
    report = await rebuild(service)
    assert await service.rows() == live
    async with service.assembled.engine.connect() as connection:
        assert await figures_version_now(connection) == version + 1  # kept answers are stale
    assert report.events == (await service.history())[0]
    assert "training_figure" in report.summary()


async def test_a_rebuild_repairs_read_models_that_drifted(service: Service) -> None:
    await given_a_programme(service)
    live = await service.rows()
    async with service.assembled.engine.begin() as connection:
        await connection.execute(delete(training_session))
        await connection.execute(update(training_figure).values(participants=999))
    assert await service.rows() != live
    await rebuild(service)
    assert await service.rows() == live
