"""The yearly synthesis's version per country, moved by every change of its read model, so each
process can keep the synthesis it computed until the version moves.

Frozen: the DDL is written out here and imports no live table definitions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "assessment"


def upgrade() -> None:
    op.create_table(
        "synthesis_version",
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("country", name="pk_synthesis_version"),
        schema=SCHEMA,
    )
    op.execute(
        f"""
        INSERT INTO {SCHEMA}.synthesis_version (country, version)
        SELECT country, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
        FROM (SELECT DISTINCT country FROM {SCHEMA}.assessment_point) AS assessed
        """
    )


def downgrade() -> None:
    op.drop_table("synthesis_version", schema=SCHEMA)
