"""The reports' verifiable credentials (issue 20, docs/credentials.md): `credential` (each signed
credential, its status list index, what superseded it, its offline bundle), the status lists'
bits (`credential_status_list`), the sequence that places credentials in them, and the signing
key a development service generated (`credential_key`).

Frozen: the DDL is written out here and imports no live table definitions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMA = "assessment"


def upgrade() -> None:
    op.create_table(
        "credential",
        sa.Column("credential_id", sa.String(45), nullable=False),
        sa.Column("assessment_id", sa.String(64), nullable=False),
        sa.Column("factory_id", sa.String(64), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("supersedes", sa.String(45), nullable=True),
        sa.Column("superseded_by", sa.String(45), nullable=True),
        sa.Column("report_date", sa.Date, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_list", sa.Integer, nullable=False),
        sa.Column("status_list_index", sa.Integer, nullable=False),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("bundle", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("credential_id", name="pk_credential"),
        sa.UniqueConstraint(
            "assessment_id", "revision", name="uq_credential_assessment_id_revision"
        ),
        sa.UniqueConstraint(
            "status_list", "status_list_index", name="uq_credential_status_list_status_list_index"
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "credential_status_list",
        sa.Column("status_list", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("bits", sa.LargeBinary, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("status_list", name="pk_credential_status_list"),
        schema=SCHEMA,
    )
    op.execute(sa.schema.CreateSequence(sa.Sequence("credential_status_seq", schema=SCHEMA)))
    op.create_table(
        "credential_key",
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("private_jwk", JSONB, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("kid", name="pk_credential_key"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("credential_key", schema=SCHEMA)
    op.execute(sa.schema.DropSequence(sa.Sequence("credential_status_seq", schema=SCHEMA)))
    op.drop_table("credential_status_list", schema=SCHEMA)
    op.drop_table("credential", schema=SCHEMA)
