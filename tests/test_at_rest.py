"""The master key and an old copy open no need after /forget; admin alerts keep none (H1).

The keyless seizure itself (no key at all) is tests/test_seized_database.py.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy import inspect, select, text

from bot.app import App, create_app
from bot.config import sqlite_url
from bot.devtools.localapi import FakeTelegram
from bot.telegram.intake import Intake
from storage.models import Referral
from storage.repositories import MemberRepo, ReferralRepo
from tests.conftest import make_settings
from tests.fakes import Chat
from tests.referral_kit import Group, submit, texts_to, worker

TELEGRAM_ID = 7_600_000_042
USERNAME = "hidden_handle_7f3"
# Facts that must never sit beside a member in clear: the need, country and network ids.
FACTS = {"legal-help", "KE", "aswa"}
FACTS_IN_ORDER = ("legal-help", "KE", "aswa")  # need, country, network


def _master_key(app: App) -> bytes:
    from bot.app import master_key

    return master_key(app.settings)


@pytest.fixture
def group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake) -> Group:
    return Group(telegram, bot, dp, intake)


Tables = dict[str, list[dict[str, Any]]]


def sqlite_tables(path: Path) -> Tables:
    """Every row of every table of an SQLite file, read with plain sqlite3."""
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: [dict(r) for r in conn.execute(f'SELECT * FROM "{n}"')] for n in names}


async def engine_tables(app: App) -> Tables:
    """The same through the app's engine (PostgreSQL)."""
    tables: Tables = {}
    async with app.engine.connect() as conn:
        names = await conn.run_sync(lambda c: inspect(c).get_table_names())
        for name in names:
            result = await conn.execute(select(text("*")).select_from(text(f'"{name}"')))
            tables[name] = [dict(row) for row in result.mappings()]
    return tables


def master_key_openings(tables: Tables, master: bytes) -> list[tuple[str, Any]]:
    """Everything the master key opens in a copy of the database: every column sealed under
    a key derived from it (storage.sealed descriptors, each bound to its row), and the inbox's
    raw updates sealed with it directly."""
    from storage.crypto import Identity, Sealer
    from storage.models import Base
    from storage.repositories.inbox import open_payload
    from storage.sealed import SealedInt, SealedText

    identity, opened = Identity(master), []
    for mapper in Base.registry.mappers:
        cls = mapper.class_
        for name, field in vars(cls).items():
            if not isinstance(field, SealedInt | SealedText):
                continue
            for row in tables.get(cls.__tablename__, []):
                sealed = row[field.column]
                if sealed is None:
                    continue
                aad = f"{field.purpose}:{row[field.bind]}".encode()
                value: Any = (
                    identity.open_int(bytes(sealed), aad)
                    if isinstance(field, SealedInt)
                    else identity.open_text(bytes(sealed), aad)
                )
                opened.append((f"{cls.__tablename__}.{name}", value))
    for row in tables.get("inbox", []):
        if row["payload"] is not None:
            raw = open_payload(Sealer(master), row["update_id"], bytes(row["payload"]))
            opened.append(("inbox", raw.decode()))
    return opened


async def facts_shredded(app: App, tables: Tables, code: str, member_id: int) -> None:
    """The referral's facts in an old copy: the master key's derived key does not open them,
    nor does any data key still in the key store (theirs is gone)."""
    from cryptography.exceptions import InvalidTag

    from storage.crypto import DataKeys, unpad

    assert app.keystore is not None
    assert await app.keystore.get(member_id) is None
    (row,) = [r for r in tables["referrals"] if r["code"] == code]
    columns = {
        "need_sealed": "referral-need",
        "country_sealed": "referral-country",
        "network_sealed": "referral-network",
        "group_network_sealed": "referral-group",
    }
    data_keys = DataKeys(app.sealer)
    candidates = [
        data_keys.unwrap(other, wrapped)
        for other in await app.keystore.members(created_before=dt.datetime(9999, 1, 1))
        if (wrapped := await app.keystore.get(other)) is not None
    ]
    for column, purpose in columns.items():
        sealed, aad = row[column], f"{purpose}:{code}".encode()
        assert sealed is not None
        with pytest.raises(InvalidTag):
            app.identity.open_text(bytes(sealed), aad)
        for sealer in candidates:
            with pytest.raises(InvalidTag):
                unpad(sealer.open(bytes(sealed), aad))


def revealing(value: Any) -> bool:
    """A fact as a whole value, or quoted inside one (JSON: alert reasons, raw updates)."""
    return value in FACTS or (
        isinstance(value, str)
        and any(f'"{fact}"' in value or f":{fact}" in value for fact in FACTS)
    )


