"""Sealed identity (H1, M5): no Telegram id, and no member-to-need link, in a keyless copy.

- members: `telegram_id` becomes `telegram_hash` (HMAC-SHA256 under a key derived from the
  master key: the lookup) and `telegram_sealed` (AES-GCM, bound to the pseudonym); the
  remembered `country` is sealed.
- referrals: need, country, network and the network whose group got the card are sealed,
  bound to the referral's code.
- outbox: the chat a message went to (a member's id, or a group that names the network) is
  sealed and found by its keyed hash; `params` (code and network of an alert) is sealed.
- inbox: `sender_hash`, the keyed hash of the sender, so /forget can find their updates.

Existing rows are hashed and sealed here, with the master key `storage.db.upgrade` passes
(MASTER_KEY, or the key file). The values must match storage/sealed.py's descriptors.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from storage.crypto import Identity

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _identity(conn: sa.Connection) -> Identity | None:
    key = context.config.attributes.get("master_key")
    if key is not None:
        return Identity(key)
    rows = sum(
        conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0
        for table in ("members", "referrals", "outbox")
    )
    if rows:
        raise RuntimeError("migration 0005 seals existing rows: it needs the master key")
    return None


def _fill(
    conn: sa.Connection,
    table: str,
    key: str,
    read: list[str],
    write: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    rows = conn.execute(sa.text(f"SELECT {key}, {', '.join(read)} FROM {table}")).mappings()
    for row in list(rows):
        values = write(dict(row))
        sets = ", ".join(f"{name} = :{name}" for name in values)
        conn.execute(
            sa.text(f"UPDATE {table} SET {sets} WHERE {key} = :_key"),
            {**values, "_key": row[key]},
        )


def upgrade() -> None:
    conn = op.get_bind()
    identity = _identity(conn)
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("telegram_hash", sa.LargeBinary(32)))
        batch.add_column(sa.Column("telegram_sealed", sa.LargeBinary()))
        batch.add_column(sa.Column("country_sealed", sa.LargeBinary()))
    with op.batch_alter_table("referrals") as batch:
        for name in ("need", "country", "network", "group_network"):
            batch.add_column(sa.Column(f"{name}_sealed", sa.LargeBinary()))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("sent_chat_hash", sa.LargeBinary(32)))
        batch.add_column(sa.Column("sent_chat_sealed", sa.LargeBinary()))
        batch.add_column(sa.Column("params_sealed", sa.LargeBinary()))
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("sender_hash", sa.LargeBinary(32)))

    if identity is not None:
        ident = identity

        def member(row: dict[str, Any]) -> dict[str, Any]:
            bind = row["public_id"]
            country = row["country"]
            return {
                "telegram_hash": ident.tag(int(row["telegram_id"])),
                "telegram_sealed": ident.seal_int(
                    int(row["telegram_id"]), f"member-telegram:{bind}".encode()
                ),
                "country_sealed": None
                if country is None
                else ident.seal_text(country, f"member-country:{bind}".encode()),
            }

        def referral(row: dict[str, Any]) -> dict[str, Any]:
            code = row["code"]
            group = row["group_network_id"]
            return {
                "need_sealed": ident.seal_text(row["need"], f"referral-need:{code}".encode()),
                "country_sealed": ident.seal_text(
                    row["country"], f"referral-country:{code}".encode()
                ),
                "network_sealed": ident.seal_text(
                    row["network_id"], f"referral-network:{code}".encode()
                ),
                "group_network_sealed": None
                if group is None
                else ident.seal_text(group, f"referral-group:{code}".encode()),
            }

        def outbox(row: dict[str, Any]) -> dict[str, Any]:
            key, chat, params = row["key"], row["sent_chat_id"], row["params"]
            return {
                "sent_chat_hash": None if chat is None else ident.tag(int(chat)),
                "sent_chat_sealed": None
                if chat is None
                else ident.seal_int(int(chat), f"outbox-chat:{key}".encode()),
                "params_sealed": None
                if params is None
                else ident.seal_text(params, f"outbox-params:{key}".encode(), 256),
            }

        _fill(conn, "members", "id", ["public_id", "telegram_id", "country"], member)
        _fill(
            conn,
            "referrals",
            "id",
            ["code", "need", "country", "network_id", "group_network_id"],
            referral,
        )
        _fill(conn, "outbox", "id", ["key", "sent_chat_id", "params"], outbox)

    op.drop_index("ix_outbox_sent_message", table_name="outbox")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("telegram_id")
        batch.drop_column("country")
        batch.alter_column("telegram_hash", existing_type=sa.LargeBinary(32), nullable=False)
        batch.alter_column("telegram_sealed", existing_type=sa.LargeBinary(), nullable=False)
        batch.create_unique_constraint("uq_members_telegram_hash", ["telegram_hash"])
    with op.batch_alter_table("referrals") as batch:
        for name in ("need", "country", "network_id", "group_network_id"):
            batch.drop_column(name)
        for name in ("need", "country", "network"):
            batch.alter_column(f"{name}_sealed", existing_type=sa.LargeBinary(), nullable=False)
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("sent_chat_id")
        batch.drop_column("params")
    op.create_index("ix_outbox_sent_message", "outbox", ["sent_chat_hash", "message_id"])
    op.create_index("ix_inbox_sender_hash", "inbox", ["sender_hash"])


def downgrade() -> None:
    raise NotImplementedError("0005 sealed members' ids: restore a backup to go back")
