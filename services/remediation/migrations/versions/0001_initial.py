"""Initial schema: the event store (streams, events, outbox, snapshots, inbox, dead letters), the
idempotency keys and the read models (plans, items, committees).

Frozen: the DDL is written out here, so editing a live table definition (services/remediation/
tables.py, libs) never changes what this revision created; a change is a new revision.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = (
    "stream",
    "event",
    "outbox",
    "snapshot",
    "inbox",
    "dead_letter",
    "idempotency_key",
    "improvement_plan",
    "improvement_item",
    "committee",
)


def _schema() -> str:
    return str(context.config.attributes.get("schema", "remediation"))


def _now() -> sa.TextClause:
    return sa.text("now()")


def _event_store(schema: str) -> None:
    op.create_table(
        "stream",
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("stream_type", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.PrimaryKeyConstraint("stream_id", name="pk_stream"),
        schema=schema,
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
        schema=schema,
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("event_id", UUID(as_uuid=False), nullable=False),
        sa.Column("nats_subject", sa.String(300), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("traceparent", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        schema=schema,
    )
    op.create_table(
        "snapshot",
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.PrimaryKeyConstraint("stream_id", name="pk_snapshot"),
        schema=schema,
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column(
            "processed_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
        schema=schema,
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
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replay_error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letter"),
        schema=schema,
    )


def _idempotency_keys(schema: str) -> None:
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
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("principal", "key", name="pk_idempotency_key"),
        schema=schema,
    )
    op.create_index(
        "ix_idempotency_key_created_at", "idempotency_key", ["created_at"], schema=schema
    )


def _read_models(schema: str) -> None:
    op.create_table(
        "improvement_plan",
        sa.Column("factory_id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("open", sa.Integer, nullable=False),
        sa.Column("in_progress", sa.Integer, nullable=False),
        sa.Column("done", sa.Integer, nullable=False),
        sa.Column("verified", sa.Integer, nullable=False),
        sa.Column("overdue", sa.Integer, nullable=False),
        sa.Column("share_verified", sa.Float, nullable=False),
        sa.Column("first_report_date", sa.Date, nullable=True),
        sa.Column("publication_due_date", sa.Date, nullable=True),
        sa.Column("first_published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_version", sa.Integer, nullable=True),
        sa.Column("publication_late", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("factory_id", name="pk_improvement_plan"),
        schema=schema,
    )
    op.create_table(
        "improvement_item",
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("factory_id", sa.String(200), nullable=False),
        sa.Column("assessment_id", sa.String(200), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("report_date", sa.Date, nullable=False),
        sa.Column("cluster_id", sa.String(200), nullable=False),
        sa.Column("cluster_name", sa.Text, nullable=False),
        sa.Column("compliance_point_id", sa.String(200), nullable=False),
        sa.Column("compliance_point_name", sa.Text, nullable=False),
        sa.Column("question_id", sa.String(200), nullable=False),
        sa.Column("question_text", sa.Text, nullable=False),
        sa.Column("critical", sa.Boolean, nullable=False),
        sa.Column("zero_tolerance", sa.Boolean, nullable=False),
        sa.Column("persistent", sa.Boolean, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("latest_due_date", sa.Date, nullable=False),
        sa.Column("root_cause", sa.Text, nullable=True),
        sa.Column("planned_action", sa.Text, nullable=True),
        sa.Column("responsible_person", sa.Text, nullable=True),
        sa.Column("overdue", sa.Boolean, nullable=False),
        sa.Column("verified_by", sa.Text, nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopen_reason", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("item_id", name="pk_improvement_item"),
        schema=schema,
    )
    op.create_index(
        "ix_improvement_item_factory_id", "improvement_item", ["factory_id"], schema=schema
    )
    op.create_table(
        "committee",
        sa.Column("factory_id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("members", JSONB, nullable=False),
        sa.Column("meetings", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("factory_id", name="pk_committee"),
        schema=schema,
    )


def upgrade() -> None:
    schema = _schema()
    _event_store(schema)
    _idempotency_keys(schema)
    _read_models(schema)


def downgrade() -> None:
    schema = _schema()
    for table in reversed(TABLES):
        op.drop_table(table, schema=schema)
