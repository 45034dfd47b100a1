"""The remediation service's read-model tables (SQLAlchemy Core, schema `remediation`, the shared
naming convention). Migrations do not import these: each revision freezes its own DDL."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

from libs.events.tables import NAMING_CONVENTION, define_import_tables
from libs.servicekit.idempotency import define_idempotency_table

SCHEMA = "remediation"

metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)

improvement_plan = Table(
    "improvement_plan",
    metadata,
    Column("factory_id", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("open", Integer, nullable=False),
    Column("in_progress", Integer, nullable=False),
    Column("done", Integer, nullable=False),
    Column("verified", Integer, nullable=False),
    Column("overdue", Integer, nullable=False),
    Column("share_verified", Float, nullable=False),
    Column("first_report_date", Date, nullable=True),
    Column("publication_due_date", Date, nullable=True),
    Column("first_published_at", DateTime(timezone=True), nullable=True),
    Column("last_published_at", DateTime(timezone=True), nullable=True),
    Column("published_version", Integer, nullable=True),
    Column("publication_late", Boolean, nullable=False),
    # the factory's country programme (ISO 3166-1 alpha-2) as its latest report states it
    Column("country", String(2), nullable=True),
)

improvement_item = Table(
    "improvement_item",
    metadata,
    Column("item_id", String(64), primary_key=True),
    Column("factory_id", String(200), nullable=False, index=True),
    Column("assessment_id", String(200), nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("report_date", Date, nullable=False),
    Column("cluster_id", String(200), nullable=False),
    Column("cluster_name", Text, nullable=False),
    Column("compliance_point_id", String(200), nullable=False),
    Column("compliance_point_name", Text, nullable=False),
    Column("question_id", String(200), nullable=False),
    Column("question_text", Text, nullable=False),
    Column("critical", Boolean, nullable=False),
    Column("zero_tolerance", Boolean, nullable=False),
    Column("persistent", Boolean, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("due_date", Date, nullable=False),
    Column("latest_due_date", Date, nullable=False),
    Column("root_cause", Text, nullable=True),
    Column("planned_action", Text, nullable=True),
    Column("responsible_person", Text, nullable=True),
    Column("overdue", Boolean, nullable=False),
    Column("verified_by", Text, nullable=True),
    Column("verified_at", DateTime(timezone=True), nullable=True),
    Column("reopen_reason", Text, nullable=True),
    # the plan version whose publication first carried the item; null: a draft
    Column("published_in", Integer, nullable=True),
    # the history bundle of an item of an imported assessment; null: of the live system
    Column("imported_from", String(100), nullable=True),
)

committee = Table(
    "committee",
    metadata,
    Column("factory_id", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("members", JSONB, nullable=False),
    Column("meetings", JSONB, nullable=False),
)

# the advisory service's sessions and visits that named an item, one row per (item, activity); an
# item id the plan does not have (yet) is kept and shows once the factory's plan has the item
capacity_building = Table(
    "capacity_building",
    metadata,
    Column("factory_id", String(200), primary_key=True),
    Column("item_id", String(64), primary_key=True),
    Column("kind", String(10), primary_key=True),  # session | visit
    # the producer's values are text of any length, so no message of a later producer version
    # can fail on a column's width
    Column("source_id", Text, primary_key=True),  # the session's or visit's id
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("course_code", Text, nullable=True),
    Column("course_title", Text, nullable=True),
    Column("purpose", Text, nullable=True),
    Column("days", Float, nullable=False),
    Column("participants", Integer, nullable=True),
    Column("completions", Integer, nullable=True),
    Column("committee_meeting_id", Text, nullable=True),
)

idempotency_key = define_idempotency_table(metadata)

# the ledger of a programme's history imported here (libs/servicekit/imports.py)
import_record = define_import_tables(metadata)["import_record"]
