"""Read-side queries of the remediation service, for the API and the deadline scheduler; each runs
on the connection the caller passes (`store.reading()`)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    and_,
    case,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from services.remediation.domain.plan_events import ItemStatus
from services.remediation.tables import (
    capacity_building,
    committee,
    improvement_item,
    improvement_plan,
)

# PostgreSQL's jsonpath array subscripts are 32-bit integers
JSONPATH_SUBSCRIPT_MAX = 2**31 - 1


@dataclass(frozen=True)
class ItemFilter:
    status: ItemStatus | None = None
    critical: bool | None = None
    overdue: bool | None = None
    persistent: bool | None = None


async def plan_row(connection: AsyncConnection, factory_id: str) -> dict[str, Any] | None:
    row = (
        await connection.execute(
            select(improvement_plan).where(improvement_plan.c.factory_id == factory_id)
        )
    ).first()
    return dict(row._mapping) if row else None


async def plan_country(connection: AsyncConnection, factory_id: str) -> str | None:
    """The country of the factory's plan (None: no plan, or no report stated it yet)."""
    country = await connection.scalar(
        select(improvement_plan.c.country).where(improvement_plan.c.factory_id == factory_id)
    )
    return None if country is None else str(country)


async def plan_rows(
    connection: AsyncConnection,
    *,
    after: str | None,
    limit: int,
    factory_id: str | None,
    countries: frozenset[str] | None = None,
) -> list[dict[str, Any]]:
    """Plans by factory id; `countries`: only those of these country programmes."""
    query = select(improvement_plan).order_by(improvement_plan.c.factory_id).limit(limit)
    if after is not None:
        query = query.where(improvement_plan.c.factory_id > after)
    if factory_id is not None:
        query = query.where(improvement_plan.c.factory_id == factory_id)
    if countries is not None:
        query = query.where(improvement_plan.c.country.in_(sorted(countries)))
    return [dict(row._mapping) for row in await connection.execute(query)]


