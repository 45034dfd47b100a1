"""Read-model tables of the assessment service (SQLAlchemy Core, schema `assessment`), with the
event store's, the idempotency keys' and the import ledger's tables in the same MetaData (for
Alembic's comparisons)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Sequence,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import func

from libs.events.tables import NAMING_CONVENTION, define_event_store_tables, define_import_tables
from libs.servicekit.idempotency import define_idempotency_table

SCHEMA = "assessment"

metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)
event_store_tables = define_event_store_tables(metadata)
idempotency_key = define_idempotency_table(metadata)
import_tables = define_import_tables(metadata)

factory = Table(
    "factory",
    metadata,
    Column("factory_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("country", String(2), nullable=False),
    Column("address", String(500), nullable=False),
    Column("sector_isic", String(4), nullable=False),
    Column("workforce_women", Integer, nullable=False),
    Column("workforce_men", Integer, nullable=False),
    # The unique index is what keeps an OS ID on one factory when two registrations race.
    Column("os_id", String(15), nullable=True, unique=True),
    Column("version", Integer, nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(None, "country", "factory_id"),
)

assessment = Table(
    "assessment",
    metadata,
    Column("assessment_id", String(64), primary_key=True),
    Column("factory_id", String(64), nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("country", String(2), nullable=False),
    Column("catalogue_version", String(20), nullable=False),
    Column("scheduled_for", Date, nullable=False),
    Column("assessors", JSONB, nullable=False),
    Column("status", String(20), nullable=False),
    Column("version", Integer, nullable=False),
    Column("report_date", Date, nullable=True),
    Column("completed_by", String(200), nullable=True),
    Column("summary", JSONB, nullable=True),
    Column("scheduled_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # One assessment per cycle: two schedulings racing for the same cycle cannot both commit.
    UniqueConstraint("factory_id", "cycle"),
    Index(None, "status", "report_date"),
)

finding = Table(
    "finding",
    metadata,
    Column("assessment_id", String(64), nullable=False),
    Column("question_id", String(20), nullable=False),
    Column("cluster_id", String(3), nullable=False),
    Column("compliance_point_id", String(7), nullable=False),
    Column("critical", Boolean, nullable=False),
    Column("zero_tolerance", Boolean, nullable=False),
    Column("result", String(20), nullable=False),
    Column("evidence", Text, nullable=False),
    Column("evidence_refs", JSONB, nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("corrected", Boolean, nullable=False, server_default="false"),
    PrimaryKeyConstraint("assessment_id", "question_id"),
)

# Moved (strictly up) by every transaction that changes a country's `assessment_point` rows: the
# key of the yearly synthesis kept in each process (a version never repeats, even after a rebuild).
synthesis_version = Table(
    "synthesis_version",
    metadata,
    Column("country", String(2), primary_key=True),
    Column("version", BigInteger, nullable=False),
)

finding_response = Table(
    "finding_response",
    metadata,
    Column("response_id", Integer, Identity(always=True), primary_key=True),
    Column("assessment_id", String(64), nullable=False),
    Column("question_id", String(20), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("text", Text, nullable=False),
    Column("reason", Text, nullable=True),
    Column("responded_by", String(200), nullable=False),
    Column("responded_at", DateTime(timezone=True), nullable=False),
    Index(None, "assessment_id", "question_id"),
)

# One row per completed assessment and compliance point: the yearly synthesis aggregates these
# (about 30 per assessment) instead of joining every finding (about 90) to its assessment.
assessment_point = Table(
    "assessment_point",
    metadata,
    Column("assessment_id", String(64), nullable=False),
    Column("cluster_id", String(3), nullable=False),
    Column("compliance_point_id", String(7), nullable=False),
    Column("factory_id", String(64), nullable=False),
    Column("country", String(2), nullable=False),
    Column("report_date", Date, nullable=False),
    Column("findings", Integer, nullable=False),  # applicable ones (not "not_applicable")
    Column("non_compliant", Integer, nullable=False),
    PrimaryKeyConstraint("assessment_id", "compliance_point_id"),
    Index(None, "country", "report_date"),
)

# The reports' verifiable credentials (docs/credentials.md), projected from ReportCredentialIssued:
# the signed credential, its bit in a status list, the credential that superseded it, and its
# offline bundle (without the JSON-LD contexts, which are the same in every bundle).
credential = Table(
    "credential",
    metadata,
    Column("credential_id", String(45), primary_key=True),
    Column("assessment_id", String(64), nullable=False),
    Column("factory_id", String(64), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("supersedes", String(45), nullable=True),
    Column("superseded_by", String(45), nullable=True),
    Column("report_date", Date, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("status_list", Integer, nullable=False),
    Column("status_list_index", Integer, nullable=False),
    Column("token", Text, nullable=False),
    Column("bundle", JSONB, nullable=False),
    UniqueConstraint("assessment_id", "revision"),
    UniqueConstraint("status_list", "status_list_index"),
)

# A Bitstring Status List's bits (131,072 per list; set: superseded), the version moved by each
# bit set, and when it last changed (the `validFrom` of the list's signed credential).
credential_status_list = Table(
    "credential_status_list",
    metadata,
    Column("status_list", Integer, primary_key=True, autoincrement=False),
    Column("bits", LargeBinary, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Every credential's place in the status lists, in issuing order (libs/credentials/status_list.py
# turns the number into a list and an index); a number lost with a rolled-back transaction is an
# index never used.
credential_status_sequence = Sequence("credential_status_seq", metadata=metadata)

# The signing key a development service generated for itself (never used outside development,
# where BW_CREDENTIAL_KEYS is required).
credential_key = Table(
    "credential_key",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_jwk", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
