"""The yearly synthesis's read model: one row per completed assessment and compliance point,
filled from the findings of the assessments completed so far.

Frozen: the DDL is written out here and imports no live table definitions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "assessment"


def upgrade() -> None:
    op.create_table(
        "assessment_point",
        sa.Column("assessment_id", sa.String(64), nullable=False),
        sa.Column("cluster_id", sa.String(3), nullable=False),
        sa.Column("compliance_point_id", sa.String(7), nullable=False),
        sa.Column("factory_id", sa.String(64), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("report_date", sa.Date, nullable=False),
        sa.Column("findings", sa.Integer, nullable=False),
        sa.Column("non_compliant", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("assessment_id", "compliance_point_id", name="pk_assessment_point"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_assessment_point_country_report_date",
        "assessment_point",
        ["country", "report_date"],
        schema=SCHEMA,
    )
    op.execute(
        f"""
        INSERT INTO {SCHEMA}.assessment_point
        SELECT a.assessment_id, f.cluster_id, f.compliance_point_id, a.factory_id, a.country,
               a.report_date,
               count(*) FILTER (WHERE f.result <> 'not_applicable'),
               count(*) FILTER (WHERE f.result = 'non_compliant')
        FROM {SCHEMA}.assessment a JOIN {SCHEMA}.finding f ON f.assessment_id = a.assessment_id
        WHERE a.status = 'completed'
        GROUP BY a.assessment_id, f.cluster_id, f.compliance_point_id
        """
    )


def downgrade() -> None:
    op.drop_table("assessment_point", schema=SCHEMA)
