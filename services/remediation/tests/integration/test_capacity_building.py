"""The capacity building done for a plan item (issue 18): the advisory service's public events, as
it publishes them (its contract classes in CloudEvents envelopes on its stream), reach the items
they name through real NATS and PostgreSQL: once under redelivery, kept for an item the plan does
not have yet, never on another factory's item, and only for the callers who may read the item."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select, text

from libs.domain.envelope import DomainEvent, Envelope
from libs.events.nats import subject_for
from libs.servicekit.auth import Role, mint_token
from services.advisory.contract import (
    CONTRACT as ADVISORY_CONTRACT,
)
from services.advisory.contract import (
    AdvisoryVisitCompleted,
    ParticipantGroup,
    TrainingSessionDelivered,
)
from services.remediation.ids import item_id_for
from services.remediation.tables import SCHEMA, capacity_building
from services.remediation.tests.integration.conftest import (
    REPORT_DATE,
    Service,
    assessment_events,
    poll,
)


def session_delivered(factory_id: str, session_id: str, *item_ids: str) -> TrainingSessionDelivered:
    return TrainingSessionDelivered(
        session_id=session_id,
        factory_id=factory_id,
        country="KH",
        course_code="SST",
        course_version=1,
        course_title="Supervisory Skills Training",
        open_session=False,
        start_date=date(2024, 4, 1),
        end_date=date(2024, 4, 4),
        training_days=4,
        language="km",
        plan_item_ids=item_ids,
        participants=12,
        completions=10,
        groups=(
            ParticipantGroup(role="supervisor", gender="female", participants=7, completions=6),
            ParticipantGroup(role="supervisor", gender="male", participants=5, completions=4),
        ),
        delivered_on=date(2024, 4, 5),
    )


def visit_completed(factory_id: str, visit_id: str, *item_ids: str) -> AdvisoryVisitCompleted:
    return AdvisoryVisitCompleted(
        visit_id=visit_id,
        factory_id=factory_id,
        country="KH",
        visited_on=date(2024, 4, 10),
        duration_days=0.5,
        purpose="improvement_plan",
        plan_item_ids=item_ids,
        committee_meeting_id="meeting-7",
    )


SESSION = {
    "kind": "session",
    "source_id": "s-1",
    "start_date": "2024-04-01",
    "end_date": "2024-04-04",
    "course_code": "SST",
    "course_title": "Supervisory Skills Training",
    "purpose": None,
    "days": 4.0,
    "participants": 12,
    "completions": 10,
    "committee_meeting_id": None,
}
VISIT = {
    "kind": "visit",
    "source_id": "v-1",
    "start_date": "2024-04-10",
    "end_date": "2024-04-10",
    "course_code": None,
    "course_title": None,
    "purpose": "improvement_plan",
    "days": 0.5,
    "participants": None,
    "completions": None,
    "committee_meeting_id": "meeting-7",
}


def advisory_envelope(public_event: DomainEvent, factory_id: str) -> Envelope:
    """The envelope the advisory service's relay publishes: the public type, the factory as the
    subject, the data as its contract class dumps it."""
    return Envelope(
        id=str(uuid.uuid4()),
        source="/betterwork/advisory",
        type=ADVISORY_CONTRACT.registry.type_of(public_event),
        subject=factory_id,
        time=datetime.now(UTC),
        data=public_event.model_dump(mode="json"),
        correlationid=str(uuid.uuid4()),
        streamid=f"factory-{factory_id}",
        streamversion=1,
    )


async def publish(service: Service, envelope: Envelope, *, message_id: str | None = None) -> None:
    """On the producer's stream and subject, de-duplicated by JetStream on `message_id`."""
    prefix = service.settings.subject_prefix
    runtime = service.runtime
    await runtime.nats.ensure_stream(prefix, envelope.service)  # as the producer would
    await runtime.nats.jetstream().publish(
        subject_for(prefix, envelope.service, envelope.event_name),
        envelope.to_json(),
        headers={"Nats-Msg-Id": message_id or envelope.id},
        timeout=5,
    )


async def publish_advisory(service: Service, public_event: Any) -> Envelope:
    envelope = advisory_envelope(public_event, public_event.factory_id)
    await publish(service, envelope)
    return envelope


async def assessed(service: Service, factory_id: str, assessment_id: str, *questions: str) -> None:
    for envelope in assessment_events(
        factory_id, assessment_id, 1, REPORT_DATE, [(q, False, False) for q in questions]
    ):
        await publish(service, envelope)


async def recorded(service: Service, factory_id: str, count: int) -> None:
    """Wait until the factory's capacity-building stream holds `count` events."""

    async def enough() -> bool:
        async with service.deps.store.engine.connect() as connection:
            found = await connection.scalar(
                text(f"SELECT count(*) FROM {SCHEMA}.event WHERE stream_id = :stream"),
                {"stream": f"capacity-building-{factory_id}"},
            )
        return bool(found == count)

    await poll(enough)


