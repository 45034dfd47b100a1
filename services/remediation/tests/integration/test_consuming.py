"""Assessment events become improvement-plan items: through real NATS, under redelivery, out of order,
and with two replicas appending to one plan at once."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from sqlalchemy import select, text

from libs.domain.envelope import Envelope
from libs.events.nats import subject_for
from libs.servicekit.auth import Role
from services.remediation.consumers import CONSUMER_DURABLE
from services.remediation.tables import improvement_item, improvement_plan
from services.remediation.tests.integration.conftest import (
    REPORT_DATE,
    Service,
    assessment_events,
    poll,
)


async def feed(service: Service, envelopes: list[Envelope]) -> None:
    """Hand envelopes to the consumer's handlers, each in its own transaction, as the runner does."""
    runner = service.runtime.consumer(CONSUMER_DURABLE)
    for envelope in envelopes:
        event = runner.subscription.registry.decode(envelope)
        async with service.deps.store.engine.begin() as connection:
            await runner.subscription.handlers[envelope.event_name](connection, envelope, event)


async def read_models(service: Service, factory_id: str) -> dict[str, Any]:
    """The plan row and its items, with the factory's own ids replaced so factories compare."""
    async with service.deps.store.engine.connect() as connection:
        plan = (
            (
                await connection.execute(
                    select(improvement_plan).where(improvement_plan.c.factory_id == factory_id)
                )
            )
            .one()
            ._asdict()
        )
        items = [
            row._asdict()
            for row in await connection.execute(
                select(improvement_item)
                .where(improvement_item.c.factory_id == factory_id)
                .order_by(improvement_item.c.cycle, improvement_item.c.question_id)
            )
        ]
    for row in [plan, *items]:
        row.pop("factory_id")
    for item in items:
        item.pop("item_id")
        item["assessment_id"] = item["assessment_id"].removeprefix(factory_id)
    return {"plan": {k: v for k, v in plan.items() if k != "version"}, "items": items}


def two_cycles(factory_id: str) -> list[Envelope]:
    first = assessment_events(
        factory_id, f"{factory_id}a1", 1, REPORT_DATE, [("q1", True, False), ("q2", False, False)]
    )
    second = assessment_events(
        factory_id,
        f"{factory_id}a2",
        2,
        date(2025, 3, 1),
        [("q1", True, False), ("q3", True, True)],
    )
    return [*first, *second]


async def test_events_published_on_nats_become_a_plan(service: Service) -> None:
    runtime = service.runtime
    prefix = service.settings.subject_prefix
    await runtime.nats.ensure_stream(prefix, "assessment")  # as the assessment service would
    js = runtime.nats.jetstream()
    for envelope in assessment_events(
        "f-nats", "a-nats", 1, REPORT_DATE, [("q1", True, False), ("q2", False, True)]
    ):
        await js.publish(
            subject_for(prefix, "assessment", envelope.event_name),
            envelope.to_json(),
            headers={"Nats-Msg-Id": envelope.id},
            timeout=5,
        )
    headers = service.token(Role.ASSESSOR)

    async def items() -> list[dict[str, Any]] | None:
        response = await service.client.get("/v1/improvement-plans/f-nats/items", headers=headers)
        found: list[dict[str, Any]] = (
            response.json()["items"] if response.status_code == 200 else []
        )
        return found if len(found) == 2 else None

    found = await poll(items)
    assert {(item["question_id"], item["due_date"]) for item in found} == {
        ("q1", "2024-03-31"),
        ("q2", "2024-03-08"),
    }
    plan = (await service.client.get("/v1/improvement-plans/f-nats", headers=headers)).json()
    assert plan["progress"]["by_status"]["open"] == 2
    assert plan["publication_due_date"] == "2024-03-31"


async def test_redelivered_and_reordered_events_leave_the_same_plan(service: Service) -> None:
    await feed(service, two_cycles("fa"))
    reordered = list(reversed(two_cycles("fb")))
    await feed(service, [*reordered, *reordered])

    in_order, shuffled = await read_models(service, "fa"), await read_models(service, "fb")
    assert shuffled == in_order
    persistent = [(i["cycle"], i["question_id"]) for i in in_order["items"] if i["persistent"]]
    assert persistent == [(2, "q1")]
    assert in_order["plan"]["total"] == 4
    async with service.deps.store.engine.connect() as connection:
        added = await connection.scalar(
            text(
                "SELECT count(*) FROM remediation.event "
                "WHERE stream_id = 'improvement-plan-fb' AND event_type LIKE '%ImprovementItemAdded%'"
            )
        )
    assert added == 4


async def test_replicas_appending_to_one_plan_at_once_both_succeed(service: Service) -> None:
    envelopes = assessment_events(
        "f-race", "a-race", 1, REPORT_DATE, [(f"q{n}", False, False) for n in range(8)]
    )
    # two replicas, each handling its share of the deliveries one after the other
    await asyncio.gather(feed(service, envelopes[0::2]), feed(service, envelopes[1::2]))
    models = await read_models(service, "f-race")
    assert len(models["items"]) == 8
    assert models["plan"]["open"] == 8
