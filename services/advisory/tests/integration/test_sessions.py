"""A training session end to end on real PostgreSQL and NATS: the seeded catalogue, scheduling
at a factory learnt from the assessment service, a bulk sign-in sheet, survey forms before and
after, delivery, the public event per factory, the programme figures and the survey results."""

from __future__ import annotations

from typing import Any

from services.advisory.tests.integration.conftest import (
    MONDAY,
    THURSDAY,
    Service,
    attendee,
    schedule,
    sign,
)


def forms(
    phase: str, *scores: tuple[str, int, int], factory_id: str | None = None
) -> dict[str, Any]:
    return {
        "responses": [
            {
                "participant_id": participant,
                "phase": phase,
                "survey_version": 1,
                "answers": {"talk": talk, "trust": trust},
                **({"factory_id": factory_id} if factory_id else {}),
            }
            for participant, talk, trust in scores
        ]
    }


async def publish_survey(service: Service) -> str:
    response = await service.client.post(
        "/v1/surveys",
        json={
            "course_code": "SST",
            "title": "Worker-supervisor relations",
            "scale_points": 5,
            "items": [
                {"item_id": "talk", "text": "My supervisor listens to me."},
                {"item_id": "trust", "text": "I trust my supervisor."},
            ],
        },
        headers=service.admin,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["survey_id"])


async def test_the_catalogue_is_seeded_and_read_by_everyone(service: Service) -> None:
    response = await service.client.get("/v1/courses", headers=service.factory("f-1"))
    assert response.status_code == 200
    codes = [course["code"] for course in response.json()["items"]]
    assert codes == ["HR-INTRO", "NEGOTIATION", "OSH", "PICC", "SST", "WRR"]
    sst = await service.client.get("/v1/courses/SST", headers=service.trainer())
    assert sst.json()["duration_days"] == 4 and sst.headers["ETag"] == '"1"'


