"""Consent at every edge (issue 22).

`buyer_may_read(gated, factory_id, buyer_id)`: the one rule of what a buyer may read or have sent
again of the message log: a message that is not about a factory's data (`gated` false: the
buyer's own relationship events, test messages) always; one that is, only while the factory's
grant to that buyer is in force now (its latest grant event, by the grant stream's version, is a
grant whose end date has not passed). Every buyer read, redelivery, recovery and delivery attempt
calls it.

`consent_watermark`: as of when notifications knows every grant and revocation (buyer sharing's
watermark, applied in stream order after them); deliveries wait while it is too old.

`attempt.response_size`: the size of a receiver's answer, shown instead of its body when the
receiver is not at a public address.

Messages no rule allows any more are removed with their attempts (and held events alike):
`AssessmentScheduled` (assessments are unannounced) and the `ImprovementPlanUpdated` drafts sent
before publication (a body that does not say `progress.published = true`). The endpoint read
model no longer lists `AssessmentScheduled` (the projection leaves it out from now on, and a
rebuild does too).

The DDL is frozen here, as tables.py said it when this revision was written.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import context, op
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table

from libs.events.tables import NAMING_CONVENTION

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _schema() -> str:
    return str(context.config.attributes.get("schema", "notifications"))


def _withheld() -> str:
    """Messages (or held events) no buyer may have: a scheduled assessment, a plan's draft."""
    return """
        event_type = 'AssessmentScheduled'
        OR (event_type = 'ImprovementPlanUpdated' AND (
            payload IS NULL
            OR coalesce(convert_from(payload, 'UTF8')::jsonb #>> '{data,progress,published}',
                        'false') <> 'true'))
    """


def upgrade() -> None:
    schema = _schema()
    op.execute(
        f"""
        CREATE FUNCTION "{schema}".buyer_may_read(
            message_gated boolean, message_factory text, message_buyer text
        ) RETURNS boolean LANGUAGE sql STABLE AS $$
            SELECT NOT message_gated OR coalesce((
                SELECT g.kind = 'granted'
                       AND (g.ends_on IS NULL
                            OR g.ends_on >= (now() AT TIME ZONE 'UTC')::date)
                FROM "{schema}".grant_event g
                WHERE g.factory_id = message_factory AND g.buyer_id = message_buyer
                ORDER BY g.version DESC LIMIT 1), false)
        $$
        """
    )
    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    Table(
        "consent_watermark",
        metadata,
        Column("source", String(64), primary_key=True),
        Column("as_of", DateTime(timezone=True), nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False),
    ).create(op.get_bind())
    op.add_column("attempt", Column("response_size", Integer, nullable=True), schema=schema)
    withheld = _withheld()
    op.execute(
        f'DELETE FROM "{schema}".attempt WHERE message_id IN '
        f'(SELECT message_id FROM "{schema}".message WHERE {withheld})'
    )
    op.execute(f'DELETE FROM "{schema}".message WHERE {withheld}')
    op.execute(f'DELETE FROM "{schema}".held_event WHERE {withheld}')
    op.execute(
        f"""UPDATE "{schema}".endpoint
            SET event_types = array_remove(event_types, 'AssessmentScheduled')
            WHERE 'AssessmentScheduled' = ANY(event_types)"""
    )


def downgrade() -> None:
    schema = _schema()
    op.drop_column("attempt", "response_size", schema=schema)
    op.drop_table("consent_watermark", schema=schema)
    op.execute(f'DROP FUNCTION "{schema}".buyer_may_read(boolean, text, text)')
