"""`python -m services.remediation rebuild`: the read models rebuilt from the event store are the
ones the live projections wrote, row for row (the capacity building recorded from the advisory
service's events included: it is in the event store too)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.servicekit.service import RebuildContext
from services.remediation import consumers, handlers
from services.remediation.commands import (
    ChangeItemDetails,
    ChangeItemStatus,
    FlagDeadlines,
    LogCommitteeMeeting,
    NewMember,
    PublishPlan,
    SetCommitteeMembers,
)
from services.remediation.domain.committee import Side
from services.remediation.domain.plan_events import ItemStatus
from services.remediation.ids import item_id_for
from services.remediation.rebuild import rebuild
from services.remediation.service import SERVICE
from services.remediation.tables import (
    capacity_building,
    committee,
    improvement_item,
    improvement_plan,
)
from services.remediation.tests.integration.conftest import Service
from services.remediation.upstream import (
    AdvisoryVisitCompleted,
    AssessmentCompleted,
    NonComplianceFound,
    TrainingSessionDelivered,
)

REPORT = date(2024, 3, 1)


def found(factory_id: str, assessment_id: str, question_id: str, cycle: int) -> NonComplianceFound:
    return NonComplianceFound(
        assessment_id=assessment_id,
        factory_id=factory_id,
        cycle=cycle,
        report_date=REPORT + timedelta(days=365 * (cycle - 1)),
        cluster_id="OSH",
        cluster_name="Occupational Safety and Health",
        compliance_point_id="OSH-EMP",
        compliance_point_name="Emergency preparedness",
        question_id=question_id,
        question_text="Are exits unlocked?",
        critical=question_id.endswith("1"),
        zero_tolerance=False,
        evidence="seen on site",
    )


def session(factory_id: str, session_id: str, *item_ids: str) -> TrainingSessionDelivered:
    return TrainingSessionDelivered(
        session_id=session_id,
        factory_id=factory_id,
        course_code="OSH",
        course_title="Occupational safety and health",
        start_date=date(2024, 5, 6),
        end_date=date(2024, 5, 7),
        training_days=2,
        plan_item_ids=item_ids,
        participants=20,
        completions=18,
    )


def visit(factory_id: str, visit_id: str, *item_ids: str) -> AdvisoryVisitCompleted:
    return AdvisoryVisitCompleted(
        visit_id=visit_id,
        factory_id=factory_id,
        visited_on=date(2024, 5, 20),
        duration_days=1.5,
        purpose="committee_support",
        plan_item_ids=item_ids,
        committee_meeting_id=None,
    )


async def rows(engine: AsyncEngine) -> dict[str, list[dict[str, Any]]]:
    tables = {
        "plan": improvement_plan,
        "item": improvement_item,
        "committee": committee,
        "capacity_building": capacity_building,
    }
    async with engine.connect() as connection:
        return {
            name: [
                dict(row)
                for row in (
                    await connection.execute(select(table).order_by(*table.primary_key.columns))
                ).mappings()
            ]
            for name, table in tables.items()
        }


async def committee_members(engine: AsyncEngine, factory_id: str) -> list[str]:
    async with engine.connect() as connection:
        members = await connection.scalar(
            select(committee.c.members).where(committee.c.factory_id == factory_id)
        )
    return [member["member_id"] for member in members or []]


async def test_rebuilt_read_models_equal_the_live_ones(service: Service) -> None:
    deps = service.deps
    engine = deps.store.engine
    for factory_id in ("factory-1", "factory-2"):
        for cycle in (1, 2):
            assessment_id = f"{factory_id}-a{cycle}"
            await consumers.on_assessment_completed(
                deps,
                None,
                None,
                AssessmentCompleted(
                    assessment_id=assessment_id,
                    factory_id=factory_id,
                    cycle=cycle,
                    report_date=REPORT,
                    non_compliance_count=3,
                    country="BD" if factory_id == "factory-1" else "KH",
                ),
            )
            for question_id in ("Q1", "Q2", "Q3"):
                await consumers.on_non_compliance_found(
                    deps, None, None, found(factory_id, assessment_id, question_id, cycle)
                )
        item_id = item_id_for(f"{factory_id}-a1", "Q2")
        await handlers.change_item_details(
            ChangeItemDetails(factory_id, item_id, "cause", "action", "HR", None, "factory-user"),
            deps,
        )
        await handlers.change_item_status(
            ChangeItemStatus(factory_id, item_id, ItemStatus.IN_PROGRESS, "factory", "u"), deps
        )
        await handlers.set_committee_members(
            SetCommitteeMembers(
                factory_id,
                [
                    NewMember(None, "A", Side.MANAGEMENT),
                    NewMember(None, "B", Side.WORKER),
                ],
                "advisor",
            ),
            deps,
        )
    # factory-1 publishes its plan (its items' publication is a column of their rows)
    members = (await committee_members(engine, "factory-1"))[:2]
    await handlers.log_committee_meeting(
        LogCommitteeMeeting("factory-1", REPORT, members, [], True, "f"), deps
    )
    await handlers.publish_plan(PublishPlan("factory-1", "f"), deps)
    service.clock.now += timedelta(days=400)
    await handlers.flag_deadlines(FlagDeadlines("factory-1"), deps)
    # capacity building: for items of both cycles, for an item no plan has yet, and a visit of
    # factory-2 that names factory-1's item (kept under factory-2, shown on no item)
    first, second = item_id_for("factory-1-a1", "Q1"), item_id_for("factory-1-a2", "Q3")
    for delivered in (
        session("factory-1", "s-1", first, second),
        session("factory-1", "s-2", "not-yet"),
    ):
        await consumers.on_training_session_delivered(deps, None, None, delivered)
    for completed in (visit("factory-1", "v-1", first), visit("factory-2", "v-2", first)):
        await consumers.on_advisory_visit_completed(deps, None, None, completed)
    live = await rows(engine)
    assert len(live["item"]) == 12 and any(row["overdue"] for row in live["item"])
    assert {row["factory_id"]: row["country"] for row in live["plan"]} == {
        "factory-1": "BD",
        "factory-2": "KH",
    }
    assert {row["published_in"] is not None for row in live["item"]} == {True, False}
    assert len(live["capacity_building"]) == 5

    phases: list[tuple[str, int, int]] = []
    context = RebuildContext(
        service.settings,
        engine,
        SERVICE.events(),
        lambda phase, done, total: phases.append((phase, done, total)),
    )
    report = await rebuild(context)  # the service definition's rebuild

    assert await rows(engine) == live
    assert (report.plans, report.items, report.committees, report.capacity_building) == (
        2,
        12,
        2,
        5,
    )
    assert report.summary() == "2 plans, 12 items, 2 committees, 5 capacity-building rows"
    assert phases and {phase for phase, _, _ in phases} == {"events"}
    assert phases[-1][1] == report.events
    assert SERVICE.rebuild is rebuild
