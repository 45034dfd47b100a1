"""Read-model tables of buyer sharing (SQLAlchemy Core, schema `buyer_sharing`): OWN_TABLES are
projected in the command's transaction (sharing_grant: the consent every read checks);
UPSTREAM_TABLES from the assessment, remediation and advisory services' public events, each row
keeping the version or id of what it reflects (redelivered, reordered events leave the same rows);
DERIVED_TABLES and the reports' tallies are recomputed from those rows in the same transaction
for what an event touched; read_model_version is the public pages' cache version."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

from libs.events.tables import NAMING_CONVENTION, define_import_tables

SCHEMA = "buyer_sharing"
metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)
Json = JSON().with_variant(JSONB(), "postgresql")

buyer = Table(
    "buyer",
    metadata,
    Column("buyer_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("country", String(2), nullable=False),
    Column("contact_name", String(200), nullable=False),
    Column("contact_email", String(320), nullable=False),
    Column("registered_by", String(200), nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
)

sharing_grant = Table(
    "sharing_grant",
    metadata,
    Column("factory_id", String(64), primary_key=True),
    Column("buyer_id", String(64), primary_key=True),
    Column("active", Boolean, nullable=False),
    Column("granted_at", DateTime(timezone=True), nullable=False),
    Column("ends_on", Date, nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("version", Integer, nullable=False),
    # a buyer's grants: the portfolio's page starts from them
    Index(None, "buyer_id", "factory_id"),
)

sharing_history = Table(
    "sharing_history",
    metadata,
    Column("factory_id", String(64), primary_key=True),
    Column("buyer_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("action", String(20), nullable=False),  # granted, revoked
    Column("actor", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("ends_on", Date, nullable=True),
    Column("access_request_id", String(64), nullable=True),
)

access_request = Table(
    "access_request",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("buyer_id", String(64), nullable=False, index=True),
    Column("factory_id", String(64), nullable=True, index=True),
    Column("os_id", String(15), nullable=True, index=True),
    Column("message", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("decision_reason", Text, nullable=True),
    Column("version", Integer, nullable=False),
)

audit_reliance = Table(
    "audit_reliance",
    metadata,
    Column("reliance_id", String(64), primary_key=True),
    Column("factory_id", String(64), nullable=False),
    Column("buyer_id", String(64), nullable=False, index=True),
    Column("assessment_id", String(64), nullable=True),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("note", Text, nullable=False),
    Column("declared_by", String(200), nullable=False),
    Column("declared_at", DateTime(timezone=True), nullable=False),
    Column("withdrawn_by", String(200), nullable=True),
    Column("withdrawn_at", DateTime(timezone=True), nullable=True),
    Column("withdrawal_reason", Text, nullable=True),
)

# --- upstream -----------------------------------------------------------------------------------

factory = Table(
    "factory",
    metadata,
    Column("factory_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("country", String(2), nullable=False),
    Column("os_id", String(15), nullable=True, index=True),
    Column("version", Integer, nullable=False),
)

report = Table(
    "report",
    metadata,
    Column("assessment_id", String(64), primary_key=True),
    Column("factory_id", String(64), nullable=False, index=True),
    Column("cycle", Integer, nullable=False),
    Column("country", String(2), nullable=False),
    Column("catalogue_version", String(20), nullable=False),
    Column("report_date", Date, nullable=False),
    Column("non_compliance_count", Integer, nullable=False),
    Column("summary", Json, nullable=False),
    # compliant and answered (compliant or non-compliant) questions, corrections applied: kept
    # from report_result on completion and correction (the low-compliance list reads them)
    Column("compliant", Integer, nullable=False, server_default="0"),
    Column("answered", Integer, nullable=False, server_default="0"),
)

report_result = Table(
    "report_result",
    metadata,
    Column("assessment_id", String(64), primary_key=True),
    Column("question_id", String(20), primary_key=True),
    Column("factory_id", String(64), nullable=False, index=True),
    # null until AssessmentCompleted arrives (a correction may come first after a redelivery)
    Column("cluster_id", String(20), nullable=True),
    Column("compliance_point_id", String(20), nullable=True),
    Column("critical", Boolean, nullable=True),
    Column("zero_tolerance", Boolean, nullable=True),
    Column("result", String(20), nullable=False),
    # the assessment stream version that set `result`: the newest correction wins
    Column("result_version", Integer, nullable=False),
)

finding = Table(
    "finding",
    metadata,
    Column("assessment_id", String(64), primary_key=True),
    Column("question_id", String(20), primary_key=True),
    Column("factory_id", String(64), nullable=False),
    Column("cluster_id", String(20), nullable=False),
    Column("cluster_name", String(200), nullable=False),
    Column("compliance_point_id", String(20), nullable=False),
    Column("compliance_point_name", String(200), nullable=False),
    Column("question_text", Text, nullable=False),
    Column("critical", Boolean, nullable=False),
    Column("zero_tolerance", Boolean, nullable=False),
    Column("evidence", Text, nullable=False),
)

finding_note = Table(
    "finding_note",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("assessment_id", String(64), nullable=False, index=True),
    Column("question_id", String(20), nullable=False),
    Column("factory_id", String(64), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("kind", String(20), nullable=False),  # response, dispute, correction
    Column("text", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("result_before", String(20), nullable=True),
    Column("result_after", String(20), nullable=True),
    Column("actor", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

plan_item = Table(
    "plan_item",
    metadata,
    Column("item_id", String(64), primary_key=True),
    Column("factory_id", String(64), nullable=False, index=True),
    Column("assessment_id", String(64), nullable=False),
    Column("question_id", String(20), nullable=False),
    Column("critical", Boolean, nullable=False),
    Column("zero_tolerance", Boolean, nullable=False),
    Column("status", String(20), nullable=False),
    Column("overdue", Boolean, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("plan_version", Integer, nullable=False),
    # items looked up by finding (the portfolio's open critical issues, a report's status)
    Index(None, "assessment_id", "question_id"),
)

plan_progress = Table(
    "plan_progress",
    metadata,
    Column("factory_id", String(64), primary_key=True),
    Column("total", Integer, nullable=False),
    Column("open", Integer, nullable=False),
    Column("in_progress", Integer, nullable=False),
    Column("done", Integer, nullable=False),
    Column("verified", Integer, nullable=False),
    Column("overdue", Integer, nullable=False),
    Column("published", Boolean, nullable=False),
    Column("publication_late", Boolean, nullable=False),
    Column("publication_due_date", Date, nullable=True),
    Column("plan_version", Integer, nullable=False),
)

# a factory's part of a delivered training session (TrainingSessionDelivered: counts only)
training_delivery = Table(
    "training_delivery",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("factory_id", String(64), primary_key=True),
    Column("course_code", String(40), nullable=False),
    Column("course_title", String(200), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("training_days", Integer, nullable=False),  # the course's training days
    Column("participants", Integer, nullable=False),
    Column("completions", Integer, nullable=False),
    Column("version", Integer, nullable=False),  # the producer's stream version: newest wins
    Index(None, "factory_id"),
)

# a completed advisory visit (AdvisoryVisitCompleted: no notes)
advisory_visit = Table(
    "advisory_visit",
    metadata,
    Column("visit_id", String(64), primary_key=True),
    Column("factory_id", String(64), nullable=False, index=True),
    Column("visited_on", Date, nullable=False),
    Column("duration_days", Numeric(6, 2), nullable=False),
    Column("version", Integer, nullable=False),
)

# Every credential issued of a report (ReportCredentialIssued): its offline bundle as received,
# which holds the vc+jwt. A later revision of the assessment's supersedes it (read, not stored).
report_credential = Table(
    "report_credential",
    metadata,
    Column("credential_id", String(100), primary_key=True),
    Column("assessment_id", String(64), nullable=False),
    Column("factory_id", String(64), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("supersedes", String(100), nullable=True),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("bundle", Text, nullable=False),
    Index(None, "assessment_id", "revision", unique=True),
)

# --- derived -------------------------------------------------------------------------------------

factory_summary = Table(
    "factory_summary",
    metadata,
    # One row per factory with a registration, a report or a plan: what the portfolio's risk order
    # and filters and the transparency list need, recomputed from the rows above for the factories
    # an upstream event touched, in that event's transaction (projections.refresh_summaries).
    Column("factory_id", String(64), primary_key=True),
    Column("country", String(2), nullable=True),  # the factory's, else its latest report's
    Column("assessments", Integer, nullable=False),  # completed reports
    # the latest and previous reports (report_date, then cycle, newest first)
    Column("latest_assessment_id", String(64), nullable=True),
    Column("previous_assessment_id", String(64), nullable=True),
    # on the latest report (corrections applied): non-compliant critical and zero-tolerance
    # questions, and those whose plan item is not verified (open)
    Column("critical_found", Integer, nullable=False),
    Column("zero_tolerance_found", Integer, nullable=False),
    Column("open_critical", Integer, nullable=False),
    Column("open_zero_tolerance", Integer, nullable=False),
    Column("overdue", Integer, nullable=False),  # overdue plan items (the plan's progress)
    # the latest report's non-compliance rate in parts per million, rounded as the cursor's
    Column("rate_ppm", Integer, nullable=False),
)

# A factory's training and advisory summary, kept whatever its grants (a buyer reads it only through
# the consent rule, queries.consent.buyer_may_read): recomputed from training_delivery and
# advisory_visit for the factories an advisory event touched, in that event's transaction. The
# year is the session's start (the advisory service's figures count sessions so) or the visit's.
training_summary = Table(
    "training_summary",
    metadata,
    Column("factory_id", String(64), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("course_code", String(40), primary_key=True),
    Column("course_title", String(200), nullable=False),  # the group's latest session's
    Column("sessions", Integer, nullable=False),
    Column("participants", Integer, nullable=False),
    Column("completions", Integer, nullable=False),
    Column("training_days", Integer, nullable=False),  # the sessions' training days, summed
    Column("latest_start_date", Date, nullable=False),
)

advisory_summary = Table(
    "advisory_summary",
    metadata,
    Column("factory_id", String(64), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("visits", Integer, nullable=False),
    Column("advisory_days", Numeric(9, 2), nullable=False),
    Column("latest_visited_on", Date, nullable=False),
)

# --- the programme's results (docs/programme-results.md) ----------------------------------------

# every workforce a factory's registration and updates gave, in force from the business day of
# the event (its envelope's `time`): the results count the one in force on a report's date
factory_workforce = Table(
    "factory_workforce",
    metadata,
    Column("factory_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),  # the factory stream's version of the fact
    Column("in_force_from", Date, nullable=False),
    Column("women", Integer, nullable=False),
    Column("men", Integer, nullable=False),
)

# Per assessment and cluster answered (the question id's prefix): a finding in it non-compliant,
# corrections applied; recomputed for the assessments an event touched (projections/results.py).
assessment_cluster = Table(
    "assessment_cluster",
    metadata,
    Column("assessment_id", String(64), primary_key=True),
    Column("cluster_id", String(20), primary_key=True),
    Column("non_compliant", Boolean, nullable=False),
)

# Per factory and year of its reports what the results sum: the reports, the workforce in force on
# the last one; per cluster answered, the reports non-compliant in it. Recomputed from report,
# assessment_cluster, factory_workforce and factory for the factories an event touched.
factory_year_result = Table(
    "factory_year_result",
    metadata,
    Column("factory_id", String(64), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("country", String(2), nullable=False),  # the factory's, else its reports'
    Column("assessments", Integer, nullable=False),
    Column("last_report_date", Date, nullable=False),
    Column("women", Integer, nullable=False),
    Column("men", Integer, nullable=False),
    Index(None, "country", "year"),
)

factory_year_cluster = Table(
    "factory_year_cluster",
    metadata,
    Column("factory_id", String(64), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("cluster_id", String(20), primary_key=True),
    Column("country", String(2), nullable=False),
    Column("non_compliant", Integer, nullable=False),
    Index(None, "country", "year", "cluster_id", postgresql_include=["non_compliant"]),
)

# the import ledger (libs.servicekit.imports): one row per imported buyer, grant and reliance
import_record = define_import_tables(metadata)["import_record"]

# the public pages' row of read_model_version (moved by every transaction that changes them)
TRANSPARENCY = "transparency"
RESULTS = "programme_results"  # moved by the advisory consumer's (assessments move TRANSPARENCY)

read_model_version = Table(
    "read_model_version",
    metadata,
    # A counter per group of read models, bumped in every transaction that changes them: the
    # public pages' in-process cache is valid while the counter has not moved. Not a read model
    # (nothing in the history gives it): the rebuild bumps it too.
    Column("name", String(40), primary_key=True),
    Column("version", BigInteger, nullable=False),
)

OWN_TABLES = (buyer, sharing_grant, sharing_history, access_request, audit_reliance)
UPSTREAM_TABLES = (
    factory,
    report,
    report_result,
    finding,
    finding_note,
    plan_item,
    plan_progress,
    training_delivery,
    advisory_visit,
    factory_workforce,
    report_credential,
)
RESULTS_TABLES = (assessment_cluster, factory_year_result, factory_year_cluster)
DERIVED_TABLES = (factory_summary, training_summary, advisory_summary, *RESULTS_TABLES)
READ_MODELS = OWN_TABLES + UPSTREAM_TABLES + DERIVED_TABLES
