"""The service definition's `rebuild` (`python -m services.remediation rebuild`): the read models
(plans, items, committees, the capacity building done for items) rebuilt from the service's own
event store. The advisory service's sessions and visits are in it too: the consumer records each
as a `CapacityBuilding` event of the factory, so a rebuild needs nothing but this history. Each stream is folded once, with the aggregate's own `evolve`, and
its rows come from the same functions the live projection uses; rows are written in batches by
binary COPY while the history is read ahead on a second connection, in one transaction that
readers see only once it has committed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, text

from libs.events.history import copy_rows, read_ahead, streams
from libs.servicekit.service import RebuildContext
from services.remediation.domain.capacity import CAPACITY
from services.remediation.domain.committee import COMMITTEE
from services.remediation.domain.plan_state import PLAN
from services.remediation.domain.views import (
    capacity_rows,
    committee_summary,
    item_row,
    plan_summary,
)
from services.remediation.settings import RemediationSettings
from services.remediation.tables import (
    SCHEMA,
    capacity_building,
    committee,
    improvement_item,
    improvement_plan,
)

# rows kept before a COPY: bounds memory, keeps round trips few
FLUSH_ROWS = 2_000


@dataclass(frozen=True)
class RebuildReport:
    events: int
    plans: int
    items: int
    committees: int
    capacity_building: int = 0

    def summary(self) -> str:
        return (
            f"{self.plans} plans, {self.items} items, {self.committees} committees, "
            f"{self.capacity_building} capacity-building rows"
        )


async def rebuild(context: RebuildContext[RemediationSettings]) -> RebuildReport:
    """Replace the read models with what the whole history gives. Commands that write them wait
    for the rebuild to commit (the tables are locked against writers, not readers)."""
    engine, registry = context.engine, context.registry
    policy = context.settings.due_date_policy()
    pending: dict[Any, list[dict[str, Any]]] = {
        improvement_plan: [],
        improvement_item: [],
        committee: [],
        capacity_building: [],
    }
    counts = {improvement_plan: 0, improvement_item: 0, committee: 0, capacity_building: 0}
    events = 0
    async with engine.begin() as connection, engine.connect() as reader:
        await connection.execute(
            text(
                f"LOCK TABLE {SCHEMA}.improvement_plan, {SCHEMA}.improvement_item, "
                f"{SCHEMA}.committee, {SCHEMA}.capacity_building IN EXCLUSIVE MODE"
            )
        )
        for table in pending:
            await connection.execute(delete(table))

        async def flush(force: bool = False) -> None:
            for table, rows in pending.items():
                if rows and (force or len(rows) >= FLUSH_ROWS):
                    await copy_rows(connection, table, rows)
                    counts[table] += len(rows)
                    rows.clear()

        builders: dict[str, Callable[[str, list[Any]], None]] = {}

        def plan_rows(factory_id: str, history: list[Any]) -> None:
            plan = PLAN.fold(history)
            pending[improvement_plan].append(plan_summary(factory_id, plan, policy))
            pending[improvement_item].extend(item_row(item) for item in plan.items.values())

        def committee_rows(factory_id: str, history: list[Any]) -> None:
            pending[committee].append(committee_summary(factory_id, COMMITTEE.fold(history)))

        def capacity_building_rows(_factory_id: str, history: list[Any]) -> None:
            pending[capacity_building].extend(capacity_rows(CAPACITY.fold(history)))

        builders[PLAN.stream_prefix] = plan_rows
        builders[COMMITTEE.stream_prefix] = committee_rows
        builders[CAPACITY.stream_prefix] = capacity_building_rows
        # the history is read on its own connection, ahead, while this one writes; its one
        # statement starts after the lock, so it sees every event committed before the rebuild
        history = streams(
            reader,
            SCHEMA,
            registry,
            progress=lambda done, total: context.progress("events", done, total),
        )
        async for stream in read_ahead(history):
            events += len(stream.events)
            for prefix, build in builders.items():
                if stream.stream_id.startswith(prefix):
                    build(stream.stream_id[len(prefix) :], [e.event for e in stream.events])
                    break
            await flush()
        await flush(force=True)
    return RebuildReport(
        events,
        counts[improvement_plan],
        counts[improvement_item],
        counts[committee],
        counts[capacity_building],
    )
