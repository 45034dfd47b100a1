"""Business time on real PostgreSQL and NATS: an imported assessment's items open on its report
date with deadlines counted from it, at its business time and marked imported (the consumer's
batch and one-by-one paths alike); overdue is business time's; the deadline scheduler flags a
deadline that had passed before an imported item was recorded as history (the day after it,
imported from the same bundle, once the rest of the history had time to arrive), and deadlines
that pass later, or of live plans, as news."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from libs.domain.envelope import consumed_context, in_context
from libs.servicekit.auth import Role
from services.remediation.consumers import CONSUMER_DURABLE
from services.remediation.scheduler import DeadlineScheduler
from services.remediation.tables import improvement_item
from services.remediation.tests.integration.conftest import Service, public_events
from services.remediation.tests.integration.history_givens import (
    BUNDLE,
    factory_of,
    imported_assessment,
    items_of,
    moment,
    noon,
    publish,
    stored,
)

pytestmark = pytest.mark.integration

REPORT = date(2019, 3, 1)


def of_type(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [event for event in events if f".{name}." in event["type"]]


async def test_an_imported_assessment_opens_its_items_on_the_report_date(service: Service) -> None:
    await publish(
        service,
        imported_assessment(
            "KH-F-1", "KH-A-1", 1, REPORT, [("q1", True, False), ("q2", False, False)]
        ),
    )
    factory_id = factory_of("KH-F-1")
    items = await items_of(service, factory_id, 2)

    assert [
        (item["question_id"], item["report_date"], item["due_date"], item["imported_from"])
        for item in items
    ] == [("q1", "2019-03-01", "2019-03-31", BUNDLE), ("q2", "2019-03-01", "2019-05-30", BUNDLE)]
    plan = (
        await service.client.get(
            f"/v1/improvement-plans/{factory_id}", headers=service.token(Role.ADMIN)
        )
    ).json()
    assert (plan["first_report_date"], plan["publication_due_date"]) == ("2019-03-01", "2019-03-31")
    # recorded at the report's business time, imported from the assessment's bundle
    for name in ("AssessmentReportReceived", "ImprovementItemAdded"):
        facts = await stored(service, name)
        assert facts and {
            (fact["occurred_at"], fact["imported"]["bundle"], fact["imported"]["kind"])
            for fact in facts
        } == {(noon(REPORT), BUNDLE, "derived")}
    # what leaves the service happened then too, and says it is imported
    updates = of_type(await public_events(service), "ImprovementPlanUpdated")
    assert len(updates) == 2
    for update in updates:
        assert update.get("importedfrom") == BUNDLE
        assert moment(update["time"]) == moment(noon(REPORT))
        assert moment(update["recordedtime"]) > moment(update["time"])


async def test_one_by_one_or_in_a_batch_the_consumer_records_the_same_history(
    service: Service,
) -> None:
    """The runner's batch path and the one-by-one path it falls back to (each event in the
    context the runner gives it) record the same events at the same business time."""
    runner = service.runtime.consumer(CONSUMER_DURABLE)
    subscription = runner.subscription
    engine = service.deps.store.engine
    findings = [("q1", True, False), ("q2", False, True)]
    one_by_one = imported_assessment("KH-F-A", "KH-A-A", 1, REPORT, findings)
    batch = imported_assessment("KH-F-B", "KH-A-B", 1, REPORT, findings)
    for envelope in one_by_one:
        event = subscription.registry.decode(envelope)
        async with engine.begin() as connection:
            with in_context(consumed_context(envelope)):
                await subscription.handlers[envelope.event_name](connection, envelope, event)
    assert subscription.batch_handler is not None
    async with engine.begin() as connection:
        await subscription.batch_handler(
            connection, [(envelope, subscription.registry.decode(envelope)) for envelope in batch]
        )

    def shape(fact: dict[str, Any]) -> tuple[Any, ...]:
        data = fact["data"]
        return (
            data["question_id"],
            data["due_date"],
            data["imported_from"],
            data["imported_at"],
            fact["occurred_at"],
            fact["imported"]["bundle"],
        )

    added = await stored(service, "ImprovementItemAdded")
    by_factory = {
        factory: sorted(shape(fact) for fact in added if fact["data"]["factory_id"] == factory)
        for factory in (factory_of("KH-F-A"), factory_of("KH-F-B"))
    }
    first, second = by_factory.values()
    assert first == second and len(first) == 2
    assert {row[4] for row in first} == {noon(REPORT)}
    async with engine.connect() as connection:
        rows = (await connection.execute(select(improvement_item))).mappings().all()
    assert {row["imported_from"] for row in rows} == {BUNDLE} and len(rows) == 4


async def test_the_scheduler_flags_deadlines_of_the_past_as_history(service: Service) -> None:
    recent = date(2024, 2, 20)  # its critical item is due 2024-03-21, after it was imported
    await publish(
        service,
        [
            *imported_assessment("KH-F-OLD", "KH-A-OLD", 1, REPORT, [("q1", True, False)]),
            *imported_assessment("KH-F-NEW", "KH-A-NEW", 1, recent, [("q1", True, False)]),
            *imported_assessment(
                "KH-F-LIVE", "KH-A-LIVE", 1, recent, [("q1", True, False)], bundle=None
            ),
        ],
    )
    for factory in ("KH-F-OLD", "KH-F-NEW", "KH-F-LIVE"):
        await items_of(service, factory_of(factory), 1)
    scheduler = DeadlineScheduler(service.deps, interval_seconds=60)

    # right after the import, the old deadlines wait for the rest of their history to arrive
    assert await scheduler.run_once() == 0
    service.clock.now += timedelta(hours=2)
    assert await scheduler.run_once() == 2  # the old item, and the old plan's publication

    old_flags = [
        *await stored(service, "ImprovementItemOverdue"),
        *await stored(service, "ImprovementPlanPublicationOverdue"),
    ]
    day_after = date(2019, 4, 1)  # both were due 2019-03-31
    assert [
        (flag["occurred_at"], flag["imported"]["bundle"], flag["imported"]["kind"])
        for flag in old_flags
    ] == [(noon(day_after), BUNDLE, "derived")] * 2
    assert {moment(flag["data"]["detected_at"]) for flag in old_flags} == {moment(noon(day_after))}
    # overdue is business time's: the imported item is overdue today
    overdue = await service.client.get(
        f"/v1/improvement-plans/{factory_of('KH-F-OLD')}/items",
        params={"overdue": "true"},
        headers=service.token(Role.ASSESSOR),
    )
    assert [item["question_id"] for item in overdue.json()["items"]] == ["q1"]

    # deadlines that pass after the import (and a live plan's) are news, flagged now
    service.clock.now = datetime(2024, 4, 1, 9, tzinfo=UTC)
    assert await scheduler.run_once() == 4
    news = (await stored(service, "ImprovementItemOverdue"))[1:]
    assert [(flag["occurred_at"], flag["imported"]) for flag in news] == [(None, None)] * 2
    assert {moment(flag["data"]["detected_at"]) for flag in news} == {service.clock.now}
    assert await scheduler.run_once() == 0

    published = of_type(await public_events(service), "ImprovementItemOverdue")
    assert [(event.get("importedfrom"), event["time"][:4]) for event in published] == [
        (BUNDLE, "2019"),
        (None, str(datetime.now(UTC).year)),  # news happens when it is recorded
        (None, str(datetime.now(UTC).year)),
    ]
