"""A factory's training and advisory summary (issue 18): the facts from the advisory service's
public events, `training_delivery` (a factory's part of a delivered session: counts only) and
`advisory_visit` (a completed visit: no notes), and the summaries recomputed from them,
`training_summary` (per factory, year and course) and `advisory_summary` (per factory and year).
Nothing to fill here: the new durable consumer `buyer_sharing_advisory` reads the ADVISORY stream
from its first message (a rebuild too).

The DDL is a frozen copy of what tables.py said when this revision was written.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-14
"""

from __future__ import annotations

from alembic import context, op
from sqlalchemy import Column, Date, Integer, Numeric, PrimaryKeyConstraint, String

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _schema() -> str:
    return str(context.config.attributes.get("schema", "buyer_sharing"))


def upgrade() -> None:
    schema = _schema()
    op.create_table(
        "training_delivery",
        Column("session_id", String(64), nullable=False),
        Column("factory_id", String(64), nullable=False),
        Column("course_code", String(40), nullable=False),
        Column("course_title", String(200), nullable=False),
        Column("start_date", Date, nullable=False),
        Column("end_date", Date, nullable=False),
        Column("training_days", Integer, nullable=False),
        Column("participants", Integer, nullable=False),
        Column("completions", Integer, nullable=False),
        Column("version", Integer, nullable=False),
        PrimaryKeyConstraint("session_id", "factory_id", name="pk_training_delivery"),
        schema=schema,
    )
    op.create_index(
        "ix_training_delivery_factory_id", "training_delivery", ["factory_id"], schema=schema
    )
    op.create_table(
        "advisory_visit",
        Column("visit_id", String(64), nullable=False),
        Column("factory_id", String(64), nullable=False),
        Column("visited_on", Date, nullable=False),
        Column("duration_days", Numeric(6, 2), nullable=False),
        Column("version", Integer, nullable=False),
        PrimaryKeyConstraint("visit_id", name="pk_advisory_visit"),
        schema=schema,
    )
    op.create_index("ix_advisory_visit_factory_id", "advisory_visit", ["factory_id"], schema=schema)
    op.create_table(
        "training_summary",
        Column("factory_id", String(64), nullable=False),
        Column("year", Integer, nullable=False),
        Column("course_code", String(40), nullable=False),
        Column("course_title", String(200), nullable=False),
        Column("sessions", Integer, nullable=False),
        Column("participants", Integer, nullable=False),
        Column("completions", Integer, nullable=False),
        Column("training_days", Integer, nullable=False),
        Column("latest_start_date", Date, nullable=False),
        PrimaryKeyConstraint("factory_id", "year", "course_code", name="pk_training_summary"),
        schema=schema,
    )
    op.create_table(
        "advisory_summary",
        Column("factory_id", String(64), nullable=False),
        Column("year", Integer, nullable=False),
        Column("visits", Integer, nullable=False),
        Column("advisory_days", Numeric(9, 2), nullable=False),
        Column("latest_visited_on", Date, nullable=False),
        PrimaryKeyConstraint("factory_id", "year", name="pk_advisory_summary"),
        schema=schema,
    )


def downgrade() -> None:
    schema = _schema()
    op.drop_table("advisory_summary", schema=schema)
    op.drop_table("training_summary", schema=schema)
    op.drop_index("ix_advisory_visit_factory_id", "advisory_visit", schema=schema)
    op.drop_table("advisory_visit", schema=schema)
    op.drop_index("ix_training_delivery_factory_id", "training_delivery", schema=schema)
    op.drop_table("training_delivery", schema=schema)
