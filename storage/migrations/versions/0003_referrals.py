"""Referrals: member data keys, bound network groups, referrals, relays and the outbox.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_keys",
        sa.Column(
            "member_id",
            sa.Integer(),
            sa.ForeignKey("members.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
    )
    op.create_table(
        "network_groups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("network_id", sa.String(32), nullable=False, unique=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=False, index=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("bound_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(12), nullable=False, unique=True),
        sa.Column(
            "member_id",
            sa.Integer(),
            sa.ForeignKey("members.id", ondelete="SET NULL"),
            index=True,
        ),
        sa.Column("need", sa.String(32), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("network_id", sa.String(32), nullable=False),
        sa.Column("group_network_id", sa.String(32)),
        sa.Column("body", sa.LargeBinary()),
        sa.Column("state", sa.String(12), nullable=False, index=True),
        sa.Column("source_update_id", sa.BigInteger(), unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime()),
        sa.Column("claimed_at", sa.DateTime()),
        sa.Column("reminded_at", sa.DateTime()),
        sa.Column("escalated_at", sa.DateTime()),
        sa.Column("closed_at", sa.DateTime()),
    )
    op.create_table(
        "referral_relays",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "referral_id",
            sa.Integer(),
            sa.ForeignKey("referrals.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("body", sa.LargeBinary()),
        sa.Column("source_update_id", sa.BigInteger(), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(80), nullable=False, unique=True),
        sa.Column(
            "referral_id",
            sa.Integer(),
            sa.ForeignKey("referrals.id", ondelete="CASCADE"),
            index=True,
        ),
        sa.Column(
            "relay_id", sa.Integer(), sa.ForeignKey("referral_relays.id", ondelete="CASCADE")
        ),
        sa.Column("destination", sa.String(12), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("chat_id", sa.BigInteger()),
        sa.Column("params", sa.String(200)),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("in_flight", sa.Boolean(), nullable=False),
        sa.Column("repeat", sa.Boolean(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("lease_until", sa.DateTime()),
        sa.Column("lease_owner", sa.String(32)),
        sa.Column("sent_chat_id", sa.BigInteger()),
        sa.Column("message_id", sa.BigInteger()),
        sa.Column("last_error", sa.String(120)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime()),
    )
    op.create_index("ix_outbox_sent_message", "outbox", ["sent_chat_id", "message_id"])
    op.create_index("ix_outbox_due", "outbox", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.drop_index("ix_outbox_sent_message", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("referral_relays")
    op.drop_table("referrals")
    op.drop_table("network_groups")
    op.drop_table("member_keys")
