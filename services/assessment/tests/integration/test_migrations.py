"""The migrations are complete: the migrated schema is exactly what the live tables describe
(Alembic finds nothing to change), and a downgrade removes it. That no revision imports live
tables is checked for every service by tests/test_service_structure.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.servicekit.migrations import (
    alembic_config,
    live_metadata,
    run_migrations,
    schema_drift,
)
from libs.servicekit.settings import async_database_url
from services.assessment.tables import SCHEMA, metadata

MIGRATIONS = Path(__file__).parents[2] / "migrations"
# What a frozen revision may import: Alembic, SQLAlchemy's types and the standard library.
ALLOWED_IMPORTS = ("alembic", "sqlalchemy", "typing", "__future__")


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
    assert await schema_drift(database_url, SCHEMA, live_metadata(SCHEMA, metadata)) == []
    migrated = {f"{SCHEMA}.{name}" for name in await _tables(database_url)}
    assert migrated == set(metadata.tables) | {f"{SCHEMA}.alembic_version"}


@pytest.mark.integration
async def test_downgrade_removes_every_table(database_url: str) -> None:
    await asyncio.to_thread(run_migrations, database_url, MIGRATIONS, SCHEMA)
    config = alembic_config(database_url, MIGRATIONS, SCHEMA)
    await asyncio.to_thread(command.downgrade, config, "base")
    assert await _tables(database_url) <= {"alembic_version"}
