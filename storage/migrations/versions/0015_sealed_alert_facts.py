"""Alerts and broadcasts keep their network, country and audience sealed (H1).

A member's broadcast recipient row leads to its broadcast and alert, and a member's bad-date
report leads to the alert it became: with `alerts.country`, `alerts.network_id`,
`broadcasts.network_id` and `broadcasts.audience` in clear, a copy of the database without any
key told which country's alerts a member receives and which network they reported to. They
are sealed here under the key derived from the master key, each bound to its row's code
(storage/sealed.py: "alert-network", "alert-country", "broadcast-network",
"broadcast-audience"). Existing rows are sealed with the master key `storage.db.upgrade`
passes.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from storage.crypto import Identity

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _identity(conn: sa.Connection) -> Identity | None:
    key = context.config.attributes.get("master_key")
    if key is not None:
        return Identity(key)
    rows = sum(
        conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0
        for table in ("alerts", "broadcasts")
    )
    if rows:
        raise RuntimeError("migration 0015 seals existing alerts: it needs the master key")
    return None


def upgrade() -> None:
    conn = op.get_bind()
    identity = _identity(conn)
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("network_sealed", sa.LargeBinary()))
        batch.add_column(sa.Column("country_sealed", sa.LargeBinary()))
    with op.batch_alter_table("broadcasts") as batch:
        batch.add_column(sa.Column("network_sealed", sa.LargeBinary()))
        batch.add_column(sa.Column("audience_sealed", sa.LargeBinary()))

    if identity is not None:
        alerts = conn.execute(sa.text("SELECT id, code, network_id, country FROM alerts"))
        for row in list(alerts.mappings()):
            code = row["code"]
            conn.execute(
                sa.text(
                    "UPDATE alerts SET network_sealed = :n, country_sealed = :c WHERE id = :i"
                ),
                {
                    "n": identity.seal_text(row["network_id"], f"alert-network:{code}".encode()),
                    "c": identity.seal_text(row["country"], f"alert-country:{code}".encode()),
                    "i": row["id"],
                },
            )
        jobs = conn.execute(sa.text("SELECT id, code, network_id, audience FROM broadcasts"))
        for row in list(jobs.mappings()):
            code = row["code"]
            conn.execute(
                sa.text(
                    "UPDATE broadcasts SET network_sealed = :n, audience_sealed = :a WHERE id = :i"
                ),
                {
                    "n": identity.seal_text(
                        row["network_id"], f"broadcast-network:{code}".encode()
                    ),
                    "a": identity.seal_text(
                        row["audience"] or "{}", f"broadcast-audience:{code}".encode(), 64
                    ),
                    "i": row["id"],
                },
            )

    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("network_id")
        batch.drop_column("country")
        batch.alter_column("network_sealed", existing_type=sa.LargeBinary(), nullable=False)
        batch.alter_column("country_sealed", existing_type=sa.LargeBinary(), nullable=False)
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_column("network_id")
        batch.drop_column("audience")
        batch.alter_column("network_sealed", existing_type=sa.LargeBinary(), nullable=False)


def downgrade() -> None:
    raise NotImplementedError("0015 sealed alerts' networks and countries: restore a backup")