async def test_h1_member_key_seals_need(
    new_chat: Any, group: Group, app: App, bot: Bot, tmp_path: Path
) -> None:
    """A copy of the database taken before a member's /forget, and the master key, no longer
    tell what they asked, where or of whom once they have forgotten: need, country and network
    were sealed with their own data key, and /forget destroyed it. The group still sees its
    card marked deleted, without them."""
    chat: Chat = new_chat(user_id=TELEGRAM_ID, username=USERNAME)
    await group.bind("aswa")
    delivery = worker(app, bot)
    await chat.say("/start")
    code = await submit(chat, "Police took my phone.")
    await delivery.drain()
    card = group.card(code)
    assert "Need: Legal help" in card["text"] and "Country: Kenya" in card["text"]
    async with app.sessions() as session:
        referral = await ReferralRepo(session).by_code(code)
        assert referral is not None and referral.member_id is not None
        member_id = referral.member_id
        assert (referral.need, referral.country, referral.network_id) == FACTS_IN_ORDER
        assert referral.group_network_id == "aswa"
    assert app.keystore is not None and await app.keystore.get(member_id) is not None

    database = Path(app.settings.database_url.split("///", 1)[1])
    copy = tmp_path / "before-forget.sqlite3"
    with sqlite3.connect(database) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)

    await chat.say("/forget")
    await chat.tap("Yes, delete everything")
    await delivery.drain()

    old = sqlite_tables(copy)
    # 1. Everything the master key opens in the old copy: no need, country or network.
    opened = master_key_openings(old, _master_key(app))
    assert opened  # the scan does open things (ids, sent chats...)
    assert [(where, v) for where, v in opened if revealing(v)] == []
    # 2. The referral's facts are in the copy, sealed with a key that no longer exists.
    await facts_shredded(app, old, code, member_id)
    # 3. Today's database keeps a tombstone: code and state, no facts at all.
    with sqlite3.connect(database) as conn:
        tomb = conn.execute(
            "SELECT member_id, state, need_sealed, country_sealed, network_sealed,"
            " group_network_sealed FROM referrals WHERE code = ?",
            (code,),
        ).fetchone()
    assert tomb == (None, "deleted", None, None, None, None)
    # 4. The network still sees what happened, on the card, without the facts.
    card = group.card(code)
    assert "Deleted by the member" in card["text"]
    assert "Need:" not in card["text"] and "Country:" not in card["text"]


async def test_h1_member_key_seals_need_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """The same on PostgreSQL, its key store in a database of its own: every row read before
    /forget, and the master key, open no need, country or network of that member after it."""
    from bot.referrals.service import Referrals

    settings = make_settings(tmp_path, database_url=pg_url, keys_url=sqlite_url(tmp_path / "k"))
    from storage import db

    engine = db.create_engine(pg_url)
    await db.upgrade(engine)
    await engine.dispose()
    app = await create_app(settings)
    try:
        async with app.sessions.begin() as session:
            member, _ = await MemberRepo(session).get_or_create(TELEGRAM_ID)
            referral = await ReferralRepo(session).add(
                Referral(
                    code="R-PGH1B",
                    member_id=member.id,
                    need="legal-help",
                    country="KE",
                    language="en",
                    network_id="aswa",
                    group_network_id="aswa",
                )
            )
            member_id = member.id
        async with app.sessions() as session:
            found = await ReferralRepo(session).by_code("R-PGH1B")
            assert found is not None
            assert (found.need, found.country, found.network_id) == FACTS_IN_ORDER
        old = await engine_tables(app)
        async with app.sessions.begin() as session:
            await Referrals(session, app).forget_member(member_id)
            gone = await MemberRepo(session).get(TELEGRAM_ID)
            assert gone is not None
            await MemberRepo(session).delete(gone)
        opened = master_key_openings(old, _master_key(app))
        assert opened
        assert [(where, v) for where, v in opened if revealing(v)] == []
        await facts_shredded(app, old, referral.code, member_id)
        now = await engine_tables(app)
        (tomb,) = [r for r in now["referrals"] if r["code"] == "R-PGH1B"]
        assert tomb["member_id"] is None and tomb["need_sealed"] is None
    finally:
        await app.close()


async def test_h1_sent_alert_keeps_no_network(
    new_chat: Any, app: App, bot: Bot, tmp_path: Path
) -> None:
    """With no group bound, admins are told a request for ASWA waits (its code and network
    side by side, sealed with the master key); once told, the row keeps neither."""
    chat: Chat = new_chat(user_id=TELEGRAM_ID, username=USERNAME)
    delivery = worker(app, bot)
    await chat.say("/start")
    await submit(chat, "Police took my phone.")
    await delivery.drain()
    database = Path(app.settings.database_url.split("///", 1)[1])
    with sqlite3.connect(database) as conn:
        alerts = conn.execute(
            "SELECT state, params_sealed FROM outbox WHERE destination = 'admin'"
        ).fetchall()
    assert alerts and all(state in ("sent", "dead") for state, _ in alerts)
    assert [params for _, params in alerts if params is not None] == []
    opened = master_key_openings(sqlite_tables(database), _master_key(app))
    assert [(where, v) for where, v in opened if revealing(v)] == []


async def test_h1_unsent_alert_keeps_no_network(
    new_chat: Any, app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """While admins cannot be told yet (Telegram failing for them), the waiting alert's row
    holds the request's code but not its network, even for the master key; once it goes, the
    admin still reads which network waits."""
    from tests.conftest import ADMIN_ID
    from tests.faults import Faults

    chat: Chat = new_chat(user_id=TELEGRAM_ID, username=USERNAME)
    delivery = worker(app, bot)
    await chat.say("/start")
    await submit(chat, "Police took my phone.")
    faults = Faults(p500=1.0, only={ADMIN_ID})
    telegram.faults.append(faults)
    await delivery.drain()
    assert faults.counts  # the alert was tried and failed
    database = Path(app.settings.database_url.split("///", 1)[1])
    tables = sqlite_tables(database)
    pending = [r for r in tables["outbox"] if r["destination"] == "admin"]
    assert pending and all(r["state"] not in ("sent", "dead") for r in pending)
    assert all(r["params_sealed"] is not None for r in pending)
    opened = master_key_openings(tables, _master_key(app))
    assert [(where, v) for where, v in opened if where == "outbox.params"]
    assert [(where, v) for where, v in opened if revealing(v)] == []

    telegram.faults.remove(faults)
    async with app.sessions.begin() as session:
        await session.execute(text("UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00'"))
    await delivery.drain()
    told = [t for t in texts_to(telegram, ADMIN_ID) if "is waiting" in t]
    assert told and "African Sex Workers Alliance" in told[-1]
