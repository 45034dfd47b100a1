"""The first migration is frozen (it imports no live table definitions) and still creates exactly
the tables the code defines: alembic's autogenerate comparison finds nothing to change."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.servicekit.migrations import alembic_config, live_metadata, schema_drift
from libs.servicekit.settings import async_database_url
from services.remediation import tables
from services.remediation.service import SERVICE
from services.remediation.tables import SCHEMA


async def test_the_migrated_schema_is_the_live_one(migrated_database: str) -> None:
    """(That no revision imports live tables is checked for every service by
    tests/test_service_structure.py.)"""
    metadata = live_metadata(SCHEMA, tables.metadata)
    assert await schema_drift(migrated_database, SCHEMA, metadata) == []


async def test_0002_adds_the_country_and_marks_the_items_of_published_plans(
    database_url: str,
) -> None:
    """Upgrading a database of 0001: plans get a country column (unknown until the next report or
    a rebuild) and the items of a plan published before count as published at its latest
    publication (a superset: the deadline scheduler then looks at a factory early, never late)."""
    config = alembic_config(database_url, SERVICE.migrations, SCHEMA)
    await asyncio.to_thread(command.upgrade, config, "0001")
    engine = create_async_engine(async_database_url(database_url))
    plan = (
        "INSERT INTO remediation.improvement_plan (factory_id, version, total, open, in_progress, "
        "done, verified, overdue, share_verified, published_version, publication_late) "
        "VALUES (:factory, 9, 1, 1, 0, 0, 0, 0, 0, :published, false)"
    )
    item = (
        "INSERT INTO remediation.improvement_item (item_id, factory_id, assessment_id, cycle, "
        "report_date, cluster_id, cluster_name, compliance_point_id, compliance_point_name, "
        "question_id, question_text, critical, zero_tolerance, persistent, evidence, status, "
        "due_date, latest_due_date, overdue) VALUES (:item, :factory, 'a', 1, '2024-03-01', 'c', "
        "'c', 'p', 'p', 'q', 'q', false, false, false, '', 'open', '2024-03-20', '2024-03-31', "
        "false)"
    )
    try:
        async with engine.begin() as connection:
            for factory, published in (("published", 7), ("draft", None)):
                await connection.execute(text(plan), {"factory": factory, "published": published})
                await connection.execute(text(item), {"item": f"i-{factory}", "factory": factory})
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine.connect() as connection:
            found = (
                await connection.execute(
                    text(
                        "SELECT i.factory_id, i.published_in, p.country "
                        "FROM remediation.improvement_item i JOIN remediation.improvement_plan p "
                        "USING (factory_id) ORDER BY i.factory_id"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(row) for row in found] == [("draft", None, None), ("published", 7, None)]
