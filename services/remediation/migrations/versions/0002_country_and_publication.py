"""The plan's country programme and each item's publication (issue 22): `improvement_plan.
country`, the factory's country as its latest report states it, scopes staff to their country
programme; `improvement_item.published_in`, the plan version whose publication first carried the
item, says whether buyers have its content and which due date binds it.

Frozen DDL. Neither value can be derived exactly from the read models alone: `country` stays null
(only the headquarters' staff reach such a plan) until the factory's next completed assessment,
and the items of a plan published before are marked published at its latest publication (a
superset, so the deadline scheduler never looks at a factory too late). `python -m
services.remediation rebuild` then makes both exact from the event history.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _schema() -> str:
    return str(context.config.attributes.get("schema", "remediation"))


def upgrade() -> None:
    schema = _schema()
    op.add_column(
        "improvement_plan", sa.Column("country", sa.String(2), nullable=True), schema=schema
    )
    op.add_column(
        "improvement_item", sa.Column("published_in", sa.Integer, nullable=True), schema=schema
    )
    op.execute(
        f"""
        UPDATE "{schema}".improvement_item AS item SET published_in = plan.published_version
        FROM "{schema}".improvement_plan AS plan
        WHERE plan.factory_id = item.factory_id AND plan.published_version IS NOT NULL
        """
    )


def downgrade() -> None:
    schema = _schema()
    op.drop_column("improvement_item", "published_in", schema=schema)
    op.drop_column("improvement_plan", "country", schema=schema)
