"""An advisory visit's life: planned by its advisor (or an admin) at a factory of their country
programme, completed with the plan items and committee meeting it supported, or cancelled.
Given events / when / then. No I/O."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from libs.domain.errors import AlreadyExists
from services.advisory.domain import visit as visits
from services.advisory.domain.actor import Actor
from services.advisory.domain.factory import FactoryRecord
from services.advisory.domain.visit import VISIT, VisitCancelled, VisitCompleted, VisitPlanned
from services.advisory.domain.vocabulary import VisitStatus
from services.advisory.errors import (
    DateOutOfRange,
    NoSuchVisit,
    NotResponsible,
    UnknownFactory,
    VisitClosed,
)
from services.advisory.tests.unit.given import ADMIN, ADVISOR, FACTORY_USER, TODAY, factory

PLANNED = VisitPlanned(
    visit_id="v-1",
    factory_id="f-1",
    country="KH",
    advisor="advisor-1",
    planned_for=date(2025, 6, 18),
    purpose="committee_support",
)


def plan(**changes: Any) -> list[Any]:
    arguments: dict[str, Any] = {
        "visit_id": "v-1",
        "actor": ADVISOR,
        "factory_id": "f-1",
        "factory": factory(),
        "advisor": None,
        "planned_for": date(2025, 6, 18),
        "purpose": "committee_support",
        "description": "",
        "today": TODAY,
    }
    return visits.plan_visit(None, **{**arguments, **changes})


def complete(actor: Actor = ADVISOR, **changes: Any) -> list[Any]:
    arguments: dict[str, Any] = {
        "visited_on": date(2025, 6, 18),
        "duration_days": 1.5,
        "notes": "The committee met; the fire exits were discussed.",
        "plan_item_ids": ("item-1", "item-2"),
        "committee_meeting_id": "m-1",
        "today": TODAY,
    }
    state = VISIT.fold([PLANNED])
    assert state is not None
    return visits.complete_visit(state, actor, **{**arguments, **changes})


class TestPlanVisit:
    def test_an_advisor_plans_their_own_visit(self) -> None:
        assert plan() == [PLANNED]

    def test_an_admin_names_the_advisor(self) -> None:
        assert plan(actor=ADMIN, advisor="advisor-1") == [PLANNED]
        with pytest.raises(NotResponsible):
            plan(actor=ADMIN)
        with pytest.raises(NotResponsible):
            plan(advisor="advisor-2")

    def test_an_unknown_factory_and_another_countrys_are_the_same_404(self) -> None:
        with pytest.raises(UnknownFactory):
            plan(factory=FactoryRecord())
        with pytest.raises(UnknownFactory):
            plan(actor=Actor("advisor-9", "assessor", countries=frozenset({"BD"})))

    def test_at_most_a_year_ahead(self) -> None:
        with pytest.raises(DateOutOfRange):
            plan(planned_for=TODAY + timedelta(days=400))

    def test_an_id_is_used_once(self) -> None:
        with pytest.raises(AlreadyExists):
            visits.plan_visit(
                VISIT.fold([PLANNED]),
                visit_id="v-1",
                actor=ADVISOR,
                factory_id="f-1",
                factory=factory(),
                advisor=None,
                planned_for=TODAY,
                purpose="other",
                description="",
                today=TODAY,
            )


class TestCompleteVisit:
    def test_records_the_day_days_notes_items_and_meeting(self) -> None:
        events = complete()
        assert events == [
            VisitCompleted(
                visit_id="v-1",
                factory_id="f-1",
                visited_on=date(2025, 6, 18),
                duration_days=1.5,
                notes="The committee met; the fire exits were discussed.",
                plan_item_ids=("item-1", "item-2"),
                committee_meeting_id="m-1",
            )
        ]
        state = VISIT.fold([PLANNED, *events])
        assert state is not None and state.status is VisitStatus.COMPLETED

    def test_not_before_it_took_place(self) -> None:
        with pytest.raises(DateOutOfRange):
            complete(visited_on=TODAY + timedelta(days=1))

    def test_only_its_advisor_or_an_admin(self) -> None:
        with pytest.raises(NotResponsible):
            complete(Actor("advisor-2", "assessor", countries=frozenset({"KH"})))
        assert complete(ADMIN)

    def test_a_completed_or_cancelled_visit_changes_no_more(self) -> None:
        for closing in (complete()[0], VisitCancelled(visit_id="v-1", reason="strike")):
            state = VISIT.fold([PLANNED, closing])
            assert state is not None
            with pytest.raises(VisitClosed):
                visits.cancel_visit(state, ADVISOR, "again")


class TestCancelVisit:
    def test_cancels_a_planned_visit(self) -> None:
        state = VISIT.fold([PLANNED])
        assert state is not None
        assert visits.cancel_visit(state, ADVISOR, "strike") == [
            VisitCancelled(visit_id="v-1", reason="strike")
        ]


class TestVisibility:
    def test_the_factory_and_staff_of_the_country_see_it_others_get_a_404(self) -> None:
        state = VISIT.fold([PLANNED])
        assert visits.visible(state, "v-1", FACTORY_USER) is state
        assert visits.visible(
            state, "v-1", Actor("trainer-1", "trainer", countries=frozenset({"KH"}))
        )
        for actor in (
            Actor("hr-2", "factory", factory_id="f-2"),
            Actor("advisor-9", "assessor", countries=frozenset({"VN"})),
            Actor("buyer-1", "buyer"),
        ):
            with pytest.raises(NoSuchVisit):
                visits.visible(state, "v-1", actor)
