"""The first migration is frozen (it imports no live table definitions) and still creates exactly
the tables the code defines: alembic's autogenerate comparison finds nothing to change."""

from __future__ import annotations

import ast
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from libs.events.tables import NAMING_CONVENTION, define_event_store_tables
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
