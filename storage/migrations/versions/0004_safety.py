"""Member safety: message ids kept 48 hours for "Clear this chat", discreet mode and the PIN.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_ids",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "member_id",
            sa.Integer(),
            sa.ForeignKey("members.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("outgoing", sa.Boolean(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False, index=True),
    )
    op.create_index("ix_message_ids_member_seen", "message_ids", ["member_id", "seen_at"])
    op.create_table(
        "member_safety",
        sa.Column(
            "member_id",
            sa.Integer(),
            sa.ForeignKey("members.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("discreet", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("protect", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("pin", sa.LargeBinary()),
        sa.Column("pin_failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("pin_locked_until", sa.DateTime()),
        sa.Column("pin_unlocked_until", sa.DateTime()),
    )


def downgrade() -> None:
    op.drop_table("member_safety")
    op.drop_index("ix_message_ids_member_seen", table_name="message_ids")
    op.drop_table("message_ids")
