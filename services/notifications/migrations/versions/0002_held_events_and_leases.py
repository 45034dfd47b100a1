"""Held events and message leases.

`held_event`: a factory event that some interested endpoint's buyer had no grant for when it was
fanned out (grants and factory events travel on different streams, so the grant may simply not
have arrived yet); released when a SharingGranted arrives, dropped after a bounded window.

`message.lease`: a counter bumped at every claim; an attempt's outcome is written only while its
lease is still the message's current one, so a late outcome never overwrites a newer one.

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-03
"""

from __future__ import annotations

from alembic import context, op
from sqlalchemy import Column, DateTime, Index, Integer, LargeBinary, MetaData, String, Table, text

from libs.events.tables import NAMING_CONVENTION

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _schema() -> str:
    return str(context.config.attributes.get("schema", "notifications"))


def upgrade() -> None:
    schema = _schema()
    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    held = Table(
        "held_event",
        metadata,
        Column("event_id", String(64), primary_key=True),
        Column("factory_id", String(64), nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("event_time", DateTime(timezone=True), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("held_at", DateTime(timezone=True), nullable=False),
        Column("held_until", DateTime(timezone=True), nullable=False),
        Index("held_event_factory", "factory_id", "held_until"),
        Index("held_event_expiry", "held_until"),
    )
    held.create(op.get_bind())
    op.add_column(
        "message",
        Column("lease", Integer, nullable=False, server_default=text("0")),
        schema=schema,
    )


def downgrade() -> None:
    schema = _schema()
    op.drop_column("message", "lease", schema=schema)
    op.drop_table("held_event", schema=schema)
