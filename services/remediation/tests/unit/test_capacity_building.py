"""Capacity building recorded from the advisory service's events: the pure decision (given the
factory's recorded sessions and visits, when one is reported, then these events), its rows, and
the reactions on the in-memory store (the factory's stream, nothing published)."""

from __future__ import annotations

from datetime import date
from typing import Any

from libs.events.memory import InMemoryEventStore
from services.remediation import consumers
from services.remediation.domain.capacity import (
    CAPACITY,
    AdvisoryVisitRecorded,
    CapacityBuilding,
    TrainingSessionRecorded,
    record_activity,
)
from services.remediation.domain.views import activity_rows, capacity_rows
from services.remediation.handlers import Remediation
from services.remediation.ids import plan_stream_id
from services.remediation.upstream import AdvisoryVisitCompleted, TrainingSessionDelivered

FACTORY = "factory-1"


def session(session_id: str = "s1", *items: str, **overrides: Any) -> TrainingSessionRecorded:
    fields: dict[str, Any] = {
        "factory_id": FACTORY,
        "session_id": session_id,
        "course_code": "SST",
        "course_title": "Supervisory Skills Training",
        "start_date": date(2024, 4, 1),
        "end_date": date(2024, 4, 4),
        "training_days": 4,
        "participants": 12,
        "completions": 10,
        "plan_item_ids": items or ("item-1",),
        **overrides,
    }
    return TrainingSessionRecorded(**fields)


def visit(visit_id: str = "v1", *items: str) -> AdvisoryVisitRecorded:
    return AdvisoryVisitRecorded(
        factory_id=FACTORY,
        visit_id=visit_id,
        visited_on=date(2024, 4, 10),
        duration_days=0.5,
        purpose="improvement_plan",
        committee_meeting_id="meeting-1",
        plan_item_ids=items or ("item-1",),
    )


def given(*activities: TrainingSessionRecorded | AdvisoryVisitRecorded) -> CapacityBuilding:
    return CAPACITY.fold(activities)


class TestRecordingAnActivity:
    def test_a_session_naming_items_is_recorded(self) -> None:
        assert record_activity(given(), session("s1", "item-1", "item-2")) == [
            session("s1", "item-1", "item-2")
        ]

    def test_the_same_session_again_records_nothing(self) -> None:
        assert record_activity(given(session("s1")), session("s1", "item-2")) == []

    def test_the_same_visit_again_records_nothing_whatever_came_between(self) -> None:
        state = given(visit("v1"), session("v1"), visit("v2"))
        assert record_activity(state, visit("v1")) == []
        assert record_activity(state, session("s9"))  # a session of the visit's id is another

    def test_item_ids_are_kept_once_each_and_never_longer_than_an_item_id(self) -> None:
        [recorded] = record_activity(given(), session("s1", "item-1", "x" * 65, "item-1", "i-2"))
        assert isinstance(recorded, TrainingSessionRecorded)
        assert recorded.plan_item_ids == ("item-1", "i-2")

    def test_an_activity_naming_no_item_records_nothing(self) -> None:
        assert record_activity(given(), session("s1", "x" * 65)) == []
        assert record_activity(given(), visit().model_copy(update={"plan_item_ids": ()})) == []

    def test_the_state_survives_a_snapshot(self) -> None:
        state = given(session("s1"), visit("v1", "item-2"))
        snapshots = CAPACITY.snapshots
        assert snapshots is not None
        assert snapshots.restore(snapshots.dump(state)) == state


class TestRows:
    def test_a_session_has_a_row_per_item_with_its_counts(self) -> None:
        rows = activity_rows(session("s1", "item-1", "item-2"))
        assert [row["item_id"] for row in rows] == ["item-1", "item-2"]
        assert rows[0] | {"item_id": None} == {
            "factory_id": FACTORY,
            "item_id": None,
            "kind": "session",
            "source_id": "s1",
            "start_date": date(2024, 4, 1),
            "end_date": date(2024, 4, 4),
            "course_code": "SST",
            "course_title": "Supervisory Skills Training",
            "purpose": None,
            "days": 4.0,
            "participants": 12,
            "completions": 10,
            "committee_meeting_id": None,
        }

    def test_a_visit_has_its_purpose_days_and_meeting(self) -> None:
        [row] = activity_rows(visit("v1"))
        assert (row["kind"], row["start_date"], row["end_date"]) == (
            "visit",
            date(2024, 4, 10),
            date(2024, 4, 10),
        )
        assert (row["purpose"], row["days"], row["committee_meeting_id"]) == (
            "improvement_plan",
            0.5,
            "meeting-1",
        )
        assert row["participants"] is None and row["course_code"] is None

    def test_the_rebuilds_rows_are_every_activitys(self) -> None:
        state = given(session("s1", "item-1", "item-2"), visit("v1"))
        assert len(capacity_rows(state)) == 3


def delivered_session(*items: str) -> TrainingSessionDelivered:
    # as decoded from the advisory service's message: fields this copy does not read are dropped
    return TrainingSessionDelivered.model_validate(
        {
            "session_id": "s1",
            "factory_id": FACTORY,
            "country": "KH",
            "course_code": "SST",
            "course_version": 1,
            "course_title": "Supervisory Skills Training",
            "open_session": False,
            "start_date": "2024-04-01",
            "end_date": "2024-04-04",
            "training_days": 4,
            "language": "km",
            "plan_item_ids": list(items),
            "participants": 12,
            "completions": 10,
            "groups": [],
            "delivered_on": "2024-04-05",
        }
    )


class TestReactions:
    async def test_a_delivered_session_is_recorded_once_in_the_factorys_stream(
        self, deps: Remediation, store: InMemoryEventStore
    ) -> None:
        await consumers.on_training_session_delivered(deps, None, None, delivered_session("item-1"))
        await consumers.on_training_session_delivered(deps, None, None, delivered_session("item-1"))
        assert store.events(CAPACITY.stream_id(FACTORY)) == [session("s1", "item-1")]
        assert store.events(plan_stream_id(FACTORY)) == []  # the plan is not touched
        assert store.published == []  # public at the advisory service already

    async def test_a_completed_visit_is_recorded_with_its_meeting(
        self, deps: Remediation, store: InMemoryEventStore
    ) -> None:
        completed = AdvisoryVisitCompleted(
            visit_id="v1",
            factory_id=FACTORY,
            visited_on=date(2024, 4, 10),
            duration_days=0.5,
            purpose="improvement_plan",
            plan_item_ids=("item-1",),
            committee_meeting_id="meeting-1",
        )
        await consumers.on_advisory_visit_completed(deps, None, None, completed)
        assert store.events(CAPACITY.stream_id(FACTORY)) == [visit("v1", "item-1")]

    async def test_a_session_naming_no_item_leaves_no_stream(
        self, deps: Remediation, store: InMemoryEventStore
    ) -> None:
        await consumers.on_training_session_delivered(deps, None, None, delivered_session())
        assert store.events(CAPACITY.stream_id(FACTORY)) == []
