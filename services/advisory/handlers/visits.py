"""Command handlers of advisory visits: planning (with the factory's record read in the same
unit of work), completion and cancellation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from libs.domain.aggregate import Change, Loaded
from libs.domain.envelope import DomainEvent
from services.advisory.commands import CancelVisit, CompleteVisit, PlanVisit
from services.advisory.domain import visit as visits
from services.advisory.domain.actor import Actor
from services.advisory.domain.visit import Visit
from services.advisory.handlers.dependencies import Dependencies


def _visible(visit_id: str, actor: Actor) -> Callable[[Loaded[Visit | None]], None]:
    def authorize(loaded: Loaded[Visit | None]) -> None:
        visits.visible(loaded.state, visit_id, actor)

    return authorize


def _on(decide: Callable[[Visit], Sequence[DomainEvent]]) -> Any:
    def decide_existing(visit: Visit | None) -> Sequence[DomainEvent]:
        assert visit is not None  # authorized: it exists and the caller sees it
        return decide(visit)

    return decide_existing


async def plan_visit(command: PlanVisit, deps: Dependencies) -> Change[Visit | None]:
    today = deps.clock().date()
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        record = (await deps.factories.load(unit, command.factory_id)).state
        return await deps.visits.execute(
            command.visit_id,
            lambda visit: visits.plan_visit(
                visit,
                visit_id=command.visit_id,
                actor=command.actor,
                factory_id=command.factory_id,
                factory=record,
                advisor=command.advisor,
                planned_for=command.planned_for,
                purpose=command.purpose,
                description=command.description,
                today=today,
            ),
            unit=unit,
            answer=deps.answer("visit", command.visit_id),
        )


async def complete_visit(command: CompleteVisit, deps: Dependencies) -> Change[Visit | None]:
    today = deps.clock().date()
    return await deps.visits.execute(
        command.visit_id,
        _on(
            lambda visit: visits.complete_visit(
                visit,
                command.actor,
                visited_on=command.visited_on,
                duration_days=command.duration_days,
                notes=command.notes,
                plan_item_ids=command.plan_item_ids,
                committee_meeting_id=command.committee_meeting_id,
                today=today,
            )
        ),
        expected_version=command.expected_version,
        authorize=_visible(command.visit_id, command.actor),
        answer=deps.answer("visit", command.visit_id),
    )


async def cancel_visit(command: CancelVisit, deps: Dependencies) -> Change[Visit | None]:
    return await deps.visits.execute(
        command.visit_id,
        _on(lambda visit: visits.cancel_visit(visit, command.actor, command.reason)),
        expected_version=command.expected_version,
        authorize=_visible(command.visit_id, command.actor),
        answer=deps.answer("visit", command.visit_id),
    )
