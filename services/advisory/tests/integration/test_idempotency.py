"""Writes with an `Idempotency-Key` are applied once: a retried sign-in sheet or scheduling gets
the first answer again and appends nothing."""

from __future__ import annotations

from services.advisory.tests.integration.conftest import Service, attendee, schedule


async def test_a_retried_sheet_is_answered_from_the_store(service: Service) -> None:
    await service.known(("f-1", "KH"))
    session_id = (await schedule(service, "f-1")).json()["session_id"]
    headers = {**service.trainer(), "Idempotency-Key": "sheet-monday"}
    body = {"attendees": [attendee("p-1"), attendee("p-2")]}
    url = f"/v1/training-sessions/{session_id}/attendance"
    first = await service.client.post(url, json=body, headers=headers)
    assert first.status_code == 200, first.text
    history = await service.history()
    again = await service.client.post(url, json=body, headers=headers)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and await service.history() == history
    other = await service.client.post(url, json={"attendees": [attendee("p-3")]}, headers=headers)
    assert other.status_code == 422 and await service.history() == history


async def test_a_retried_scheduling_creates_one_session(service: Service) -> None:
    await service.known(("f-1", "KH"))
    key = {"Idempotency-Key": "schedule-1"}
    first = await schedule(service, "f-1", headers={**service.trainer(), **key})
    again = await schedule(service, "f-1", headers={**service.trainer(), **key})
    assert first.status_code == again.status_code == 201
    assert again.json()["session_id"] == first.json()["session_id"]
    listed = await service.client.get("/v1/training-sessions", headers=service.trainer())
    assert len(listed.json()["items"]) == 1
    # the key is the caller's own: another trainer with the same key is another request
    elsewhere = await schedule(
        service, "f-1", headers={**service.trainer("trainer-2"), **key}, trainer="trainer-2"
    )
    assert elsewhere.json()["session_id"] != first.json()["session_id"]
