"""A seized database, with no key at all, names nobody and ties no one to what they asked (H1)."""

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
from storage.models import Destination, OutboxKind, OutboxState, Referral
from storage.repositories import MemberRepo, OutboxRepo, ReferralRepo
from tests.conftest import make_settings
from tests.fakes import Chat
from tests.referral_kit import Group, submit, worker

TELEGRAM_ID = 7_600_000_042
USERNAME = "hidden_handle_7f3"
# Facts that must never sit beside a member in clear: the need, country and network ids.
FACTS = {"legal-help", "KE", "aswa"}
FACTS_IN_ORDER = ("legal-help", "KE", "aswa")  # need, country, network
# Configuration, not people: which group serves which network.
CONFIG_TABLES = {"network_groups", "alembic_version"}


def sqlite_cells(path: Path) -> list[tuple[str, str, Any]]:
    """(table, column, value) for every cell of every table, read with plain sqlite3."""
    cells = []
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            names = [d[0] for d in cursor.description]
            for row in cursor:
                cells += [(table, name, value) for name, value in zip(names, row, strict=True)]
    return cells


def findings(cells: list[tuple[str, str, Any]]) -> list[str]:
    """What a keyless reader learns: an id, a username, or a fact beside a row."""
    found = []
    needles = (str(TELEGRAM_ID).encode(), USERNAME.encode())
    for table, column, value in cells:
        where = f"{table}.{column}"
        if value == TELEGRAM_ID:
            found.append(f"{where}: the Telegram id as an integer")
        raw = value.encode() if isinstance(value, str) else value
        if isinstance(raw, bytes | memoryview):
            if any(n in bytes(raw) for n in needles):
                found.append(f"{where}: the Telegram id or username as text")
            if table not in CONFIG_TABLES and isinstance(value, str) and value in FACTS:
                found.append(f"{where}: {value!r} in clear")
    return found


def raw_findings(*files: Path) -> list[str]:
    """The same in the files' bytes: free pages, the WAL, integers as SQLite encodes them."""
    found = []
    for file in files:
        data = file.read_bytes() if file.exists() else b""
        for needle in (
            str(TELEGRAM_ID).encode(),
            USERNAME.encode(),
            TELEGRAM_ID.to_bytes(6, "big"),  # SQLite's 6-byte integer
            TELEGRAM_ID.to_bytes(8, "big"),
        ):
            if needle in data:
                found.append(f"{file.name}: {needle!r}")
    return found


def _master_key(app: App) -> bytes:
    from bot.app import master_key

    return master_key(app.settings)


@pytest.fixture
def group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake) -> Group:
    return Group(telegram, bot, dp, intake)


async def test_h1_keyless_copy_names_nobody_and_links_no_need(
    new_chat: Any, group: Group, app: App, bot: Bot, tmp_path: Path
) -> None:
    """A member asks ASWA for legal help in Kenya, with their @username, remembers their
    country, gets a staff reply and answers; a plain copy of the database shows none of it."""
    chat: Chat = new_chat(user_id=TELEGRAM_ID, username=USERNAME)
    await group.bind("aswa")
    delivery = worker(app, bot)
    await chat.say("/start")
    code = await submit(chat, "Police took my phone.", share_username=True)
    await delivery.drain()
    await group.say("We can help on Monday.", reply_to=group.card(code)["message_id"])
    await delivery.drain()
    await chat.tap("Reply")
    await chat.say("Monday is fine.")
    await delivery.drain()
    async with app.sessions.begin() as session:
        member = await MemberRepo(session).get(TELEGRAM_ID)
        assert member is not None
        await MemberRepo(session).set_country(member, "KE")
        referral = await ReferralRepo(session).by_code(code)
        assert referral is not None
        # The bot itself still knows everything, with its key.
        assert (referral.need, referral.country, referral.network_id) == (
            "legal-help",
            "KE",
            "aswa",
        )
        assert member.telegram_id == TELEGRAM_ID

    database = Path(app.settings.database_url.split("///", 1)[1])
    copy = tmp_path / "seized.sqlite3"
    with sqlite3.connect(database) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    cells = sqlite_cells(copy)
    assert any(t == "referrals" for t, _, _ in cells)  # the scan sees the request's row
    assert findings(cells) == []
    assert raw_findings(copy, database, Path(f"{database}-wal")) == []


