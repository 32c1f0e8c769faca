"""A seized database, with no key at all, names nobody and ties no one to what they asked (H1)."""

from __future__ import annotations

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
