"""Initial schema: the event store, the idempotency keys and the read models.

Revision ID: 0001
"""

from __future__ import annotations

from alembic import context, op
from sqlalchemy import MetaData

from libs.events.tables import NAMING_CONVENTION, create_event_store_tables
from libs.servicekit.idempotency import define_idempotency_table
from services.remediation import projections

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _schema() -> str:
    return str(context.config.attributes.get("schema", projections.SCHEMA))


def _own_tables(schema: str) -> MetaData:
    """The read models and the idempotency table, in the schema being migrated."""
    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    for table in (
        projections.improvement_plan,
        projections.improvement_item,
        projections.committee,
    ):
        table.to_metadata(metadata, schema=schema)
    define_idempotency_table(metadata)
    return metadata


def upgrade() -> None:
    schema = _schema()
    create_event_store_tables(op.get_bind(), schema)
    _own_tables(schema).create_all(op.get_bind())


def downgrade() -> None:
    schema = _schema()
    _own_tables(schema).drop_all(op.get_bind())
    from libs.events.tables import drop_event_store_tables

    drop_event_store_tables(op.get_bind(), schema)
