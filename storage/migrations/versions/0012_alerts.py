"""Alerts and news: subscriptions, approved alerts, broadcasts and per-recipient progress.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ref", sa.String(16), nullable=False, unique=True),
        sa.Column(
            "member_id",
            sa.Integer(),
            sa.ForeignKey("members.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("country_sealed", sa.LargeBinary()),
        sa.Column("areas_sealed", sa.LargeBinary()),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("unreachable_on", sa.Date()),
        sa.UniqueConstraint("member_id", "kind", name="uq_subscriptions"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("network_id", sa.String(32), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("areas_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("text_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("approved_by_hash", sa.LargeBinary(32)),
        sa.Column("source_report_id", sa.Integer(), unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, index=True),
    )
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column(
            "alert_id",
            sa.Integer(),
            sa.ForeignKey("alerts.id", ondelete="CASCADE"),
            unique=True,
        ),
        sa.Column("network_id", sa.String(32), nullable=False),
        sa.Column("audience", sa.String(64), nullable=False),
        sa.Column("text_sealed", sa.LargeBinary()),
        sa.Column("language", sa.String(8)),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("progress_chat_sealed", sa.LargeBinary()),
        sa.Column("progress_message_id", sa.BigInteger()),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False, index=True),
        sa.Column("finished_at", sa.DateTime()),
    )
    op.create_index("ix_broadcasts_state", "broadcasts", ["state", "id"])
    op.create_table(
        "broadcast_recipients",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "broadcast_id",
            sa.Integer(),
            sa.ForeignKey("broadcasts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "member_id",
            sa.Integer(),
            sa.ForeignKey("members.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("repeat", sa.Boolean(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime()),
        sa.Column("message_id", sa.BigInteger()),
        sa.Column("sent_at", sa.DateTime()),
        sa.UniqueConstraint("broadcast_id", "member_id", name="uq_broadcast_recipients"),
    )
    op.create_index(
        "ix_broadcast_recipients_due", "broadcast_recipients", ["broadcast_id", "state", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_broadcast_recipients_due", table_name="broadcast_recipients")
    op.drop_table("broadcast_recipients")
    op.drop_index("ix_broadcasts_state", table_name="broadcasts")
    op.drop_table("broadcasts")
    op.drop_table("alerts")
    op.drop_table("subscriptions")
