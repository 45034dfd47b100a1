"""The advisory schema: event store, idempotency keys, and the read models (factories and their
cycles, courses, surveys, training sessions with their factories and attendance, survey changes
and results, advisory visits, programme figures).

Frozen: the DDL is written out here and imports no live table definitions (neither the service's
tables.py nor the shared event-store and idempotency tables), so changing those later never
changes what this revision did.

Revision ID: 0001
Revises:
Create Date: 2026-12-20
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "advisory"


def _now(name: str) -> "sa.Column[Any]":
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def _text(name: str, length: int, nullable: bool = False) -> "sa.Column[Any]":
    return sa.Column(name, sa.String(length), nullable=nullable)


def _int(name: str, nullable: bool = False) -> "sa.Column[Any]":
    return sa.Column(name, sa.Integer, nullable=nullable)


def _event_store() -> None:
    op.create_table(
        "stream",
        _text("stream_id", 200),
        _text("stream_type", 100),
        _int("version"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("stream_id", name="pk_stream"),
        schema=SCHEMA,
    )
    op.create_table(
        "event",
        sa.Column("position", sa.BigInteger, sa.Identity(always=True), nullable=False),
        _text("stream_id", 200),
        _int("version"),
        sa.Column("event_id", UUID(as_uuid=False), nullable=False),
        _text("event_type", 300),
        _text("subject", 200),
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
        _text("nats_subject", 300),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        _text("traceparent", 100, nullable=True),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        schema=SCHEMA,
    )
    op.create_table(
        "snapshot",
        _text("stream_id", 200),
        _int("version"),
        sa.Column("state", JSONB, nullable=False),
        _now("created_at"),
        sa.PrimaryKeyConstraint("stream_id", name="pk_snapshot"),
        schema=SCHEMA,
    )
    op.create_table(
        "inbox",
        _text("consumer", 200),
        _text("event_id", 200),
        _now("processed_at"),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
        schema=SCHEMA,
    )
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), nullable=False),
        _text("consumer", 200),
        _text("event_id", 200),
        _text("nats_subject", 300),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        _int("attempts"),
        _now("failed_at"),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replay_error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letter"),
        schema=SCHEMA,
    )
    op.create_table(
        "idempotency_key",
        sa.Column("principal", sa.Text, nullable=False),
        _text("key", 255),
        _text("method", 16),
        sa.Column("path", sa.Text, nullable=False),
        _text("request_hash", 64),
        _int("status_code", nullable=True),
        sa.Column("response_body", sa.LargeBinary, nullable=True),
        sa.Column("response_headers", JSONB, nullable=True),
        _now("created_at"),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("principal", "key", name="pk_idempotency_key"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_idempotency_key_created_at", "idempotency_key", ["created_at"], schema=SCHEMA
    )


def _index(table: str, *columns: str) -> None:
    op.create_index(f"ix_{table}_{'_'.join(columns)}", table, list(columns), schema=SCHEMA)


def _factories_and_catalogue() -> None:
    op.create_table(
        "factory",
        _text("factory_id", 64),
        _text("name", 200),
        _text("country", 2, nullable=True),
        _int("version"),
        sa.PrimaryKeyConstraint("factory_id", name="pk_factory"),
        schema=SCHEMA,
    )
    _index("factory", "country", "factory_id")
    op.create_table(
        "factory_cycle",
        _text("factory_id", 64),
        _int("cycle"),
        sa.Column("report_date", sa.Date, nullable=False),
        sa.PrimaryKeyConstraint("factory_id", "cycle", name="pk_factory_cycle"),
        schema=SCHEMA,
    )
    op.create_table(
        "course",
        _text("code", 20),
        _int("course_version"),
        _text("title", 200),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("audience_roles", JSONB, nullable=False),
        _int("duration_days"),
        sa.Column("languages", JSONB, nullable=False),
        sa.Column("topics", JSONB, nullable=False),
        sa.Column("retired", sa.Boolean, nullable=False),
        _int("version"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_course"),
        schema=SCHEMA,
    )
    op.create_table(
        "survey",
        _text("survey_id", 64),
        _text("course_code", 20),
        _int("survey_version"),
        _text("title", 200),
        _int("scale_points"),
        sa.Column("items", JSONB, nullable=False),
        _int("version"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("survey_id", name="pk_survey"),
        schema=SCHEMA,
    )
    _index("survey", "course_code", "survey_id")


def _sessions() -> None:
    op.create_table(
        "training_session",
        _text("session_id", 64),
        _text("course_code", 20),
        _int("course_version"),
        _text("course_title", 200),
        _int("training_days"),
        _text("country", 2),
        sa.Column("open_session", sa.Boolean, nullable=False),
        _text("trainer", 200),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=False),
        _int("capacity"),
        _text("language", 2),
        _text("survey_id", 64, nullable=True),
        _text("status", 20),
        _int("participants"),
        _int("completions"),
        sa.Column("delivered_on", sa.Date, nullable=True),
        sa.Column("cancel_reason", sa.Text, nullable=True),
        _int("version"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name="pk_training_session"),
        schema=SCHEMA,
    )
    _index("training_session", "country", "start_date", "session_id")
    _index("training_session", "start_date", "session_id")
    op.create_table(
        "session_factory",
        _text("session_id", 64),
        _text("factory_id", 64),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("plan_item_ids", JSONB, nullable=False),
        _int("participants"),
        _int("completions"),
        sa.PrimaryKeyConstraint("session_id", "factory_id", name="pk_session_factory"),
        schema=SCHEMA,
    )
    _index("session_factory", "factory_id", "start_date", "session_id")
    op.create_table(
        "attendance",
        _text("session_id", 64),
        _text("factory_id", 64),
        _text("participant_id", 64),
        _text("role", 20),
        _text("gender", 20),
        _text("name", 200, nullable=True),
        sa.Column("attended_on", ARRAY(sa.Date), nullable=False),
        sa.Column("completed", sa.Boolean, nullable=False),
        sa.Column("pre_survey", sa.Boolean, nullable=False),
        sa.Column("post_survey", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("session_id", "factory_id", "participant_id", name="pk_attendance"),
        schema=SCHEMA,
    )
    op.create_table(
        "survey_change",
        _text("session_id", 64),
        _text("factory_id", 64),
        _text("participant_id", 64),
        _text("course_code", 20),
        _text("survey_id", 64),
        _text("country", 2),
        _int("year"),
        _int("change"),
        sa.PrimaryKeyConstraint(
            "session_id", "factory_id", "participant_id", name="pk_survey_change"
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "survey_result",
        _text("course_code", 20),
        _text("survey_id", 64),
        _text("country", 2),
        _int("year"),
        _int("pairs"),
        sa.Column("change_total", sa.BigInteger, nullable=False),
        sa.Column("change_squares", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "course_code", "survey_id", "country", "year", name="pk_survey_result"
        ),
        schema=SCHEMA,
    )


def _visits_and_figures() -> None:
    op.create_table(
        "advisory_visit",
        _text("visit_id", 64),
        _text("factory_id", 64),
        _text("country", 2),
        _text("advisor", 200),
        sa.Column("planned_for", sa.Date, nullable=False),
        _text("purpose", 40),
        sa.Column("description", sa.Text, nullable=False),
        _text("status", 20),
        sa.Column("visited_on", sa.Date, nullable=True),
        sa.Column("duration_days", sa.Numeric(4, 1), nullable=True),
        sa.Column("notes", sa.Text, nullable=True),
        sa.Column("plan_item_ids", JSONB, nullable=False),
        _text("committee_meeting_id", 64, nullable=True),
        sa.Column("cancel_reason", sa.Text, nullable=True),
        _int("version"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("visit_id", name="pk_advisory_visit"),
        schema=SCHEMA,
    )
    _index("advisory_visit", "factory_id", "planned_for", "visit_id")
    _index("advisory_visit", "country", "planned_for", "visit_id")
    _index("advisory_visit", "planned_for", "visit_id")
    cell = ("country", "course_code", "role", "gender", "year")
    op.create_table(
        "training_figure",
        _text("country", 2),
        _text("course_code", 20),
        _text("role", 20),
        _text("gender", 20),
        _int("year"),
        _int("participants"),
        _int("completions"),
        _int("factories"),
        sa.PrimaryKeyConstraint(*cell, name="pk_training_figure"),
        schema=SCHEMA,
    )
    op.create_table(
        "training_figure_factory",
        _text("country", 2),
        _text("course_code", 20),
        _text("role", 20),
        _text("gender", 20),
        _int("year"),
        _text("factory_id", 64),
        _int("participants"),
        _int("completions"),
        sa.PrimaryKeyConstraint(*cell, "factory_id", name="pk_training_figure_factory"),
        schema=SCHEMA,
    )


def upgrade() -> None:
    _event_store()
    _factories_and_catalogue()
    _sessions()
    _visits_and_figures()


def downgrade() -> None:
    for table in (
        "training_figure_factory",
        "training_figure",
        "advisory_visit",
        "survey_result",
        "survey_change",
        "attendance",
        "session_factory",
        "training_session",
        "survey",
        "course",
        "factory_cycle",
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
