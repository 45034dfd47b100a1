"""Alembic environment of the remediation service: everything lives in the `remediation` schema.
The live tables serve autogenerate's comparison only; revisions freeze their own DDL."""

from alembic import context

from libs.servicekit.migrations import run_alembic_env
from services.remediation.tables import SCHEMA, metadata

run_alembic_env(metadata, context.config.attributes.get("schema", SCHEMA))
