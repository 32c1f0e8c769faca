"""Bad-date reports (issue 16): the reports, and the outbox rows that carry their cards.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bad_date_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(12), nullable=False, unique=True),
        sa.Column(
            "member_id",
            sa.Integer(),
            sa.ForeignKey("members.id", ondelete="SET NULL"),
            index=True,
        ),
        sa.Column("country_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("network_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("group_network_sealed", sa.LargeBinary()),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("body", sa.LargeBinary()),
        sa.Column("alert_text", sa.LargeBinary()),
        sa.Column("state", sa.String(10), nullable=False, index=True),
        sa.Column("source_update_id", sa.BigInteger(), unique=True),
        sa.Column("alert_id", sa.Integer()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime()),
        sa.Column("decided_at", sa.DateTime()),
        sa.Column("closed_at", sa.DateTime()),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column(
                "report_id",
                sa.Integer(),
                sa.ForeignKey(
                    "bad_date_reports.id", name="fk_outbox_report_id", ondelete="CASCADE"
                ),
            )
        )
        batch.create_index("ix_outbox_report_id", ["report_id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_report_id")
        batch.drop_constraint("fk_outbox_report_id", type_="foreignkey")
        batch.drop_column("report_id")
    op.drop_table("bad_date_reports")
