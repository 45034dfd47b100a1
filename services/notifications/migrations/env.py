"""Alembic environment of notifications: everything lives in the `notifications` schema."""

from alembic import context

from libs.servicekit.migrations import run_alembic_env
from services.notifications.tables import SCHEMA, metadata

run_alembic_env(metadata, context.config.attributes.get("schema", SCHEMA))
