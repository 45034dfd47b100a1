"""The first migration is frozen and still creates exactly the tables the code defines: alembic's
autogenerate comparison finds nothing to change."""

from __future__ import annotations

from libs.servicekit.migrations import live_metadata, schema_drift
from services.advisory import tables
from services.advisory.tables import SCHEMA


async def test_the_migrated_schema_is_the_live_one(migrated_database: str) -> None:
    metadata = live_metadata(SCHEMA, tables.metadata)
    assert await schema_drift(migrated_database, SCHEMA, metadata) == []
