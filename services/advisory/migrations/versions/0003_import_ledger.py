"""The history import's ledger (issue 19): `import_record`, one row per imported training session
or advisory visit of a programme's history bundle, so importing a bundle again changes nothing and
who imported what from which bundle is kept. The table's DDL is the library's
(libs.events.tables.create_import_tables).

Revision ID: 0003
Revises: 0002
Create Date: 2027-01-04
"""

from __future__ import annotations

from alembic import op

from libs.events.tables import create_import_tables, drop_import_tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "advisory"


def upgrade() -> None:
    create_import_tables(op.get_bind(), SCHEMA)


def downgrade() -> None:
    drop_import_tables(op.get_bind(), SCHEMA)
