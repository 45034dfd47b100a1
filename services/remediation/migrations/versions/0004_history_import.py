"""A programme's history (issue 19): the import ledger `import_record` (one row per imported
record of the bundle's `committees` and `plan-items`, libs/servicekit/imports.py), and
`improvement_item.imported_from`, the history bundle of an item of an imported assessment.

Frozen DDL. Nothing to backfill: no item was imported before this revision (the column is null
for every live item).

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from libs.events.tables import create_import_tables, drop_import_tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _schema() -> str:
    return str(context.config.attributes.get("schema", "remediation"))


def upgrade() -> None:
    create_import_tables(op.get_bind(), _schema())
    op.add_column(
        "improvement_item",
        sa.Column("imported_from", sa.String(100), nullable=True),
        schema=_schema(),
    )


def downgrade() -> None:
    op.drop_column("improvement_item", "imported_from", schema=_schema())
    drop_import_tables(op.get_bind(), _schema())
