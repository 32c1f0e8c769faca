"""Schema changes go through Alembic: one line of history, and it builds exactly the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from storage import db
from storage.models import Base


def test_history_has_one_head() -> None:
    """Migrations form one line, so `db upgrade` is unambiguous."""
    heads = ScriptDirectory.from_config(db.alembic_config()).get_heads()
    assert len(heads) == 1, heads


async def _diff(url: str) -> list[object]:
    engine = db.create_engine(url)
    try:
        await db.upgrade(engine)

        def compare(conn: Connection) -> list[object]:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))

        async with engine.connect() as conn:
            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def test_migrations_build_the_models_on_sqlite(tmp_path: Path) -> None:
    """No table, column or index differs between the migrated schema and the models."""
    assert await _diff(f"sqlite+aiosqlite:///{tmp_path}/m.sqlite3") == []


async def test_migrations_build_the_models_on_postgres(pg_url: str) -> None:
    """The same on PostgreSQL, where types are stricter."""
    assert await _diff(pg_url) == []


async def test_h1_migration_seals_existing_rows(tmp_path: Path) -> None:
    """0005 moves data: ids, countries, needs, networks and sent chats of a database at 0004
    are hashed and sealed, and the bot still finds and reads them with its key."""
    import base64
    import sqlite3

    from bot.app import create_app
    from storage.repositories import MemberRepo, OutboxRepo, ReferralRepo
    from tests.conftest import make_settings

    path = tmp_path / "test.sqlite3"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    await db.upgrade(engine, target="0004")
    await engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO members (id, public_id, telegram_id, language, created_on,"
            " last_seen_on, country) VALUES (1, 'ABC123', 7600000042, 'en', '2026-11-01',"
            " '2026-11-01', 'KE')"
        )
        conn.execute(
            "INSERT INTO referrals (id, code, member_id, need, country, language, network_id,"
            " group_network_id, state, created_at) VALUES (1, 'R-MIG01', 1, 'legal-help', 'KE',"
            " 'en', 'aswa', 'aswa', 'delivered', '2026-11-01 10:00:00')"
        )
        conn.execute(
            "INSERT INTO outbox (id, key, referral_id, destination, kind, params, state,"
            " attempts, failures, in_flight, repeat, next_attempt_at, sent_chat_id, message_id,"
            " created_at) VALUES (1, 'relay:1', 1, 'member', 'relay', '{\"code\": \"R-MIG01\"}',"
            " 'sent', 1, 0, 0, 0, '2026-11-01 10:00:00', 7600000042, 55, '2026-11-01 10:00:00')"
        )
    settings = make_settings(tmp_path)
    app = await create_app(settings)  # upgrades with the settings' MASTER_KEY
    try:
        async with app.sessions() as session:
            member = await MemberRepo(session).get(7600000042)
            assert member is not None
            assert (member.id, member.telegram_id, member.country) == (1, 7600000042, "KE")
            referral = await ReferralRepo(session).by_code("R-MIG01")
            assert referral is not None
            assert (referral.need, referral.country, referral.network_id) == (
                "legal-help",
                "KE",
                "aswa",
            )
            assert (referral.group_network_id, referral.member_id) == ("aswa", 1)
            row = await OutboxRepo(session).posted(7600000042, 55)
            assert row is not None and row.params == '{"code": "R-MIG01"}'
    finally:
        await app.close()
    with sqlite3.connect(path) as conn:
        dump = "\n".join(conn.iterdump())
    assert "7600000042" not in dump and "legal-help" not in dump and "'aswa'" not in dump
    assert base64.b16encode((7600000042).to_bytes(6, "big")).decode() not in dump.upper()


async def test_h1_migration_without_the_key_refuses_to_lose_rows(tmp_path: Path) -> None:
    """Rows to seal and no key: the upgrade stops instead of dropping the ids."""
    import sqlite3

    import pytest

    path = tmp_path / "m.sqlite3"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    await db.upgrade(engine, target="0004")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO members (public_id, telegram_id, created_on, last_seen_on)"
            " VALUES ('ABC123', 42, '2026-11-01', '2026-11-01')"
        )
    with pytest.raises(RuntimeError, match="master key"):
        await db.upgrade(engine)
    await engine.dispose()


async def test_h1_migration_0008_moves_facts_under_members_keys(tmp_path: Path) -> None:
    """0008 moves data: a referral sealed the 0005 way (master-derived key) is re-sealed with
    its member's data key and still reads the same; a tombstone (member forgotten) keeps no
    facts at all; a sent admin alert forgets its reasons (a code beside a network)."""
    import sqlite3

    import pytest
    from cryptography.exceptions import InvalidTag

    from bot.app import create_app, master_key
    from storage.crypto import Identity
    from storage.repositories import ReferralRepo
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    ident = Identity(master_key(settings))
    path = tmp_path / "test.sqlite3"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    await db.upgrade(engine, target="0007")
    await engine.dispose()

    def facts(code: str) -> tuple[bytes, bytes, bytes, bytes]:
        return (
            ident.seal_text("legal-help", f"referral-need:{code}".encode()),
            ident.seal_text("KE", f"referral-country:{code}".encode()),
            ident.seal_text("aswa", f"referral-network:{code}".encode()),
            ident.seal_text("aswa", f"referral-group:{code}".encode()),
        )

    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO members (id, public_id, telegram_hash, telegram_sealed, language,"
            " created_on, last_seen_on) VALUES (1, 'ABC123', ?, ?, 'en', '2026-11-01',"
            " '2026-11-01')",
            (ident.tag(7600000042), ident.seal_int(7600000042, b"member-telegram:ABC123")),
        )
        for id_, code, member in ((1, "R-LIVE1", 1), (2, "R-GONE1", None)):
            conn.execute(
                "INSERT INTO referrals (id, code, member_id, need_sealed, country_sealed,"
                " network_sealed, group_network_sealed, language, state, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'en', 'delivered', '2026-11-01 10:00:00')",
                (id_, code, member, *facts(code)),
            )
        params = ident.seal_text(
            '{"reason": "waiting", "code": "R-LIVE1", "network": "aswa"}',
            b"outbox-params:alert:waiting:r1:1",
            256,
        )
        conn.execute(
            "INSERT INTO outbox (id, key, destination, kind, chat_id, params_sealed, state,"
            " attempts, failures, in_flight, repeat, next_attempt_at, created_at) VALUES"
            " (1, 'alert:waiting:r1:1', 'admin', 'alert', 1, ?, 'sent', 1, 0, 0, 0,"
            " '2026-11-01 10:00:00', '2026-11-01 10:00:00')",
            (params,),
        )
    app = await create_app(settings)  # migrates to 0008, then re-seals with members' keys
    try:
        async with app.sessions() as session:
            live = await ReferralRepo(session).by_code("R-LIVE1")
            assert live is not None and live.facts_key == "member"
            assert (live.need, live.country, live.network_id, live.group_network_id) == (
                "legal-help",
                "KE",
                "aswa",
                "aswa",
            )
            gone = await ReferralRepo(session).by_code("R-GONE1")
            assert gone is not None
            assert (gone.need, gone.country, gone.network_id, gone.group_network_id) == (
                None,
                None,
                None,
                None,
            )
    finally:
        await app.close()
    with sqlite3.connect(path) as conn:
        (need,) = conn.execute("SELECT need_sealed FROM referrals WHERE id = 1").fetchone()
        tomb = conn.execute(
            "SELECT need_sealed, country_sealed, network_sealed, group_network_sealed"
            " FROM referrals WHERE id = 2"
        ).fetchone()
        (alert,) = conn.execute("SELECT params_sealed FROM outbox WHERE id = 1").fetchone()
    with pytest.raises(InvalidTag):  # the master key's derived key no longer opens it
        ident.open_text(need, b"referral-need:R-LIVE1")
    assert tomb == (None, None, None, None)
    assert alert is None


async def test_h1_migration_0015_seals_alerts_network_and_country(tmp_path: Path) -> None:
    """0015 moves data: an alert and its broadcast written at 0013 with their network, country
    and audience in clear are sealed, the clear columns are gone, and the bot reads the same."""
    import sqlite3

    from bot.app import create_app, master_key
    from storage.crypto import Identity
    from storage.models import Alert, Broadcast
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    ident = Identity(master_key(settings))
    path = tmp_path / "test.sqlite3"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    await db.upgrade(engine, target="0013")
    await engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO alerts (id, code, network_id, country, areas_sealed, text_sealed,"
            " language, created_at) VALUES (1, 'A-1', 'aswa', 'KE', ?, ?, 'en',"
            " '2026-11-01 10:00:00')",
            (
                ident.seal_text("[]", b"alert-areas:A-1", 256),
                ident.seal_text("A grey car.", b"alert-text:A-1", 256),
            ),
        )
        conn.execute(
            "INSERT INTO broadcasts (id, code, kind, alert_id, network_id, audience, state,"
            " total, created_at) VALUES (1, 'C-1', 'alert', 1, 'aswa', '{\"country\": \"KE\"}',"
            " 'done', 1, '2026-11-01 10:00:00')"
        )
    app = await create_app(settings)  # migrates to the newest
    try:
        async with app.sessions() as session:
            alert = await session.get(Alert, 1)
            job = await session.get(Broadcast, 1)
            assert alert is not None and job is not None
            assert (alert.network_id, alert.country) == ("aswa", "KE")
            assert (job.network_id, job.audience) == ("aswa", '{"country": "KE"}')
    finally:
        await app.close()
    with sqlite3.connect(path) as conn:
        for table in ("alerts", "broadcasts"):
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
            assert rows and not [c for row in rows for c in row if c in ("aswa", "KE")]
            columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            assert not columns & {"network_id", "country", "audience"}


def test_profile_start_up_finds_the_newest_migration_without_alembic() -> None:
    """Issue 10: an up-to-date database starts without importing Alembic; the heads read
    from the scripts' lines are Alembic's own."""
    heads = set(ScriptDirectory.from_config(db.alembic_config()).get_heads())
    assert db.script_heads() == heads


async def test_profile_an_up_to_date_database_is_not_migrated_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path}/s.sqlite3")
    try:
        assert await db.needs_upgrade(engine)
        await db.upgrade(engine)

        def alembic(*_: object) -> bool:
            raise AssertionError("Alembic was asked about an up-to-date database")

        monkeypatch.setattr(db, "_pending", alembic)
        monkeypatch.setattr(db, "_upgrade", alembic)
        assert not await db.needs_upgrade(engine)
        await db.upgrade(engine)  # nothing to do, and nothing done
        async with engine.connect() as conn:
            versions = (
                await conn.exec_driver_sql("SELECT version_num FROM alembic_version")
            ).all()
        assert {v for (v,) in versions} == db.script_heads()
    finally:
        await engine.dispose()
