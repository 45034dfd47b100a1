"""The import ledger (issue 19): `import_record`, one row per imported history record (buyers,
grants, reliances), so importing a bundle again changes nothing and who imported what from which
bundle is kept. The table's DDL is the library's (libs.events.tables.create_import_tables).

Revision ID: 0005
Revises: 0004
Create Date: 2027-01-04
"""

from __future__ import annotations

from alembic import context, op

from libs.events.tables import create_import_tables, drop_import_tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _schema() -> str:
    return str(context.config.attributes.get("schema", "buyer_sharing"))


def upgrade() -> None:
    create_import_tables(op.get_bind(), _schema())


def downgrade() -> None:
    drop_import_tables(op.get_bind(), _schema())
