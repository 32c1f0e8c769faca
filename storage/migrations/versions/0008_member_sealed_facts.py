"""Referral facts under the member's own key (H1): need, country, network, group network.

0005 sealed them under a key derived from the master key, so a copy of the database taken
before a member's /forget, plus the master key, still told what they asked, where and of
whom. From now on they are sealed with the member's data key (the key store's, destroyed by
/forget), like the request's text. This migration:

- makes the four columns nullable and adds `facts_key` ("master": sealed the 0005 way;
  "member": under the member's data key). Existing rows are "master".
- tombstones (member_id NULL: the member used /forget): the four are emptied. Nothing they
  asked, where or of whom is kept; the row keeps its code, state and dates, all a withdrawn
  card needs.
- admin alerts already sent (or given up on): their sealed reasons (a request's code beside
  its network) are emptied; the worker now drops them once sent.

Rows whose member is still here are re-sealed under that member's key when the bot next
starts (`ReferralRepo.reseal_master_facts`, called by `bot.app.create_app`): the key store
lives outside this database (KEYS_URL, or `var/keys/`) where a migration cannot reach it.
Until then they stay readable the 0005 way.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

FACTS = ("need_sealed", "country_sealed", "network_sealed", "group_network_sealed")


def upgrade() -> None:
    with op.batch_alter_table("referrals") as batch:
        for name in FACTS[:3]:
            batch.alter_column(name, existing_type=sa.LargeBinary(), nullable=True)
        batch.add_column(
            sa.Column("facts_key", sa.String(8), nullable=False, server_default="master")
        )
    op.execute(
        sa.text(
            "UPDATE referrals SET "
            + ", ".join(f"{name} = NULL" for name in FACTS)
            + ", facts_key = 'member' WHERE member_id IS NULL"
        )
    )
    op.execute(
        sa.text(
            "UPDATE outbox SET params_sealed = NULL"
            " WHERE destination = 'admin' AND state IN ('sent', 'dead', 'cancelled')"
        )
    )


def downgrade() -> None:
    raise NotImplementedError("0008 sealed referral facts with members' keys: restore a backup")
