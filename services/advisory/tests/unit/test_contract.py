"""What leaves the service: each factory's TrainingSessionDelivered (counts only) from its record,
AdvisoryVisitCompleted without the notes, and nothing else. No I/O."""

from __future__ import annotations

from datetime import date

from libs.domain.envelope import DomainEvent
from services.advisory.contract import (
    CONTRACT,
    AdvisoryVisitCompleted,
    TrainingSessionDelivered,
    translate,
)
from services.advisory.domain.session_rules import training_received
from services.advisory.domain.visit import VISIT, VisitCompleted, VisitPlanned
from services.advisory.tests.unit.given import delivered, delivered_events


def test_a_factorys_training_is_published_with_counts_only() -> None:
    published = translate(training_received(delivered(), "f-1"))
    assert len(published) == 1 and isinstance(published[0], TrainingSessionDelivered)
    event = published[0]
    assert (event.factory_id, event.participants, event.completions) == ("f-1", 3, 2)
    assert event.plan_item_ids == ("item-1",) and event.course_code == "SST"
    data = event.model_dump(mode="json")
    assert "Sok" not in str(data) and "p-1" not in str(data)
    assert CONTRACT.registry.type_of(event) == (
        "org.betterwork.advisory.TrainingSessionDelivered.v1"
    )


def test_a_completed_visit_is_published_without_its_notes() -> None:
    planned = VisitPlanned(
        visit_id="v-1",
        factory_id="f-1",
        country="KH",
        advisor="advisor-1",
        planned_for=date(2025, 6, 18),
        purpose="improvement_plan",
    )
    completed = VisitCompleted(
        visit_id="v-1",
        factory_id="f-1",
        visited_on=date(2025, 6, 18),
        duration_days=0.5,
        notes="The manager was defensive.",
        plan_item_ids=("item-1", "item-2"),
        committee_meeting_id=None,
    )
    published = translate(completed, VISIT.fold([planned, completed]))
    assert published == [
        AdvisoryVisitCompleted(
            visit_id="v-1",
            factory_id="f-1",
            country="KH",
            visited_on=date(2025, 6, 18),
            duration_days=0.5,
            purpose="improvement_plan",
            plan_item_ids=("item-1", "item-2"),
            committee_meeting_id=None,
        )
    ]
    assert "defensive" not in str(published[0].model_dump())


def test_the_sessions_own_events_and_plans_never_leave() -> None:
    private: list[DomainEvent] = [*delivered_events()]
    assert all(translate(event, None) == [] for event in private)