async def item_rows(
    connection: AsyncConnection,
    factory_id: str,
    item_filter: ItemFilter,
    *,
    after: tuple[date, str] | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Items ordered by due date; `overdue` means flagged overdue and not yet verified."""
    item = improvement_item.c
    query = select(improvement_item).where(item.factory_id == factory_id)
    if item_filter.status is not None:
        query = query.where(item.status == item_filter.status.value)
    if item_filter.critical is not None:
        query = query.where(item.critical.is_(item_filter.critical))
    if item_filter.persistent is not None:
        query = query.where(item.persistent.is_(item_filter.persistent))
    if item_filter.overdue is not None:
        overdue_now = and_(item.overdue.is_(True), item.status != ItemStatus.VERIFIED.value)
        query = query.where(overdue_now if item_filter.overdue else ~overdue_now)
    if after is not None:
        after_due, after_id = after
        query = query.where(
            or_(
                item.due_date > after_due,
                and_(item.due_date == after_due, item.item_id > after_id),
            )
        )
    query = query.order_by(item.due_date, item.item_id).limit(limit)
    return [dict(row._mapping) for row in await connection.execute(query)]


async def item_row(
    connection: AsyncConnection, factory_id: str, item_id: str
) -> dict[str, Any] | None:
    row = (
        await connection.execute(
            select(improvement_item).where(
                improvement_item.c.factory_id == factory_id, improvement_item.c.item_id == item_id
            )
        )
    ).first()
    return dict(row._mapping) if row else None


async def capacity_building_of(
    connection: AsyncConnection, factory_id: str, item_ids: Collection[str]
) -> dict[str, list[dict[str, Any]]]:
    """The sessions and visits of the factory that named each of these items, by date (the
    factory's own only: an activity of another factory naming one of its item ids never shows)."""
    if not item_ids:
        return {}
    done = capacity_building.c
    query = (
        select(capacity_building)
        .where(done.factory_id == factory_id, done.item_id.in_(sorted(set(item_ids))))
        .order_by(done.item_id, done.start_date, done.kind, done.source_id)
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for row in await connection.execute(query):
        values = dict(row._mapping)
        del values["factory_id"]
        found.setdefault(values.pop("item_id"), []).append(values)
    return found


async def remediation_record(connection: AsyncConnection, factory_id: str) -> list[dict[str, Any]]:
    """Per assessment cycle: items opened, items verified, average days from report to verification."""
    item = improvement_item.c
    verified = item.status == ItemStatus.VERIFIED.value
    days_to_verify = (
        func.extract("epoch", item.verified_at - func.cast(item.report_date, DateTime)) / 86400
    )
    query = (
        select(
            item.assessment_id,
            item.cycle,
            item.report_date,
            func.count().label("items_opened"),
            func.count().filter(verified).label("items_verified"),
            func.count().filter(item.persistent.is_(True)).label("items_persistent"),
            func.avg(case((verified, days_to_verify))).label("average_days_to_verification"),
        )
        .where(item.factory_id == factory_id)
        .group_by(item.assessment_id, item.cycle, item.report_date)
        .order_by(item.cycle, item.report_date)
    )
    rows = []
    for row in await connection.execute(query):
        values = dict(row._mapping)
        average = values["average_days_to_verification"]
        values["average_days_to_verification"] = (
            round(float(average), 1) if average is not None else None
        )
        rows.append(values)
    return rows


async def factories_with_due_deadlines(connection: AsyncConnection, today: date) -> list[str]:
    """Factories whose plan has an item or a first publication past due and not yet flagged (an
    item's binding due date: its own once published, the programme's deadline before)."""
    item = improvement_item.c
    plan = improvement_plan.c
    binding_due_date = case(
        (item.published_in.is_not(None), item.due_date), else_=item.latest_due_date
    )
    items_due = select(item.factory_id).where(
        item.overdue.is_(False),
        item.status != ItemStatus.VERIFIED.value,
        binding_due_date < today,
    )
    publication_due = select(plan.factory_id).where(
        plan.first_published_at.is_(None),
        plan.publication_late.is_(False),
        plan.publication_due_date < today,
    )
    query = items_due.union(publication_due)
    return sorted(str(factory_id) for factory_id in (await connection.scalars(query)).all())


def _jsonpath(path: str) -> ColumnElement[Any]:
    # a constant path (the variables carry the numbers), typed so PostgreSQL picks the function
    return literal_column(f"'{path}'::jsonpath")


async def committee_row(
    connection: AsyncConnection, factory_id: str, *, meetings: int | None = None
) -> dict[str, Any] | None:
    """The committee; with `meetings`, only that many of its meetings (the first logged) and
    `meeting_count`, so a long-lived committee's row is not read whole."""
    if meetings is None:
        row = (
            await connection.execute(select(committee).where(committee.c.factory_id == factory_id))
        ).first()
        return dict(row._mapping) if row else None
    query = select(
        committee.c.factory_id,
        committee.c.version,
        committee.c.members,
        func.jsonb_path_query_array(
            committee.c.meetings,
            _jsonpath("$[0 to $last]"),
            func.jsonb_build_object("last", meetings - 1),
        ).label("meetings"),
        func.jsonb_array_length(committee.c.meetings).label("meeting_count"),
    ).where(committee.c.factory_id == factory_id)
    found = (await connection.execute(query)).first()
    return dict(found._mapping) if found else None


async def committee_meetings(
    connection: AsyncConnection, factory_id: str, *, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int] | None:
    """Meetings `offset` to `offset + limit - 1` in the order they were logged (meetings are only
    ever appended, so a position in that order never moves), and how many there are. A jsonpath
    subscript is a 32-bit integer: the last one is clipped to it (a cursor's offset is at most
    2^31 - 1; no committee holds that many meetings)."""
    last = min(offset + limit - 1, JSONPATH_SUBSCRIPT_MAX)
    query = select(
        func.jsonb_path_query_array(
            committee.c.meetings,
            _jsonpath("$[$first to $last]"),
            func.jsonb_build_object("first", offset, "last", last),
        ),
        func.jsonb_array_length(committee.c.meetings),
    ).where(committee.c.factory_id == factory_id)
    found = (await connection.execute(query)).first()
    if found is None:
        return None
    page, count = found
    return list(page), int(count)


@dataclass(frozen=True)
class ItemToImport:
    """What an import of an item's history needs to know of the item, and its plan's country."""

    item_id: str
    factory_id: str
    country: str | None
    report_date: date
    due_date: date
    latest_due_date: date
    published_in: int | None
    # the report date of the same question's item of the factory's next cycle, if it has one
    next_cycle_report_date: date | None


async def items_to_import(
    connection: AsyncConnection, item_ids: Collection[str]
) -> dict[str, ItemToImport]:
    """The items among `item_ids` this service has, by id."""
    item = improvement_item.alias("item")
    following = improvement_item.alias("following")
    next_report = (
        select(func.min(following.c.report_date))
        .where(
            following.c.factory_id == item.c.factory_id,
            following.c.question_id == item.c.question_id,
            following.c.cycle == item.c.cycle + 1,
        )
        .scalar_subquery()
    )
    query = select(
        item.c.item_id,
        item.c.factory_id,
        improvement_plan.c.country,
        item.c.report_date,
        item.c.due_date,
        item.c.latest_due_date,
        item.c.published_in,
        next_report.label("next_cycle_report_date"),
    ).where(
        item.c.item_id.in_(sorted(set(item_ids))),
        improvement_plan.c.factory_id == item.c.factory_id,
    )
    return {row.item_id: ItemToImport(**row._mapping) for row in await connection.execute(query)}


async def assessments_with_items(
    connection: AsyncConnection, assessment_ids: Collection[str]
) -> dict[str, str | None]:
    """The assessments among `assessment_ids` that have items here, with their plan's country."""
    item = improvement_item.c
    query = (
        select(item.assessment_id, improvement_plan.c.country)
        .where(
            item.assessment_id.in_(sorted(set(assessment_ids))),
            improvement_plan.c.factory_id == item.factory_id,
        )
        .distinct()
    )
    return {row[0]: row[1] for row in await connection.execute(query)}


async def plan_countries(
    connection: AsyncConnection, factory_ids: Collection[str]
) -> dict[str, str | None]:
    """The factories among `factory_ids` that have a plan here (an assessment of theirs reached
    this service), with their country."""
    plan = improvement_plan.c
    query = select(plan.factory_id, plan.country).where(
        plan.factory_id.in_(sorted(set(factory_ids)))
    )
    return {row[0]: row[1] for row in await connection.execute(query)}
