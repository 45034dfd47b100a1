"""Alembic environment of the assessment service: its tables live in the `assessment` schema."""

from libs.servicekit.migrations import run_alembic_env
from services.assessment.projections import SCHEMA, metadata

run_alembic_env(metadata, SCHEMA)
