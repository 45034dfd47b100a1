"""Alembic environment of buyer sharing: everything lives in the `buyer_sharing` schema."""

from alembic import context

from libs.servicekit.migrations import run_alembic_env
from services.buyer_sharing.tables import SCHEMA, metadata

run_alembic_env(metadata, context.config.attributes.get("schema", SCHEMA))