async def item_with(
    service: Service, factory_id: str, item_id: str, headers: dict[str, str], count: int
) -> dict[str, Any]:
    """The item once it shows `count` sessions and visits."""
    path = f"/v1/improvement-plans/{factory_id}/items/{item_id}"

    async def shown() -> dict[str, Any] | None:
        response = await service.client.get(path, headers=headers)
        if response.status_code != 200:
            return None
        item: dict[str, Any] = response.json()
        return item if len(item["capacity_building"]) == count else None

    found: dict[str, Any] = await poll(shown)
    return found


async def test_sessions_and_visits_on_nats_show_on_the_items_they_name(service: Service) -> None:
    await assessed(service, "f-cb", "a-cb", "q1", "q2")
    first, second = item_id_for("a-cb", "q1"), item_id_for("a-cb", "q2")
    await publish_advisory(service, session_delivered("f-cb", "s-1", first, second))
    await publish_advisory(service, visit_completed("f-cb", "v-1", first))
    staff = service.token(Role.ASSESSOR, countries=["KH"])

    item = await item_with(service, "f-cb", first, staff, 2)
    assert item["capacity_building"] == [SESSION, VISIT]  # by start date

    factory = service.token(Role.FACTORY, "f-cb")
    listed = await service.client.get("/v1/improvement-plans/f-cb/items", headers=factory)
    assert listed.status_code == 200
    by_item = {found["item_id"]: found["capacity_building"] for found in listed.json()["items"]}
    assert by_item == {first: [SESSION, VISIT], second: [SESSION]}
    # a command's answer is the item as reads show it, the capacity building included
    changed = await service.client.patch(
        f"/v1/improvement-plans/f-cb/items/{first}",
        json={"root_cause": "no training"},
        headers=factory,
    )
    assert changed.status_code == 200
    assert changed.json()["capacity_building"] == [SESSION, VISIT]


async def test_a_redelivered_or_repeated_session_applies_once(service: Service) -> None:
    await assessed(service, "f-r", "a-r", "q1")
    item_id = item_id_for("a-r", "q1")
    envelope = await publish_advisory(service, session_delivered("f-r", "s-1", item_id))
    # JetStream hands the same event again (another message id): the inbox skips it; the same
    # session under another event id (a producer's replay): the factory's record skips it
    await publish(service, envelope, message_id=str(uuid.uuid4()))
    await publish(service, envelope.model_copy(update={"id": str(uuid.uuid4())}))
    await publish_advisory(service, visit_completed("f-r", "v-1", item_id))  # delivered after them

    item = await item_with(service, "f-r", item_id, service.token(Role.FACTORY, "f-r"), 2)
    assert item["capacity_building"] == [SESSION, VISIT]
    await recorded(service, "f-r", 2)  # one session, one visit in the history
    async with service.deps.store.engine.connect() as connection:
        rows = await connection.scalar(select(func.count()).select_from(capacity_building))
    assert rows == 2


async def test_a_session_naming_an_item_not_there_yet_shows_once_the_item_exists(
    service: Service,
) -> None:
    later = item_id_for("a-late", "q1")
    await publish_advisory(service, session_delivered("f-late", "s-1", later, "no-such-item"))
    await recorded(service, "f-late", 1)  # kept, not failed: nothing is parked
    headers = service.token(Role.FACTORY, "f-late")
    response = await service.client.get(
        f"/v1/improvement-plans/f-late/items/{later}", headers=headers
    )
    assert response.status_code == 404
    parked = await service.client.get("/ops/dead-letters", headers=service.token(Role.ADMIN))
    assert parked.json() == []

    await assessed(service, "f-late", "a-late", "q1")
    item = await item_with(service, "f-late", later, headers, 1)
    assert item["capacity_building"] == [SESSION]


async def test_only_the_items_factory_and_its_programmes_staff_see_its_capacity_building(
    service: Service,
) -> None:
    await assessed(service, "f-a", "a-a", "q1")
    item_id = item_id_for("a-a", "q1")
    path = f"/v1/improvement-plans/f-a/items/{item_id}"
    await publish_advisory(service, session_delivered("f-a", "s-1", item_id))
    # a visit of another factory naming f-a's item: kept under f-b, never shown on f-a's item
    await publish_advisory(service, visit_completed("f-b", "v-1", item_id))
    await recorded(service, "f-b", 1)

    own = await item_with(service, "f-a", item_id, service.token(Role.FACTORY, "f-a"), 1)
    assert own["capacity_building"] == [SESSION]
    admin = await service.client.get(path, headers=service.token(Role.ADMIN, countries=["KH"]))
    assert admin.json()["capacity_building"] == [SESSION]
    refused = {
        "another factory": (service.token(Role.FACTORY, "f-b"), 404),
        "another programme": (service.token(Role.ASSESSOR, countries=["BD"]), 404),
        "a buyer": (
            {
                "Authorization": "Bearer "
                + mint_token(service.settings.jwt_secret, "b", Role.BUYER, buyer_id="buyer-1")
            },
            403,
        ),
        "a trainer": (service.token(Role.TRAINER), 403),
    }
    for who, (headers, status) in refused.items():
        for url in (path, "/v1/improvement-plans/f-a/items"):
            response = await service.client.get(url, headers=headers)
            assert response.status_code == status, (who, url)
            assert "capacity_building" not in response.text, who
