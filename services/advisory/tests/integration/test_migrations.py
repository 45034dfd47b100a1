"""The first migration is frozen and still creates exactly the tables the code defines: alembic's
autogenerate comparison finds nothing to change."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from libs.events.tables import NAMING_CONVENTION
from libs.servicekit.settings import async_database_url
from services.advisory import tables
from services.advisory.tables import SCHEMA


def live_metadata() -> MetaData:
    metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)
    for table in tables.metadata.tables.values():
        table.to_metadata(metadata)
    return metadata


async def test_the_migrated_schema_is_the_live_one(migrated_database: str) -> None:
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
        found: list[Any] = compare_metadata(context, live_metadata())
        return found

    engine = create_async_engine(async_database_url(migrated_database))
    try:
        async with engine.connect() as connection:
            found = await connection.run_sync(differences)
    finally:
        await engine.dispose()
    assert found == []
