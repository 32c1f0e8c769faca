"""The language a staff group reads its cards in (`/bind <network> <lang>`, `/language`).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("network_groups", sa.Column("language", sa.String(8), nullable=True))


def downgrade() -> None:
    # SQLite cannot drop a column in place; batch mode copies the table.
    with op.batch_alter_table("network_groups") as batch:
        batch.drop_column("language")
