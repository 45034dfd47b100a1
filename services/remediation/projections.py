"""Read models of the remediation service, projected in the unit of work that appends the events
(`Repository(project=…)`), from the aggregate as it stands after the change: whatever order or how
often events arrive, the rows equal the folded stream."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from libs.domain.aggregate import Change
from libs.events.store import UnitOfWork
from services.remediation.domain.capacity import (
    AdvisoryVisitRecorded,
    CapacityBuilding,
    TrainingSessionRecorded,
)
from services.remediation.domain.committee import Committee
from services.remediation.domain.plan_events import ImprovementPlanPublished
from services.remediation.domain.plan_state import Plan
from services.remediation.domain.policy import DueDatePolicy
from services.remediation.domain.views import (
    activity_rows,
    committee_summary,
    item_row,
    plan_summary,
)
from services.remediation.tables import (
    SCHEMA,
    capacity_building,
    committee,
    improvement_item,
    improvement_plan,
)

# SCHEMA: the other services' and the top-level tests' way to this schema's name
__all__ = ["SCHEMA", "plan_projection", "project_capacity", "project_committee", "upsert_plan"]

CAPACITY_KEY = ["factory_id", "item_id", "kind", "source_id"]

ITEM_COLUMNS = [column.name for column in improvement_item.columns]


def plan_projection(
    policy: DueDatePolicy,
) -> Callable[[UnitOfWork, Change[Plan]], Awaitable[None]]:
    """The plan's projection for a deployment's due-date policy (it sets the publication's due
    date)."""

    async def project_plan(unit: UnitOfWork, change: Change[Plan]) -> None:
        item_ids = {
            item_id
            for event in change.events
            if isinstance(item_id := getattr(event, "item_id", None), str)
        }
        if any(isinstance(event, ImprovementPlanPublished) for event in change.events):
            item_ids |= set(change.state.items)  # a publication changes every draft item
        await upsert_plan(unit, change.aggregate_id, change.state, item_ids, policy)

    return project_plan


def _array_type(column: Any) -> str:
    """The PostgreSQL array type an item column's values are sent as."""
    name = type(column.type).__name__
    return {
        "String": "text",
        "Text": "text",
        "Integer": "int",
        "Boolean": "bool",
        "Date": "date",
        "DateTime": "timestamptz",
        "Float": "float8",
    }[name]


def _upsert_sql() -> str:
    """The plan's row and its changed items' rows in one statement (one round trip, prepared once
    per connection by asyncpg): the items from arrays through `unnest`, then the plan's row."""
    item_columns = ", ".join(ITEM_COLUMNS)
    arrays = ", ".join(
        f"${index}::{_array_type(improvement_item.c[name])}[]"
        for index, name in enumerate(ITEM_COLUMNS, start=1)
    )
    item_updates = ", ".join(f"{name} = excluded.{name}" for name in ITEM_COLUMNS[1:])
    offset = len(ITEM_COLUMNS)
    plan_values = ", ".join(f"${offset + index}" for index in range(1, len(PLAN_COLUMNS) + 1))
    plan_updates = ", ".join(f"{name} = excluded.{name}" for name in PLAN_COLUMNS[1:])
    return f"""
WITH items AS (
    INSERT INTO {SCHEMA}.improvement_item ({item_columns})
    SELECT * FROM unnest({arrays})
    ON CONFLICT (item_id) DO UPDATE SET {item_updates}
    RETURNING 1
)
INSERT INTO {SCHEMA}.improvement_plan ({", ".join(PLAN_COLUMNS)})
VALUES ({plan_values})
ON CONFLICT (factory_id) DO UPDATE SET {plan_updates}
"""


PLAN_COLUMNS = [column.name for column in improvement_plan.columns]
UPSERT_SQL = _upsert_sql()


async def upsert_plan(
    unit: UnitOfWork, factory_id: str, plan: Plan, item_ids: set[str], policy: DueDatePolicy
) -> None:
    """Upsert the plan's summary row and the rows of the items that changed, in one statement on
    the unit's driver connection (SQLAlchemy would compile a multi-row VALUES per call: at a batch
    of 200 items that was a third of the consumer's CPU)."""
    row = plan_summary(factory_id, plan, policy)
    rows = [item_row(plan.items[item_id]) for item_id in sorted(item_ids) if item_id in plan.items]
    columns = [[item[name] for item in rows] for name in ITEM_COLUMNS]
    driver = await unit.driver()
    await driver.execute(UPSERT_SQL, *columns, *(row[name] for name in PLAN_COLUMNS))


async def project_committee(unit: UnitOfWork, change: Change[Committee]) -> None:
    row = committee_summary(change.aggregate_id, change.state)
    statement = insert(committee).values(row)
    await unit.connection.execute(
        statement.on_conflict_do_update(
            index_elements=["factory_id"],
            set_={key: statement.excluded[key] for key in row if key != "factory_id"},
        )
    )


async def project_capacity(unit: UnitOfWork, change: Change[CapacityBuilding]) -> None:
    """A recorded session's or visit's rows, one per item it names (whether the plan has the item
    yet or not: the item's reads join on it)."""
    rows = [
        row
        for event in change.events
        if isinstance(event, TrainingSessionRecorded | AdvisoryVisitRecorded)
        for row in activity_rows(event)
    ]
    if not rows:
        return
    statement = insert(capacity_building).values(rows)
    await unit.connection.execute(
        statement.on_conflict_do_update(
            index_elements=CAPACITY_KEY,
            set_={name: statement.excluded[name] for name in rows[0] if name not in CAPACITY_KEY},
        )
    )
