"""Alembic environment of the assessment service: its tables live in the `assessment` schema."""

from libs.servicekit.migrations import run_alembic_env
from services.assessment.tables import SCHEMA, metadata

run_alembic_env(metadata, SCHEMA)
