"""Read-model tables of the advisory service (SQLAlchemy Core, schema `advisory`), with the event
store's and the idempotency keys' tables in the same MetaData (for Alembic's comparisons)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from libs.events.tables import NAMING_CONVENTION, define_event_store_tables, define_import_tables
from libs.servicekit.idempotency import define_idempotency_table

SCHEMA = "advisory"

metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)
event_store_tables = define_event_store_tables(metadata)
idempotency_key = define_idempotency_table(metadata)
# the history import's ledger (libs/servicekit/imports.py): one row per imported record
import_tables = define_import_tables(metadata)

# the factories this service learnt of from the assessment service, and their assessment cycles
factory = Table(
    "factory",
    metadata,
    Column("factory_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("country", String(2), nullable=True),
    Column("version", Integer, nullable=False),
    Index(None, "country", "factory_id"),
)

factory_cycle = Table(
    "factory_cycle",
    metadata,
    Column("factory_id", String(64), nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("report_date", Date, nullable=False),
    PrimaryKeyConstraint("factory_id", "cycle"),
)

course = Table(
    "course",
    metadata,
    Column("code", String(20), primary_key=True),
    Column("course_version", Integer, nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("audience_roles", JSONB, nullable=False),
    Column("duration_days", Integer, nullable=False),
    Column("languages", JSONB, nullable=False),
    Column("topics", JSONB, nullable=False),
    Column("retired", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

survey = Table(
    "survey",
    metadata,
    Column("survey_id", String(64), primary_key=True),
    Column("course_code", String(20), nullable=False),
    Column("survey_version", Integer, nullable=False),
    Column("title", String(200), nullable=False),
    Column("scale_points", Integer, nullable=False),
    Column("items", JSONB, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(None, "course_code", "survey_id"),
)

training_session = Table(
    "training_session",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("course_code", String(20), nullable=False),
    Column("course_version", Integer, nullable=False),
    Column("course_title", String(200), nullable=False),
    Column("training_days", Integer, nullable=False),
    Column("country", String(2), nullable=False),
    Column("open_session", Boolean, nullable=False),
    Column("trainer", String(200), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("language", String(2), nullable=False),
    Column("survey_id", String(64), nullable=True),
    Column("status", String(20), nullable=False),
    Column("participants", Integer, nullable=False),
    Column("completions", Integer, nullable=False),
    Column("delivered_on", Date, nullable=True),
    Column("cancel_reason", Text, nullable=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # staff lists: newest first, within a country programme or across all of them
    Index(None, "country", "start_date", "session_id"),
    Index(None, "start_date", "session_id"),
)

# a session's part at each of its factories: a factory user's list, and the counts of its own
session_factory = Table(
    "session_factory",
    metadata,
    Column("session_id", String(64), nullable=False),
    Column("factory_id", String(64), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("plan_item_ids", JSONB, nullable=False),
    Column("participants", Integer, nullable=False),
    Column("completions", Integer, nullable=False),
    PrimaryKeyConstraint("session_id", "factory_id"),
    Index(None, "factory_id", "start_date", "session_id"),
)

attendance = Table(
    "attendance",
    metadata,
    Column("session_id", String(64), nullable=False),
    Column("factory_id", String(64), nullable=False),
    Column("participant_id", String(64), nullable=False),
    Column("role", String(20), nullable=False),
    Column("gender", String(20), nullable=False),
    Column("name", String(200), nullable=True),
    Column("attended_on", ARRAY(Date), nullable=False),
    Column("completed", Boolean, nullable=False),
    Column("pre_survey", Boolean, nullable=False),
    Column("post_survey", Boolean, nullable=False),
    PrimaryKeyConstraint("session_id", "factory_id", "participant_id"),
)

# one row per participant with both responses: the change of mean score, in 1/10000 of a point
survey_change = Table(
    "survey_change",
    metadata,
    Column("session_id", String(64), nullable=False),
    Column("factory_id", String(64), nullable=False),
    Column("participant_id", String(64), nullable=False),
    Column("course_code", String(20), nullable=False),
    Column("survey_id", String(64), nullable=False),
    Column("country", String(2), nullable=False),
    Column("year", Integer, nullable=False),
    Column("change", Integer, nullable=False),
    PrimaryKeyConstraint("session_id", "factory_id", "participant_id"),
)

# per course, instrument, country and year: count, sum and sum of squares of the changes
survey_result = Table(
    "survey_result",
    metadata,
    Column("course_code", String(20), nullable=False),
    Column("survey_id", String(64), nullable=False),
    Column("country", String(2), nullable=False),
    Column("year", Integer, nullable=False),
    Column("pairs", Integer, nullable=False),
    Column("change_total", BigInteger, nullable=False),
    Column("change_squares", BigInteger, nullable=False),
    PrimaryKeyConstraint("course_code", "survey_id", "country", "year"),
)

advisory_visit = Table(
    "advisory_visit",
    metadata,
    Column("visit_id", String(64), primary_key=True),
    Column("factory_id", String(64), nullable=False),
    Column("country", String(2), nullable=False),
    Column("advisor", String(200), nullable=False),
    Column("planned_for", Date, nullable=False),
    Column("purpose", String(40), nullable=False),
    Column("description", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("visited_on", Date, nullable=True),
    Column("duration_days", Numeric(4, 1), nullable=True),
    Column("notes", Text, nullable=True),
    Column("plan_item_ids", JSONB, nullable=False),
    Column("committee_meeting_id", String(64), nullable=True),
    Column("cancel_reason", Text, nullable=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(None, "factory_id", "planned_for", "visit_id"),
    Index(None, "country", "planned_for", "visit_id"),
    Index(None, "planned_for", "visit_id"),
)

# the programme figures: delivered sessions' participants per fine cell, with the factories
# behind each cell (the per-factory table tells whether a factory is new to a cell)
training_figure = Table(
    "training_figure",
    metadata,
    Column("country", String(2), nullable=False),
    Column("course_code", String(20), nullable=False),
    Column("role", String(20), nullable=False),
    Column("gender", String(20), nullable=False),
    Column("year", Integer, nullable=False),
    Column("participants", Integer, nullable=False),
    Column("completions", Integer, nullable=False),
    Column("factories", Integer, nullable=False),
    PrimaryKeyConstraint("country", "course_code", "role", "gender", "year"),
)

training_figure_factory = Table(
    "training_figure_factory",
    metadata,
    Column("country", String(2), nullable=False),
    Column("course_code", String(20), nullable=False),
    Column("role", String(20), nullable=False),
    Column("gender", String(20), nullable=False),
    Column("year", Integer, nullable=False),
    Column("factory_id", String(64), nullable=False),
    Column("participants", Integer, nullable=False),
    Column("completions", Integer, nullable=False),
    PrimaryKeyConstraint("country", "course_code", "role", "gender", "year", "factory_id"),
)

# moved by every transaction that changes the figures: the public answers kept in process are
# reused while it stands still (libs/servicekit/answers.py). Not a read model: a rebuild moves it too.
figures_version = Table(
    "figures_version",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="one_row"),
)

READ_MODELS = (
    factory,
    factory_cycle,
    course,
    survey,
    training_session,
    session_factory,
    attendance,
    survey_change,
    survey_result,
    advisory_visit,
    training_figure,
    training_figure_factory,
)
