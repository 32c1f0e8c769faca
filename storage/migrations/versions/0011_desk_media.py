"""Photos and voice notes in requests: whether a member was told what a photo can reveal.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing members have not seen the warning yet: false for every row.
    op.add_column(
        "members",
        sa.Column("photo_warned", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # SQLite cannot drop a column in place; batch mode copies the table.
    with op.batch_alter_table("members") as batch:
        batch.drop_column("photo_warned")
