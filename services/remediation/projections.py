"""Read models of the remediation service (plans, items, committees) and their queries.

They are projected inline, in the unit of work that appends the events, from the aggregate as it
stands after the change: whatever order or how often events arrive, the rows equal the folded stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.tables import NAMING_CONVENTION
from libs.servicekit.idempotency import define_idempotency_table
from services.remediation.domain import Committee, DueDatePolicy, ImprovementPlan, ItemStatus

SCHEMA = "remediation"

metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)

improvement_plan = Table(
    "improvement_plan",
    metadata,
    Column("factory_id", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("open", Integer, nullable=False),
    Column("in_progress", Integer, nullable=False),
    Column("done", Integer, nullable=False),
    Column("verified", Integer, nullable=False),
    Column("overdue", Integer, nullable=False),
    Column("share_verified", Float, nullable=False),
    Column("first_report_date", Date, nullable=True),
    Column("publication_due_date", Date, nullable=True),
    Column("first_published_at", DateTime(timezone=True), nullable=True),
    Column("last_published_at", DateTime(timezone=True), nullable=True),
    Column("published_version", Integer, nullable=True),
    Column("publication_late", Boolean, nullable=False),
)

improvement_item = Table(
    "improvement_item",
    metadata,
    Column("item_id", String(64), primary_key=True),
    Column("factory_id", String(200), nullable=False, index=True),
    Column("assessment_id", String(200), nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("report_date", Date, nullable=False),
    Column("cluster_id", String(200), nullable=False),
    Column("cluster_name", Text, nullable=False),
    Column("compliance_point_id", String(200), nullable=False),
    Column("compliance_point_name", Text, nullable=False),
    Column("question_id", String(200), nullable=False),
    Column("question_text", Text, nullable=False),
    Column("critical", Boolean, nullable=False),
    Column("zero_tolerance", Boolean, nullable=False),
    Column("persistent", Boolean, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("due_date", Date, nullable=False),
    Column("latest_due_date", Date, nullable=False),
    Column("root_cause", Text, nullable=True),
    Column("planned_action", Text, nullable=True),
    Column("responsible_person", Text, nullable=True),
    Column("overdue", Boolean, nullable=False),
    Column("verified_by", Text, nullable=True),
    Column("verified_at", DateTime(timezone=True), nullable=True),
    Column("reopen_reason", Text, nullable=True),
)

committee = Table(
    "committee",
    metadata,
    Column("factory_id", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("members", JSONB, nullable=False),
    Column("meetings", JSONB, nullable=False),
)

idempotency_key = define_idempotency_table(metadata)

ITEM_COLUMNS = [column.name for column in improvement_item.columns]


# projection --------------------------------------------------------------------------------------


async def project_plan(
    connection: AsyncConnection,
    plan: ImprovementPlan,
    version: int,
    item_ids: set[str],
    policy: DueDatePolicy,
) -> None:
    """Upsert the plan's summary row and the rows of the items that changed."""
    progress = plan.progress()
    by_status = progress["by_status"]
    first_publication = plan.publications[0] if plan.publications else None
    last_publication = plan.publications[-1] if plan.publications else None
    row: dict[str, Any] = {
        "factory_id": plan.factory_id,
        "version": version,
        "total": progress["total"],
        "open": by_status["open"],
        "in_progress": by_status["in_progress"],
        "done": by_status["done"],
        "verified": by_status["verified"],
        "overdue": progress["overdue"],
        "share_verified": progress["share_verified"],
        "first_report_date": plan.first_report_date,
        "publication_due_date": plan.publication_due_date(policy),
        "first_published_at": first_publication.published_at if first_publication else None,
        "last_published_at": last_publication.published_at if last_publication else None,
        "published_version": last_publication.plan_version if last_publication else None,
        "publication_late": bool(
            (first_publication and first_publication.late) or plan.publication_overdue_flagged
        ),
    }
    statement = insert(improvement_plan).values(row)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=["factory_id"],
            set_={key: statement.excluded[key] for key in row if key != "factory_id"},
        )
    )
    rows = [
        plan.items[item_id].model_dump() for item_id in sorted(item_ids) if item_id in plan.items
    ]
    if rows:
        for item_row in rows:
            item_row["status"] = ItemStatus(item_row["status"]).value
        items_statement = insert(improvement_item).values(rows)
        await connection.execute(
            items_statement.on_conflict_do_update(
                index_elements=["item_id"],
                set_={
                    key: items_statement.excluded[key] for key in ITEM_COLUMNS if key != "item_id"
                },
            )
        )


async def project_committee(connection: AsyncConnection, current: Committee, version: int) -> None:
    row = {
        "factory_id": current.factory_id,
        "version": version,
        "members": [member.model_dump(mode="json") for member in current.members],
        "meetings": [meeting.model_dump(mode="json") for meeting in current.meetings],
    }
    statement = insert(committee).values(row)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=["factory_id"],
            set_={key: statement.excluded[key] for key in row if key != "factory_id"},
        )
    )


# queries -----------------------------------------------------------------------------------------


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


async def plan_rows(
    connection: AsyncConnection, *, after: str | None, limit: int, factory_id: str | None
) -> list[dict[str, Any]]:
    query = select(improvement_plan).order_by(improvement_plan.c.factory_id).limit(limit)
    if after is not None:
        query = query.where(improvement_plan.c.factory_id > after)
    if factory_id is not None:
        query = query.where(improvement_plan.c.factory_id == factory_id)
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
    """Factories whose plan has an item or a first publication past due and not yet flagged."""
    item = improvement_item.c
    plan = improvement_plan.c
    items_due = select(item.factory_id).where(
        item.overdue.is_(False), item.status != ItemStatus.VERIFIED.value, item.due_date < today
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
    ever appended, so a position in that order never moves), and how many there are."""
    query = select(
        func.jsonb_path_query_array(
            committee.c.meetings,
            _jsonpath("$[$first to $last]"),
            func.jsonb_build_object("first", offset, "last", offset + limit - 1),
        ),
        func.jsonb_array_length(committee.c.meetings),
    ).where(committee.c.factory_id == factory_id)
    found = (await connection.execute(query)).first()
    if found is None:
        return None
    page, count = found
    return list(page), int(count)
