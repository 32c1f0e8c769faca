"""The inbox's pending updates indexed apart (issue 10): handled rows stay a day to drop
repeats, and finding the updates still waiting walked over all of them on every tick.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

PENDING = sa.text("handled_at IS NULL AND quarantined_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_inbox_pending",
        "inbox",
        ["update_id"],
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_inbox_pending", table_name="inbox")
