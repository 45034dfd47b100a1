"""Bad input is a 4xx problem that changes nothing: over capacity, duplicate attendance, a
participant of another factory, dates out of range, an unknown course or factory, answers that do
not fit, each checked against every read model and the event store before and after."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from services.advisory.tests.integration.conftest import (
    MONDAY,
    THURSDAY,
    TODAY,
    Service,
    attendee,
    schedule,
)


@dataclass
class Given:
    session_id: str
    visit_id: str


async def given(service: Service) -> Given:
    """Factories f-1 and f-2 (Cambodia), a session at f-1 for 4 with p-1 signed for Monday and a
    survey, and a planned visit."""
    await service.known(("f-1", "KH"), ("f-2", "KH"))
    survey = await service.client.post(
        "/v1/surveys",
        json={
            "course_code": "SST",
            "title": "Relations",
            "items": [{"item_id": "talk", "text": "?"}],
        },
        headers=service.admin,
    )
    created = await schedule(service, "f-1", survey_id=survey.json()["survey_id"])
    session_id = created.json()["session_id"]
    signed = await service.client.post(
        f"/v1/training-sessions/{session_id}/attendance",
        json={"attendees": [attendee("p-1", MONDAY)]},
        headers=service.trainer(),
    )
    assert signed.status_code == 200, signed.text
    visit = await service.client.post(
        "/v1/advisory-visits",
        json={"factory_id": "f-1", "planned_for": "2025-06-18", "purpose": "other"},
        headers=service.advisor(),
    )
    return Given(session_id, visit.json()["visit_id"])


def sheet(*lines: dict[str, Any]) -> dict[str, Any]:
    return {"attendees": list(lines)}


CASES: list[tuple[str, str, str, Any, int, str]] = [
    # (name, method, path, body, status, problem type slug)
    (
        "over capacity",
        "POST",
        "{session}/attendance",
        sheet(*(attendee(f"p-{n}") for n in range(2, 6))),
        409,
        "over-capacity",
    ),
    (
        "a participant twice on a sheet",
        "POST",
        "{session}/attendance",
        sheet(attendee("p-2", MONDAY), attendee("p-2", THURSDAY)),
        409,
        "duplicate-attendance",
    ),
    (
        "a day signed again",
        "POST",
        "{session}/attendance",
        sheet(attendee("p-1", MONDAY)),
        409,
        "duplicate-attendance",
    ),
    (
        "a participant of another factory",
        "POST",
        "{session}/attendance",
        sheet(attendee("p-2", factory_id="f-2")),
        422,
        "participant-of-another-factory",
    ),
    (
        "a day before the session",
        "POST",
        "{session}/attendance",
        sheet(attendee("p-2", MONDAY.replace(day=1))),
        422,
        "date-out-of-range",
    ),
    (
        "a day of the year 1999",
        "POST",
        "{session}/attendance",
        sheet(attendee("p-2", MONDAY.replace(year=1999))),
        422,
        "validation-error",
    ),
    (
        "another role for p-1",
        "POST",
        "{session}/attendance",
        sheet(attendee("p-1", THURSDAY, role="worker")),
        422,
        "participant-mismatch",
    ),
    (
        "a name with a control character",
        "POST",
        "{session}/attendance",
        sheet(attendee("p-2", name="Da\u0000ra")),
        422,
        "validation-error",
    ),
    ("an empty sheet", "POST", "{session}/attendance", sheet(), 422, "validation-error"),
    (
        "a form of someone absent",
        "POST",
        "{session}/survey-responses",
        {
            "responses": [
                {
                    "participant_id": "p-9",
                    "phase": "pre",
                    "survey_version": 1,
                    "answers": {"talk": 3},
                }
            ]
        },
        422,
        "not-an-attendee",
    ),
    (
        "an answer off the scale",
        "POST",
        "{session}/survey-responses",
        {
            "responses": [
                {
                    "participant_id": "p-1",
                    "phase": "pre",
                    "survey_version": 1,
                    "answers": {"talk": 6},
                }
            ]
        },
        422,
        "invalid-answers",
    ),
    (
        "cancelling with attendance",
        "POST",
        "{session}/cancellation",
        {"reason": "no"},
        409,
        "attendance-recorded",
    ),
    (
        "an unknown course",
        "POST",
        "/v1/training-sessions",
        {"course_code": "XYZ"},
        422,
        "unknown-course",
    ),
    (
        "an unknown factory",
        "POST",
        "/v1/training-sessions",
        {"factories": [{"factory_id": "f-9"}]},
        404,
        "factory-not-found",
    ),
    (
        "a session ending before it starts",
        "POST",
        "/v1/training-sessions",
        {"end_date": "2025-06-01"},
        422,
        "date-out-of-range",
    ),
    (
        "a session two years ahead",
        "POST",
        "/v1/training-sessions",
        {"start_date": "2027-06-01", "end_date": "2027-06-04"},
        422,
        "date-out-of-range",
    ),
    (
        "two factories in a closed session",
        "POST",
        "/v1/training-sessions",
        {"factories": [{"factory_id": "f-1"}, {"factory_id": "f-2"}], "open_session": False},
        422,
        "invalid-session",
    ),
    ("a capacity of 0", "POST", "/v1/training-sessions", {"capacity": 0}, 422, "validation-error"),
    (
        "a visit completed tomorrow",
        "POST",
        "{visit}/completion",
        {"visited_on": "2025-06-21", "duration_days": 1},
        422,
        "date-out-of-range",
    ),
    (
        "a third of a day",
        "POST",
        "{visit}/completion",
        {"visited_on": "2025-06-18", "duration_days": 0.3},
        422,
        "validation-error",
    ),
    (
        "a visit at an unknown factory",
        "POST",
        "/v1/advisory-visits",
        {"factory_id": "f-9", "planned_for": "2025-06-18", "purpose": "other"},
        404,
        "factory-not-found",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "slug"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_bad_input_is_refused_and_changes_nothing(
    service: Service, method: str, path: str, body: Any, status: int, slug: str
) -> None:
    ids = await given(service)
    before = (await service.rows(), await service.history())
    url = path.format(
        session=f"/v1/training-sessions/{ids.session_id}",
        visit=f"/v1/advisory-visits/{ids.visit_id}",
    )
    headers = service.advisor() if "advisory-visits" in url else service.trainer()
    if url == "/v1/training-sessions":
        body = {
            "course_code": "SST",
            "factories": [{"factory_id": "f-1"}],
            "start_date": MONDAY.isoformat(),
            "end_date": THURSDAY.isoformat(),
            "capacity": 4,
            "language": "km",
            **body,
        }
    response = await service.client.request(method, url, json=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(f"/{slug}")
    assert (await service.rows(), await service.history()) == before
    assert TODAY.isoformat() == "2025-06-20"
