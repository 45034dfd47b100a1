"""The programme's results (issue 19, docs/programme-results.md): `factory_workforce`, every
workforce a factory's registration and updates gave, in force from the event's business day;
`assessment_cluster`, per assessment and answered cluster whether a finding in it is
non-compliant (corrections applied); and `factory_year_result` and `factory_year_cluster`, per
factory and year of its reports (and per cluster) what the table sums. `assessment_cluster` is filled here from the existing
`report_result` rows (a frozen copy of the projection's statement); the workforce was never kept,
so a database upgraded with upstream history already consumed needs a rebuild
(`python -m services.buyer_sharing rebuild`), which fills the other three.

The DDL is a frozen copy of what tables.py said when this revision was written.

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-04
"""

from __future__ import annotations

from alembic import context, op
from sqlalchemy import Boolean, Column, Date, Integer, PrimaryKeyConstraint, String

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _schema() -> str:
    return str(context.config.attributes.get("schema", "buyer_sharing"))


_CLUSTERS = """
INSERT INTO "{s}".assessment_cluster (assessment_id, cluster_id, non_compliant)
SELECT assessment_id, split_part(question_id, '-', 1), bool_or(result = 'non_compliant')
FROM "{s}".report_result
WHERE result IN ('compliant', 'non_compliant')
GROUP BY 1, 2
"""


def upgrade() -> None:
    schema = _schema()
    op.create_table(
        "factory_workforce",
        Column("factory_id", String(64), nullable=False),
        Column("version", Integer, nullable=False),
        Column("in_force_from", Date, nullable=False),
        Column("women", Integer, nullable=False),
        Column("men", Integer, nullable=False),
        PrimaryKeyConstraint("factory_id", "version", name="pk_factory_workforce"),
        schema=schema,
    )
    op.create_table(
        "assessment_cluster",
        Column("assessment_id", String(64), nullable=False),
        Column("cluster_id", String(20), nullable=False),
        Column("non_compliant", Boolean, nullable=False),
        PrimaryKeyConstraint("assessment_id", "cluster_id", name="pk_assessment_cluster"),
        schema=schema,
    )
    op.execute(_CLUSTERS.format(s=schema))
    op.create_table(
        "factory_year_result",
        Column("factory_id", String(64), nullable=False),
        Column("year", Integer, nullable=False),
        Column("country", String(2), nullable=False),
        Column("assessments", Integer, nullable=False),
        Column("last_report_date", Date, nullable=False),
        Column("women", Integer, nullable=False),
        Column("men", Integer, nullable=False),
        PrimaryKeyConstraint("factory_id", "year", name="pk_factory_year_result"),
        schema=schema,
    )
    op.create_index(
        "ix_factory_year_result_country_year",
        "factory_year_result",
        ["country", "year"],
        schema=schema,
    )
    op.create_table(
        "factory_year_cluster",
        Column("factory_id", String(64), nullable=False),
        Column("year", Integer, nullable=False),
        Column("cluster_id", String(20), nullable=False),
        Column("country", String(2), nullable=False),
        Column("non_compliant", Integer, nullable=False),
        PrimaryKeyConstraint("factory_id", "year", "cluster_id", name="pk_factory_year_cluster"),
        schema=schema,
    )
    op.create_index(
        "ix_factory_year_cluster_country_year_cluster_id",
        "factory_year_cluster",
        ["country", "year", "cluster_id"],
        schema=schema,
        postgresql_include=["non_compliant"],
    )


def downgrade() -> None:
    schema = _schema()
    op.drop_index(
        "ix_factory_year_cluster_country_year_cluster_id", "factory_year_cluster", schema=schema
    )
    op.drop_table("factory_year_cluster", schema=schema)
    op.drop_index("ix_factory_year_result_country_year", "factory_year_result", schema=schema)
    op.drop_table("factory_year_result", schema=schema)
    op.drop_table("assessment_cluster", schema=schema)
    op.drop_table("factory_workforce", schema=schema)
