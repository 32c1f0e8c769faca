"""Concurrent intake: per-chat order and claims, retries measured in time, a quarantine.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("chat_key", sa.BigInteger()))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime()))
        batch.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("quarantined_at", sa.DateTime()))
        batch.add_column(sa.Column("last_error", sa.String(60)))
    op.create_index("ix_inbox_chat", "inbox", ["chat_key", "update_id"])
    op.create_table(
        "inbox_claims",
        sa.Column("chat_key", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("holder", sa.String(40), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "inbox_quarantine",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.String(60), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("inbox_quarantine")
    op.drop_table("inbox_claims")
    op.drop_index("ix_inbox_chat", table_name="inbox")
    with op.batch_alter_table("inbox") as batch:
        for column in ("last_error", "quarantined_at", "failures", "next_attempt_at", "chat_key"):
            batch.drop_column(column)
