"""The migrations still create exactly the tables the code defines (tables.py): alembic's
autogenerate comparison finds nothing to change. (That no revision imports live tables is checked
for every service by tests/test_service_structure.py.)"""

from __future__ import annotations

from libs.servicekit.migrations import live_metadata, schema_drift
from services.buyer_sharing import tables
from services.buyer_sharing.tables import SCHEMA


async def test_the_migrated_schema_is_the_live_one(migrated_database: str) -> None:
    metadata = live_metadata(SCHEMA, tables.metadata)
    assert await schema_drift(migrated_database, SCHEMA, metadata) == []
