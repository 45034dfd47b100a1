"""Alembic environment of the advisory service: its tables live in the `advisory` schema."""

from libs.servicekit.migrations import run_alembic_env
from services.advisory.tables import SCHEMA, metadata

run_alembic_env(metadata, SCHEMA)
