"""The assessment service's events, consumed from NATS: a factory's record and country, order-safe
updates, assessment cycles, and redeliveries that change nothing (the consumer's inbox)."""

from __future__ import annotations

from datetime import date
from typing import Any

from libs.domain.envelope import event_type
from services.advisory.tests.integration.conftest import Service, poll, schedule


async def factory_row(service: Service, factory_id: str) -> dict[str, Any] | None:
    rows = (await service.rows())["factory"]
    return next((row for row in rows if row["factory_id"] == factory_id), None)


async def test_a_registered_factory_is_known_in_its_country(service: Service) -> None:
    await service.known(("f-1", "KH"))
    row = await factory_row(service, "f-1")
    assert row == {"factory_id": "f-1", "name": "Mekong", "country": "KH", "version": 1}
    assert (await schedule(service, "f-1")).status_code == 201


async def test_a_redelivered_event_changes_nothing(service: Service) -> None:
    registered = service.upstream.factory("f-1", "KH")
    completed = service.upstream.completed("f-1", 1, date(2024, 3, 1))
    await service.publish(registered, completed)
    await poll(service.caught_up)
    before = (await service.rows(), await service.history())
    # the same events again, past JetStream's de-duplication (another message id): the inbox
    await service.publish(registered, message_id="again-1")
    await service.publish(completed, message_id="again-2")
    await poll(service.caught_up)
    assert (await service.rows(), await service.history()) == before
    assert (await service.rows())["factory_cycle"] == [
        {"factory_id": "f-1", "cycle": 1, "report_date": date(2024, 3, 1)}
    ]


async def test_an_update_moves_the_factory_and_an_older_one_does_not(service: Service) -> None:
    await service.known(("f-1", "KH"))
    moved = service.upstream.factory("f-1", "VN", name="Saigon Garments")
    stale = service.upstream.factory("f-1", "KH")  # version 3, published first
    stale = stale.model_copy(update={"streamversion": 2, "id": "stale"})
    moved = moved.model_copy(update={"streamversion": 3})
    await service.publish(moved, stale)
    await poll(service.caught_up)
    row = await factory_row(service, "f-1")
    assert row is not None and (row["country"], row["name"]) == ("VN", "Saigon Garments")
    assert (await schedule(service, "f-1")).status_code == 404  # no longer Cambodia's
    vietnam = await schedule(service, "f-1", headers=service.trainer("trainer-9", country="VN"))
    assert vietnam.status_code == 201 and vietnam.json()["country"] == "VN"


async def test_a_version_1_assessment_report_is_read_too(service: Service) -> None:
    await service.known(("f-1", "KH"))
    events_before, _ = await service.history()
    completed = service.upstream.completed("f-1", 1, date(2024, 3, 1))
    old = completed.model_copy(
        update={
            "type": event_type("assessment", "AssessmentCompleted", 1),
            "data": {k: v for k, v in completed.data.items() if k != "results"},
        }
    )
    await service.publish(old)
    await poll(service.caught_up)
    assert (await service.rows())["factory_cycle"][0]["cycle"] == 1
    assert (await service.history())[0] == events_before + 1
