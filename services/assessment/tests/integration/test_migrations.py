"""The migrations are frozen and complete: no revision imports live table definitions, and the
migrated schema is exactly what the live tables describe (Alembic finds nothing to change)."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from libs.servicekit.migrations import alembic_config, run_migrations
from libs.servicekit.settings import async_database_url
from services.assessment.tables import SCHEMA, metadata

MIGRATIONS = Path(__file__).parents[2] / "migrations"
# What a frozen revision may import: Alembic, SQLAlchemy's types and the standard library.
ALLOWED_IMPORTS = ("alembic", "sqlalchemy", "typing", "__future__")


def test_no_revision_imports_live_table_definitions() -> None:
    revisions = sorted((MIGRATIONS / "versions").glob("*.py"))
    assert revisions
    for revision in revisions:
        tree = ast.parse(revision.read_text(), filename=str(revision))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in ALLOWED_IMPORTS, f"{revision.name} imports {name}"


def _ours(name: str | None, type_: str, _parents: Any) -> bool:
    """The service's schema, without Alembic's own bookkeeping table."""
    if type_ == "schema":
        return name == SCHEMA
    return not (type_ == "table" and name == "alembic_version")


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "include_schemas": True,
            "include_name": _ours,
            "compare_type": True,
            "compare_server_default": True,
        },
    )
    return list(compare_metadata(context, metadata))


async def _compare(database_url: str) -> list[Any]:
    engine = create_async_engine(async_database_url(database_url))
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_differences)
    finally:
        await engine.dispose()


async def _tables(database_url: str) -> set[str]:
    engine = create_async_engine(async_database_url(database_url))
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"),
                {"schema": SCHEMA},
            )
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


@pytest.mark.integration
async def test_the_migrated_schema_is_what_the_tables_describe(database_url: str) -> None:
    await asyncio.to_thread(run_migrations, database_url, MIGRATIONS, SCHEMA)
    assert await _compare(database_url) == []
    migrated = {f"{SCHEMA}.{name}" for name in await _tables(database_url)}
    assert migrated == set(metadata.tables) | {f"{SCHEMA}.alembic_version"}


@pytest.mark.integration
async def test_downgrade_removes_every_table(database_url: str) -> None:
    await asyncio.to_thread(run_migrations, database_url, MIGRATIONS, SCHEMA)
    config = alembic_config(database_url, MIGRATIONS, SCHEMA)
    await asyncio.to_thread(command.downgrade, config, "base")
    assert await _tables(database_url) <= {"alembic_version"}
