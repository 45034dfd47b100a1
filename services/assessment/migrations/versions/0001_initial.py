"""The assessment schema: event store, idempotency keys, and the factory/assessment read models.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from libs.events.tables import create_event_store_tables, drop_event_store_tables
from libs.servicekit.idempotency import define_idempotency_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "assessment"


def upgrade() -> None:
    bind = op.get_bind()
    create_event_store_tables(bind, SCHEMA)
    define_idempotency_table(sa.MetaData(schema=SCHEMA)).create(bind)
    op.create_table(
        "factory",
        sa.Column("factory_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("sector_isic", sa.String(4), nullable=False),
        sa.Column("workforce_women", sa.Integer, nullable=False),
        sa.Column("workforce_men", sa.Integer, nullable=False),
        sa.Column("os_id", sa.String(15), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("factory_id", name="pk_factory"),
        sa.UniqueConstraint("os_id", name="uq_factory_os_id"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_factory_country_factory_id", "factory", ["country", "factory_id"], schema=SCHEMA
    )
    op.create_table(
        "assessment",
        sa.Column("assessment_id", sa.String(64), nullable=False),
        sa.Column("factory_id", sa.String(64), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("catalogue_version", sa.String(20), nullable=False),
        sa.Column("scheduled_for", sa.Date, nullable=False),
        sa.Column("assessors", JSONB, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("report_date", sa.Date, nullable=True),
        sa.Column("completed_by", sa.String(200), nullable=True),
        sa.Column("summary", JSONB, nullable=True),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("assessment_id", name="pk_assessment"),
        sa.UniqueConstraint("factory_id", "cycle", name="uq_assessment_factory_id_cycle"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_assessment_status_report_date", "assessment", ["status", "report_date"], schema=SCHEMA
    )
    op.create_table(
        "finding",
        sa.Column("assessment_id", sa.String(64), nullable=False),
        sa.Column("question_id", sa.String(20), nullable=False),
        sa.Column("cluster_id", sa.String(3), nullable=False),
        sa.Column("compliance_point_id", sa.String(7), nullable=False),
        sa.Column("critical", sa.Boolean, nullable=False),
        sa.Column("zero_tolerance", sa.Boolean, nullable=False),
        sa.Column("result", sa.String(20), nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("evidence_refs", JSONB, nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("corrected", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.PrimaryKeyConstraint("assessment_id", "question_id", name="pk_finding"),
        schema=SCHEMA,
    )
    op.create_table(
        "finding_response",
        sa.Column("response_id", sa.Integer, sa.Identity(always=True), nullable=False),
        sa.Column("assessment_id", sa.String(64), nullable=False),
        sa.Column("question_id", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("responded_by", sa.String(200), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("response_id", name="pk_finding_response"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_finding_response_assessment_id_question_id",
        "finding_response",
        ["assessment_id", "question_id"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("finding_response", "finding", "assessment", "factory", "idempotency_key"):
        op.drop_table(table, schema=SCHEMA)
    drop_event_store_tables(op.get_bind(), SCHEMA)
