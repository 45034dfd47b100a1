"""The assessment schema: event store, idempotency keys, and the factory/assessment read models.

Frozen: the DDL is written out here and imports no live table definitions (neither the service's
tables.py nor the shared event-store and idempotency tables), so changing those later never
changes what this revision did.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "assessment"


def _created_at(name: str) -> "sa.Column[Any]":
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def _event_store() -> None:
    op.create_table(
        "stream",
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("stream_type", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        _created_at("updated_at"),
        sa.PrimaryKeyConstraint("stream_id", name="pk_stream"),
        schema=SCHEMA,
    )
    op.create_table(
        "event",
        sa.Column("position", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("event_id", UUID(as_uuid=False), nullable=False),
        sa.Column("event_type", sa.String(300), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("data", JSONB, nullable=False),
        sa.Column("metadata", JSONB, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "version", name="pk_event"),
        sa.UniqueConstraint("position", name="uq_event_position"),
        sa.UniqueConstraint("event_id", name="uq_event_event_id"),
        schema=SCHEMA,
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("event_id", UUID(as_uuid=False), nullable=False),
        sa.Column("nats_subject", sa.String(300), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("traceparent", sa.String(100), nullable=True),
        _created_at("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        schema=SCHEMA,
    )
    op.create_table(
        "snapshot",
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", JSONB, nullable=False),
        _created_at("created_at"),
        sa.PrimaryKeyConstraint("stream_id", name="pk_snapshot"),
        schema=SCHEMA,
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        _created_at("processed_at"),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
        schema=SCHEMA,
    )
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("nats_subject", sa.String(300), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        _created_at("failed_at"),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replay_error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letter"),
        schema=SCHEMA,
    )


def _idempotency_keys() -> None:
    op.create_table(
        "idempotency_key",
        sa.Column("principal", sa.Text, nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("response_body", sa.LargeBinary, nullable=True),
        sa.Column("response_headers", JSONB, nullable=True),
        _created_at("created_at"),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("principal", "key", name="idempotency_key_pkey"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_idempotency_key_created_at", "idempotency_key", ["created_at"], schema=SCHEMA
    )


def upgrade() -> None:
    _event_store()
    _idempotency_keys()
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
    for table in (
        "finding_response",
        "finding",
        "assessment",
        "factory",
        "idempotency_key",
        "dead_letter",
        "inbox",
        "snapshot",
        "outbox",
        "event",
        "stream",
    ):
        op.drop_table(table, schema=SCHEMA)
