"""The first migration is frozen (it imports no live table definitions) and still creates exactly
the tables the code defines: alembic's autogenerate comparison finds nothing to change."""

from __future__ import annotations

import ast
import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.events.tables import NAMING_CONVENTION, define_event_store_tables
from libs.servicekit.migrations import alembic_config
from libs.servicekit.settings import async_database_url
from services.remediation import tables
from services.remediation.service import SERVICE
from services.remediation.tables import SCHEMA


def test_revisions_import_no_live_definitions() -> None:
    for revision in sorted((SERVICE.migrations / "versions").glob("*.py")):
        tree = ast.parse(revision.read_text())
        imported = [
            node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        ] + [
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        ]
        assert not [name for name in imported if name.startswith(("services", "libs"))], revision


def live_metadata() -> MetaData:
    """Every table of the schema as the code defines it today: read models, idempotency keys and
    the event store's own tables."""
    metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)
    for table in tables.metadata.tables.values():
        table.to_metadata(metadata)
    define_event_store_tables(metadata)
    return metadata


async def test_the_migrated_schema_is_the_live_one(migrated_database: str) -> None:
    metadata = live_metadata()

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_schemas": True,
                "include_name": lambda name, type_, _parents: type_ != "schema" or name == SCHEMA,
                "version_table_schema": SCHEMA,
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        found: list[Any] = compare_metadata(context, metadata)
        return found

    engine = create_async_engine(async_database_url(migrated_database))
    try:
        async with engine.connect() as connection:
            found = await connection.run_sync(differences)
    finally:
        await engine.dispose()
    assert found == []


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
