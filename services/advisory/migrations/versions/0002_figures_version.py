"""The programme figures' version: one row moved by every transaction that changes the figures
(a delivery, a rebuild), so that the public figures' answers kept in process are reused while it
has not moved.

Frozen: the DDL is written out here and imports no live table definitions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "advisory"


def upgrade() -> None:
    op.create_table(
        "figures_version",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_figures_version"),
        sa.CheckConstraint("id = 1", name="ck_figures_version_one_row"),
        schema=SCHEMA,
    )
    op.execute(f"INSERT INTO {SCHEMA}.figures_version (id, version) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("figures_version", schema=SCHEMA)
