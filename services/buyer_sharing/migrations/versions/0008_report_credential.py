"""A report's verifiable credentials (issue 20, docs/buyer_sharing.md "Verifiable reports"):
`report_credential`, every `ReportCredentialIssued` received, with its offline bundle as issued
(which holds the compact vc+jwt); a credential's assessment and revision are unique (a later
revision supersedes the earlier). Credentials issued before this revision ran are on the assessment
stream: a rebuild (`python -m services.buyer_sharing rebuild`) fills the table from it.

The DDL is a frozen copy of what tables.py said when this revision was written.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09
"""

from __future__ import annotations

from alembic import context, op
from sqlalchemy import Column, DateTime, Integer, PrimaryKeyConstraint, String, Text

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _schema() -> str:
    return str(context.config.attributes.get("schema", "buyer_sharing"))


def upgrade() -> None:
    schema = _schema()
    op.create_table(
        "report_credential",
        Column("credential_id", String(100), nullable=False),
        Column("assessment_id", String(64), nullable=False),
        Column("factory_id", String(64), nullable=False),
        Column("revision", Integer, nullable=False),
        Column("supersedes", String(100), nullable=True),
        Column("issued_at", DateTime(timezone=True), nullable=False),
        Column("bundle", Text, nullable=False),
        PrimaryKeyConstraint("credential_id", name="pk_report_credential"),
        schema=schema,
    )
    op.create_index(
        "ix_report_credential_assessment_id_revision",
        "report_credential",
        ["assessment_id", "revision"],
        unique=True,
        schema=schema,
    )


def downgrade() -> None:
    schema = _schema()
    op.drop_index("ix_report_credential_assessment_id_revision", "report_credential", schema=schema)
    op.drop_table("report_credential", schema=schema)
