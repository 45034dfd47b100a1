"""The tamper-evident history (issue 20, docs/history-chain.md): every event row gets `prev_hash`
and `hash` (SHA-256 hex, chained per stream), set on insert by a trigger whoever writes the row;
the events already stored are chained here, once, in stream and version order; and the tables of
the signed tree heads (`tree_head`, `tree_head_leaf`) and of a development signing key
(`history_key`). The DDL is the library's (libs.events.chain.install_hash_chain).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import context, op

from libs.events.chain import install_hash_chain, remove_hash_chain

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _schema() -> str:
    return str(context.config.attributes.get("schema", "advisory"))


def upgrade() -> None:
    install_hash_chain(op.get_bind(), _schema())


def downgrade() -> None:
    remove_hash_chain(op.get_bind(), _schema())
