"""The portfolio's and the public pages' precomputed rows: `factory_summary` (one row per factory:
country, completed reports, latest and previous report, issues found and open on the latest one,
overdue items, the latest non-compliance rate in parts per million), the reports' `compliant` and
`answered` tallies, `read_model_version` (the public pages' cache version), and an index on
`sharing_grant (buyer_id, factory_id)`, where a buyer's portfolio starts. The new rows are filled
from the existing ones here, with a frozen copy of the statements the projections use.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import context, op
from sqlalchemy import BigInteger, Column, Integer, PrimaryKeyConstraint, String

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _schema() -> str:
    return str(context.config.attributes.get("schema", "buyer_sharing"))


_TALLIES = """
UPDATE "{s}".report AS r SET compliant = t.compliant, answered = t.answered
FROM (
    SELECT rr.assessment_id,
        count(*) FILTER (WHERE rr.result = 'compliant') AS compliant,
        count(*) FILTER (WHERE rr.result IN ('compliant', 'non_compliant')) AS answered
    FROM "{s}".report_result rr
    GROUP BY rr.assessment_id
) AS t
WHERE r.assessment_id = t.assessment_id
"""

_SUMMARIES = """
WITH ids AS (
    SELECT factory_id FROM "{s}".factory UNION SELECT factory_id FROM "{s}".report
    UNION SELECT factory_id FROM "{s}".report_result UNION SELECT factory_id FROM "{s}".plan_item
    UNION SELECT factory_id FROM "{s}".plan_progress
),
ranked AS (
    SELECT r.factory_id, r.assessment_id, r.country, r.summary,
        row_number() OVER (
            PARTITION BY r.factory_id
            ORDER BY r.report_date DESC, r.cycle DESC, r.assessment_id DESC) AS n,
        count(*) OVER (PARTITION BY r.factory_id) AS assessments
    FROM "{s}".report r JOIN ids ON ids.factory_id = r.factory_id
),
latest AS (SELECT * FROM ranked WHERE n = 1),
previous AS (SELECT factory_id, assessment_id FROM ranked WHERE n = 2),
issues AS (
    SELECT l.factory_id,
        count(*) FILTER (WHERE rr.critical) AS critical_found,
        count(*) FILTER (WHERE rr.zero_tolerance) AS zero_tolerance_found,
        count(*) FILTER (WHERE rr.critical AND NOT coalesce(v.verified, false)) AS open_critical,
        count(*) FILTER (WHERE rr.zero_tolerance AND NOT coalesce(v.verified, false))
            AS open_zero_tolerance
    FROM latest l
    JOIN "{s}".report_result rr
        ON rr.assessment_id = l.assessment_id AND rr.result = 'non_compliant'
    LEFT JOIN LATERAL (
        SELECT bool_or(p.status = 'verified') AS verified FROM "{s}".plan_item p
        WHERE p.assessment_id = rr.assessment_id AND p.question_id = rr.question_id
    ) v ON true
    GROUP BY l.factory_id
),
rates AS (
    SELECT l.factory_id, sum((c ->> 'non_compliant')::int) AS non_compliant,
        sum((c ->> 'questions')::int) AS questions
    FROM latest l CROSS JOIN LATERAL jsonb_array_elements(l.summary) AS c
    GROUP BY l.factory_id
)
INSERT INTO "{s}".factory_summary (factory_id, country, assessments, latest_assessment_id,
    previous_assessment_id, critical_found, zero_tolerance_found, open_critical,
    open_zero_tolerance, overdue, rate_ppm)
SELECT ids.factory_id, coalesce(f.country, l.country), coalesce(l.assessments, 0),
    l.assessment_id, p.assessment_id, coalesce(i.critical_found, 0),
    coalesce(i.zero_tolerance_found, 0), coalesce(i.open_critical, 0),
    coalesce(i.open_zero_tolerance, 0), coalesce(pp.overdue, 0),
    CASE WHEN ra.questions > 0
        THEN round(ra.non_compliant::float8 / ra.questions::float8 * 1000000::float8)::int
        ELSE 0 END
FROM ids
LEFT JOIN "{s}".factory f ON f.factory_id = ids.factory_id
LEFT JOIN latest l ON l.factory_id = ids.factory_id
LEFT JOIN previous p ON p.factory_id = ids.factory_id
LEFT JOIN issues i ON i.factory_id = ids.factory_id
LEFT JOIN rates ra ON ra.factory_id = ids.factory_id
LEFT JOIN "{s}".plan_progress pp ON pp.factory_id = ids.factory_id
"""


def upgrade() -> None:
    schema = _schema()
    op.create_table(
        "factory_summary",
        Column("factory_id", String(64), nullable=False),
        Column("country", String(2), nullable=True),
        Column("assessments", Integer, nullable=False),
        Column("latest_assessment_id", String(64), nullable=True),
        Column("previous_assessment_id", String(64), nullable=True),
        Column("critical_found", Integer, nullable=False),
        Column("zero_tolerance_found", Integer, nullable=False),
        Column("open_critical", Integer, nullable=False),
        Column("open_zero_tolerance", Integer, nullable=False),
        Column("overdue", Integer, nullable=False),
        Column("rate_ppm", Integer, nullable=False),
        PrimaryKeyConstraint("factory_id", name="pk_factory_summary"),
        schema=schema,
    )
    op.create_table(
        "read_model_version",
        Column("name", String(40), nullable=False),
        Column("version", BigInteger, nullable=False),
        PrimaryKeyConstraint("name", name="pk_read_model_version"),
        schema=schema,
    )
    op.add_column(
        "report",
        Column("compliant", Integer, nullable=False, server_default="0"),
        schema=schema,
    )
    op.add_column(
        "report",
        Column("answered", Integer, nullable=False, server_default="0"),
        schema=schema,
    )
    op.create_index(
        "ix_sharing_grant_buyer_id_factory_id",
        "sharing_grant",
        ["buyer_id", "factory_id"],
        schema=schema,
    )
    op.execute(_TALLIES.format(s=schema))
    op.execute(_SUMMARIES.format(s=schema))
    op.execute(
        f"""INSERT INTO "{schema}".read_model_version (name, version) VALUES ('transparency', 1)"""
    )


def downgrade() -> None:
    schema = _schema()
    op.drop_index("ix_sharing_grant_buyer_id_factory_id", "sharing_grant", schema=schema)
    op.drop_column("report", "answered", schema=schema)
    op.drop_column("report", "compliant", schema=schema)
    op.drop_table("read_model_version", schema=schema)
    op.drop_table("factory_summary", schema=schema)
