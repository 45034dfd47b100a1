"""Alembic environment of the remediation service: everything lives in the `remediation` schema."""

from alembic import context

from libs.servicekit.migrations import run_alembic_env
from services.remediation.projections import SCHEMA, metadata

run_alembic_env(metadata, context.config.attributes.get("schema", SCHEMA))
