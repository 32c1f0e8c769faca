"""Network desk: saved answers per network and language, and transfers between networks.

Revision ID: 0010
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "saved_answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("network_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("network_id", "name", "language", name="uq_saved_answers_name"),
    )
    op.create_table(
        "referral_transfers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token", sa.String(16), nullable=False, unique=True),
        sa.Column(
            "referral_id",
            sa.Integer(),
            sa.ForeignKey("referrals.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("from_sealed", sa.LargeBinary()),
        sa.Column("to_sealed", sa.LargeBinary()),
        sa.Column("note", sa.LargeBinary()),
        sa.Column("prompt_chat_hash", sa.LargeBinary(32)),
        sa.Column("prompt_message_id", sa.BigInteger()),
        sa.Column("card_row_id", sa.Integer()),
        sa.Column("claimed_at", sa.DateTime()),
        sa.Column("escalated_at", sa.DateTime()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime()),
    )
    op.create_index(
        "ix_transfers_prompt", "referral_transfers", ["prompt_chat_hash", "prompt_message_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_transfers_prompt", table_name="referral_transfers")
    op.drop_table("referral_transfers")
    op.drop_table("saved_answers")