async def test_h1_keyless_copy_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """The same on PostgreSQL: every cell of every table, read without keys."""
    settings = make_settings(tmp_path, database_url=pg_url, keys_url=sqlite_url(tmp_path / "k"))
    from storage import db

    engine = db.create_engine(pg_url)
    await db.upgrade(engine)
    await engine.dispose()
    app = await create_app(settings)
    try:
        async with app.sessions.begin() as session:
            member, _ = await MemberRepo(session).get_or_create(TELEGRAM_ID)
            await MemberRepo(session).set_country(member, "KE")
            referral = await ReferralRepo(session).add(
                Referral(
                    code="R-PGH1A",
                    member_id=member.id,
                    need="legal-help",
                    country="KE",
                    language="en",
                    network_id="aswa",
                    group_network_id="aswa",
                )
            )
            row = await OutboxRepo(session).enqueue(
                f"relay-test:{referral.id}",
                referral_id=referral.id,
                destination=Destination.MEMBER,
                kind=OutboxKind.RELAY,
                params='{"code": "R-PGH1A", "network": "aswa"}',
            )
            assert row is not None
            row.state, row.sent_chat_id, row.message_id = OutboxState.SENT, TELEGRAM_ID, 9
        async with app.sessions() as session:
            assert await OutboxRepo(session).posted(TELEGRAM_ID, 9) is not None
        cells: list[tuple[str, str, Any]] = []
        async with app.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
            for table in tables:
                result = await conn.execute(select(text("*")).select_from(text(f'"{table}"')))
                names = list(result.keys())
                for values in result:
                    cells += [(table, n, v) for n, v in zip(names, values, strict=True)]
        assert any(t == "referrals" for t, _, _ in cells)
        assert findings(cells) == []
    finally:
        await app.close()


def master_key_openings(copy: Path, master: bytes) -> list[tuple[str, Any]]:
    """Everything the master key opens in a copy of the database: every column sealed under
    a key derived from it (storage.sealed descriptors, each bound to its row), and the inbox's
    raw updates sealed with it directly."""
    from storage.crypto import Identity, Sealer
    from storage.models import Base
    from storage.repositories.inbox import open_payload
    from storage.sealed import SealedInt, SealedText

    identity, opened = Identity(master), []
    with sqlite3.connect(copy) as conn:
        for mapper in Base.registry.mappers:
            cls = mapper.class_
            table = cls.__tablename__
            for name, field in vars(cls).items():
                if not isinstance(field, SealedInt | SealedText):
                    continue
                query = f'SELECT "{field.column}", "{field.bind}" FROM "{table}"'
                for sealed, bound in conn.execute(query):
                    if sealed is None:
                        continue
                    aad = f"{field.purpose}:{bound}".encode()
                    value: Any = (
                        identity.open_int(sealed, aad)
                        if isinstance(field, SealedInt)
                        else identity.open_text(sealed, aad)
                    )
                    opened.append((f"{table}.{name}", value))
        for update_id, payload in conn.execute("SELECT update_id, payload FROM inbox"):
            if payload is not None:
                opened.append(("inbox", open_payload(Sealer(master), update_id, payload).decode()))
    return opened


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
    from cryptography.exceptions import InvalidTag

    from storage.crypto import DataKeys, Identity, unpad

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

    master = app.identity
    assert isinstance(master, Identity)
    key = _master_key(app)
    # 1. Everything the master key opens in the old copy: no need, country or network.
    opened = master_key_openings(copy, key)
    assert opened  # the scan does open things (ids, sent chats...)
    assert [(where, v) for where, v in opened if revealing(v)] == []
    # 2. The referral's facts are in the copy, sealed: neither the master key's derived key
    # nor any data key still in the key store opens them.
    with sqlite3.connect(copy) as conn:
        row = conn.execute(
            "SELECT need_sealed, country_sealed, network_sealed, group_network_sealed"
            " FROM referrals WHERE code = ?",
            (code,),
        ).fetchone()
    assert row is not None and all(cell is not None for cell in row)
    purposes = ("referral-need", "referral-country", "referral-network", "referral-group")
    assert await app.keystore.get(member_id) is None
    data_keys = DataKeys(app.sealer)
    candidates = [
        data_keys.unwrap(other, wrapped)
        for other in await app.keystore.members(created_before=dt.datetime(9999, 1, 1))
        if (wrapped := await app.keystore.get(other)) is not None
    ]
    for sealed, purpose in zip(row, purposes, strict=True):
        aad = f"{purpose}:{code}".encode()
        with pytest.raises(InvalidTag):
            master.open_text(sealed, aad)
        for sealer in candidates:
            with pytest.raises(InvalidTag):
                unpad(sealer.open(sealed, aad))
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
