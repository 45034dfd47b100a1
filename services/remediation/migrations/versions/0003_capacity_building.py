"""The capacity building done for plan items (issue 18): `capacity_building`, one row per item
and training session or advisory visit of the advisory service that named it, keyed by the
factory the session or visit was about.

Frozen DDL. The table starts empty and needs no backfill: the rows come from the
`CapacityBuilding` streams, which the consumer of the advisory stream starts appending to once
this revision is in place (its durable consumer is new, so it reads the advisory stream from the
start), and `python -m services.remediation rebuild` writes them again from those streams.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _schema() -> str:
    return str(context.config.attributes.get("schema", "remediation"))


def upgrade() -> None:
    op.create_table(
        "capacity_building",
        sa.Column("factory_id", sa.String(200), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("source_id", sa.Text, nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=False),
        sa.Column("course_code", sa.Text, nullable=True),
        sa.Column("course_title", sa.Text, nullable=True),
        sa.Column("purpose", sa.Text, nullable=True),
        sa.Column("days", sa.Float, nullable=False),
        sa.Column("participants", sa.Integer, nullable=True),
        sa.Column("completions", sa.Integer, nullable=True),
        sa.Column("committee_meeting_id", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint(
            "factory_id", "item_id", "kind", "source_id", name="pk_capacity_building"
        ),
        schema=_schema(),
    )


def downgrade() -> None:
    op.drop_table("capacity_building", schema=_schema())
