"""A seized database, with no key at all, names nobody and ties no one to what they asked (H1).

One member does everything the bot keeps rows for: a request with their @username shared, a
staff reply and their answer, a remembered country, alerts for their country, a bad-date
report that staff approve into an alert they then receive, and a transfer of their request to
another network with a note. A copy of the main database is then read with no key, with plain
`sqlite3` (or plain `asyncpg` on PostgreSQL), and must show no Telegram id, no username, and no
row that leads from the member to a need, a country or a network.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher

from bot.app import App
from bot.config import Settings
from bot.devtools.localapi import FakeTelegram
from bot.telegram.intake import Intake
from storage.models import SubscriptionKind
from storage.repositories import MemberRepo, ReferralRepo, SubscriptionRepo
from tests.alerts_kit import broadcaster
from tests.at_rest_kit import (
    BACKENDS,
    Backend,
    Tables,
    as_bytes,
    backend_settings,
    links,
    pg_foreign_keys,
    pg_tables,
    reached,
    sqlite_copy,
    sqlite_file,
    sqlite_foreign_keys,
    sqlite_tables,
)
from tests.fakes import Chat
from tests.referral_kit import Group, submit, worker
from tests.test_baddates import card_button, report

# Random per run: Redis is shared by runs (a failed run's state must not meet the next one).
TELEGRAM_ID = 7_600_000_000 + random.randrange(10**6)
USERNAME = f"hidden_handle_{random.randrange(10**6):06d}"
# Facts that must never be reachable from a member in clear: need, country, network ids.
FACTS = ("legal-help", "KE", "aswa", "global")


@pytest.fixture(params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, template_db: Path
) -> AsyncIterator[Backend]:
    async for found in backend_settings(request.param, tmp_path, template_db):
        yield found


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return backend.settings


def _group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake, title: str) -> Group:
    return Group(telegram, bot, dp, intake, title=title)


def identity_findings(tables: Tables) -> list[str]:
    """The member's Telegram id or @username anywhere, as a value or inside one."""
    found = []
    needles = (str(TELEGRAM_ID).encode(), USERNAME.encode())
    for table, rows in tables.items():
        for row in rows:
            for column, value in row.items():
                if value == TELEGRAM_ID:
                    found.append(f"{table}.{column}: the Telegram id as an integer")
                raw = as_bytes(value)
                if raw is not None and any(n in raw for n in needles):
                    found.append(f"{table}.{column}: the Telegram id or username as text")
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


async def test_h1_keyless_copy_names_nobody_and_links_no_need(
    backend: Backend,
    new_chat: Any,
    app: App,
    bot: Bot,
    dp: Dispatcher,
    intake: Intake,
    telegram: FakeTelegram,
    tmp_path: Path,
) -> None:
    chat: Chat = new_chat(user_id=TELEGRAM_ID, username=USERNAME)
    aswa = _group(telegram, bot, dp, intake, "ASWA staff")
    secretariat = _group(telegram, bot, dp, intake, "Secretariat")
    await aswa.bind("aswa")
    await secretariat.bind("global")
    delivery = worker(app, bot)
    await chat.say("/start")

    # A request, a reply and an answer (referral, relay, outbox and delivered rows).
    code = await submit(chat, "Police took my phone.", share_username=True)
    await delivery.drain()
    card = aswa.card(code)
    await aswa.say("We can help on Monday.", reply_to=card["message_id"])
    await delivery.drain()
    await chat.tap("Reply")
    await chat.say("Monday is fine.")
    await delivery.drain()
    async with app.sessions.begin() as session:
        member = await MemberRepo(session).get(TELEGRAM_ID)
        assert member is not None
        member_id = member.id
        # The remembered country, and alerts for it.
        await MemberRepo(session).set_country(member, "KE")
        await SubscriptionRepo(session).subscribe(member.id, SubscriptionKind.ALERTS, "KE", ())

    # A bad-date report, approved by ASWA's staff into an alert the member receives.
    report_code = await report(chat)
    await delivery.drain()
    message_id, approve = card_button(aswa, report_code, "Approve")
    await aswa.tap(message_id, approve)
    await delivery.drain()
    await broadcaster(app, bot).drain()
    assert any("grey Toyota" in t for t in chat.new_texts())

    # ASWA passes the request to the secretariat, with a note.
    await aswa.tap(card["message_id"], aswa.button(card, "Transfer"))
    picker = aswa.bot_messages()[-1]
    await aswa.tap(picker["message_id"], aswa.button(picker, "Global Network"))
    await aswa.say("Needs a lawyer in Nairobi.", reply_to=picker["message_id"])
    await delivery.drain()
    new_card = secretariat.card(code)
    await secretariat.say("We will call you.", reply_to=new_card["message_id"])
    await delivery.drain()

    async with app.sessions() as session:
        referral = await ReferralRepo(session).by_code(code)
        assert referral is not None
        # The bot itself still knows everything, with its keys.
        assert (referral.need, referral.country, referral.network_id) == (
            "legal-help",
            "KE",
            "global",
        )

    # The seizure: no key, no bot code.
    if backend.name == "sqlite":
        database = sqlite_file(app.settings.database_url)
        copy = sqlite_copy(database, tmp_path / "seized.sqlite3")
        tables, foreign_keys = sqlite_tables(copy), sqlite_foreign_keys(copy)
        assert raw_findings(copy, database, Path(f"{database}-wal")) == []
    else:
        tables = await pg_tables(app.settings.database_url)
        foreign_keys = await pg_foreign_keys(app.settings.database_url)

    # The scan sees every kind of row the member left.
    seen = {name for name, rows in tables.items() if rows}
    for table in (
        "members",
        "referrals",
        "referral_relays",
        "outbox",
        "subscriptions",
        "bad_date_reports",
        "alerts",
        "broadcasts",
        "broadcast_recipients",
        "referral_transfers",
        "message_ids",
    ):
        assert table in seen, table
    assert {"referrals", "outbox", "broadcast_recipients", "bad_date_reports"} <= reached(
        tables, foreign_keys, member_id
    )
    assert identity_findings(tables) == []
    leaks = links(tables, foreign_keys, member_id, FACTS)
    assert leaks == [], "\n".join(leaks)
