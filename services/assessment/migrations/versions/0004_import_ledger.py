"""The import ledger (issue 19): `import_record`, one row per imported history record (factories,
assessments), so importing a bundle again changes nothing and who imported what from which bundle
is kept. The table's DDL is the library's (libs.events.tables.create_import_tables).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from alembic import op

from libs.events.tables import create_import_tables, drop_import_tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "assessment"


def upgrade() -> None:
    create_import_tables(op.get_bind(), SCHEMA)


def downgrade() -> None:
    drop_import_tables(op.get_bind(), SCHEMA)