async def test_an_admin_revises_a_course_with_if_match(service: Service) -> None:
    course = (await service.client.get("/v1/courses/OSH", headers=service.admin)).json()
    details = {
        key: course[key]
        for key in (
            "title",
            "description",
            "audience_roles",
            "duration_days",
            "languages",
            "topics",
        )
    }
    revised = await service.client.put(
        "/v1/courses/OSH",
        json={**details, "duration_days": 3},
        headers={**service.admin, "If-Match": '"1"'},
    )
    assert revised.status_code == 200, revised.text
    assert (revised.json()["course_version"], revised.headers["ETag"]) == (2, '"2"')
    stale = await service.client.put(
        "/v1/courses/OSH", json=details, headers={**service.admin, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    refused = await service.client.put("/v1/courses/OSH", json=details, headers=service.trainer())
    assert refused.status_code == 403


async def test_a_session_delivered_with_a_sheet_and_surveys(service: Service) -> None:
    await service.known(("f-1", "KH"))
    survey_id = await publish_survey(service)
    created = await schedule(service, "f-1", survey_id=survey_id)
    assert created.status_code == 201, created.text
    session = created.json()
    assert (session["status"], session["trainer"], session["training_days"]) == (
        "scheduled",
        "trainer-1",
        4,
    )
    sheet = await sign(
        service,
        session["session_id"],
        attendee("p-1", name="Dara"),
        attendee("p-2", MONDAY, THURSDAY),
        attendee("p-3", role="worker", gender="male"),
    )
    assert sheet.status_code == 200, sheet.text
    assert (sheet.json()["participants"], sheet.json()["completions"]) == (3, 2)
    base = f"/v1/training-sessions/{session['session_id']}"
    pre = await service.client.post(
        f"{base}/survey-responses",
        json=forms("pre", ("p-1", 2, 2), ("p-2", 3, 2), ("p-3", 1, 2)),
        headers=service.trainer(),
    )
    assert pre.status_code == 200, pre.text
    post = await service.client.post(
        f"{base}/survey-responses",
        json=forms("post", ("p-1", 4, 4), ("p-2", 4, 3), ("p-3", 2, 2)),
        headers=service.trainer(),
    )
    assert post.status_code == 200, post.text
    delivered = await service.client.post(f"{base}/delivery", headers=service.trainer())
    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["status"] == "delivered"

    result = await service.client.get(f"{base}/survey-results", headers=service.factory("f-1"))
    assert result.json()["pairs"] == 3 and result.json()["mean_change"] == 1.1667
    assert result.json()["ci95_low"] < 1.1667 < result.json()["ci95_high"]
    results = await service.client.get(
        "/v1/surveys/results", params={"course_code": "SST"}, headers=service.trainer()
    )
    (row,) = results.json()["results"]
    assert (row["country"], row["year"], row["pairs"], row["mean_change"]) == (
        "KH",
        2025,
        3,
        1.1667,
    )

    (event,) = await service.published("TrainingSessionDelivered", 1)
    assert event["subject"] == "f-1"
    data = event["data"]
    assert (data["factory_id"], data["participants"], data["completions"]) == ("f-1", 3, 2)
    assert data["plan_item_ids"] == ["f-1-item-1"] and data["course_code"] == "SST"
    assert "Dara" not in str(event) and "p-1" not in str(event)

    figures = await service.client.get(
        "/v1/training-sessions/figures", params={"by": ["role", "gender"]}
    )
    assert figures.status_code == 200 and "max-age" in figures.headers["Cache-Control"]
    assert [
        (f["role"], f["gender"], f["participants"], f["completions"], f["cumulative_participants"])
        for f in figures.json()["figures"]
    ] == [("supervisor", "female", 2, 1, 2), ("worker", "male", 1, 1, 1)]


async def test_an_open_session_tells_each_factory_its_own_part(service: Service) -> None:
    await service.known(("f-1", "KH"), ("f-2", "KH"))
    created = await schedule(service, "f-1", "f-2")
    assert created.status_code == 201, created.text
    session_id = created.json()["session_id"]
    await sign(
        service,
        session_id,
        attendee("p-1", factory_id="f-1"),
        attendee("p-1", factory_id="f-2", name="Srey"),
        attendee("p-2", MONDAY, factory_id="f-2", role="worker"),
    )
    assert (
        await service.client.post(
            f"/v1/training-sessions/{session_id}/delivery", headers=service.trainer()
        )
    ).status_code == 200
    events = await service.published("TrainingSessionDelivered", 2)
    assert sorted((e["subject"], e["data"]["participants"]) for e in events) == [
        ("f-1", 1),
        ("f-2", 2),
    ]
    mine = (
        await service.client.get(
            f"/v1/training-sessions/{session_id}", headers=service.factory("f-2")
        )
    ).json()
    assert [part["factory_id"] for part in mine["factories"]] == ["f-2"]
    assert mine["participants"] == 2
    attendance = (
        await service.client.get(
            f"/v1/training-sessions/{session_id}/attendance", headers=service.factory("f-1")
        )
    ).json()
    assert [(a["factory_id"], a["participant_id"]) for a in attendance["items"]] == [("f-1", "p-1")]
    everyone = (
        await service.client.get(
            f"/v1/training-sessions/{session_id}/attendance",
            params={"limit": 2},
            headers=service.trainer("trainer-2"),
        )
    ).json()
    assert len(everyone["items"]) == 2 and everyone["next_cursor"]
    rest = (
        await service.client.get(
            f"/v1/training-sessions/{session_id}/attendance",
            params={"limit": 2, "cursor": everyone["next_cursor"]},
            headers=service.trainer(),
        )
    ).json()
    assert [a["participant_id"] for a in rest["items"]] == ["p-2"] and rest["next_cursor"] is None


async def test_sessions_are_listed_newest_first_in_cursor_pages(service: Service) -> None:
    await service.known(("f-1", "KH"))
    for week in range(3):
        start = MONDAY.replace(day=2 + 7 * week)
        created = await schedule(
            service,
            "f-1",
            start_date=start.isoformat(),
            end_date=start.replace(day=start.day + 3).isoformat(),
        )
        assert created.status_code == 201, created.text
    first = (
        await service.client.get(
            "/v1/training-sessions", params={"limit": 2}, headers=service.trainer()
        )
    ).json()
    second = (
        await service.client.get(
            "/v1/training-sessions",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=service.factory("f-1"),
        )
    ).json()
    starts = [s["start_date"] for s in first["items"] + second["items"]]
    assert starts == ["2025-06-16", "2025-06-09", "2025-06-02"]
    assert second["next_cursor"] is None
    bad = await service.client.get(
        "/v1/training-sessions", params={"cursor": "eyJ4IjoxfQ"}, headers=service.trainer()
    )
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"


async def test_rescheduling_before_attendance_with_if_match(service: Service) -> None:
    await service.known(("f-1", "KH"))
    session = (await schedule(service, "f-1")).json()
    base = f"/v1/training-sessions/{session['session_id']}"
    moved = await service.client.patch(
        base,
        json={"start_date": "2025-07-07", "end_date": "2025-07-10"},
        headers={**service.trainer(), "If-Match": '"1"'},
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["start_date"], moved.headers["ETag"]) == ("2025-07-07", '"2"')
    cancelled = await service.client.post(
        f"{base}/cancellation",
        json={"reason": "The factory closed for the holiday."},
        headers=service.trainer(),
    )
    assert cancelled.json()["status"] == "cancelled"
    assert THURSDAY.isoformat() == "2025-06-05"
