"""/forget means everything (M5): every table and store, scanned byte by byte afterwards.

On SQLite: the bytes of the database, its write-ahead log, the key store and its log. On
PostgreSQL + Redis: every cell of every table of the main database and of the key store's
database (read with plain asyncpg), and every Redis key with its value.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from sqlalchemy import func, select, update

from bot.app import App
from bot.config import Settings
from bot.devtools.localapi import FakeTelegram
from bot.middlewares.throttle import counter_name
from bot.telegram.intake import Intake
from storage.models import InboxUpdate, QuarantinedUpdate, SubscriptionKind
from storage.repositories import MemberRepo, SubscriptionRepo
from storage.repositories.inbox import LEGACY_AAD, open_payload
from tests.alerts_kit import broadcaster
from tests.at_rest_kit import (
    BACKENDS,
    Backend,
    backend_settings,
    cells_bytes,
    needles_in,
    pg_tables,
    redis_dump,
    sqlite_file,
)
from tests.fakes import Chat
from tests.referral_kit import Group, submit, worker
from tests.test_baddates import card_button, report

# Random per run: Redis is shared by runs, so a failed run's keys cannot pass for this one's.
TELEGRAM_ID = 7_600_000_000 + random.randrange(10**6, 2 * 10**6)
USERNAME = f"forgotten_handle_{random.randrange(10**6):06d}"
REQUEST = "Police took my phone in the raid on Friday."
STAFF_REPLY = "Our lawyer can meet you on Monday."
ANSWER = "Monday works, thank you."
STUCK = "FORGET-ME my address is 12 Hidden Lane"
DRAFT = "FORGET-ME a draft about my landlord"
ASIDE = "FORGET-ME an update that could not be stored"


@pytest.fixture(params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, template_db: Path
) -> AsyncIterator[Backend]:
    async for found in backend_settings(request.param, tmp_path, template_db):
        yield found


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return backend.settings


@pytest.fixture
def group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake) -> Group:
    return Group(telegram, bot, dp, intake)


def needles() -> dict[str, bytes]:
    return {
        "id as text": str(TELEGRAM_ID).encode(),
        "id as a 6-byte integer": TELEGRAM_ID.to_bytes(6, "big"),
        "id as an 8-byte integer": TELEGRAM_ID.to_bytes(8, "big"),
        "username": USERNAME.encode(),
        **{
            text[:12]: text.encode()
            for text in (REQUEST, STAFF_REPLY, ANSWER, STUCK, DRAFT, ASIDE)
        },
    }


def scan(files: list[Path]) -> list[str]:
    found = []
    for file in files:
        data = file.read_bytes() if file.exists() else b""
        found += [f"{file.name}: {name}" for name in needles_in(data, needles())]
    return found


async def test_m5_forget_erases_inbox_payloads_and_every_byte(
    backend: Backend,
    new_chat: Any,
    group: Group,
    app: App,
    bot: Bot,
    dp: Dispatcher,
    intake: Intake,
    telegram: FakeTelegram,
) -> None:
    """A member with a request, a relayed conversation, a remembered country, alerts and a
    received alert, a bad-date report, a half-written request, an update stuck in the inbox
    and one set aside unstored says /forget: no store holds their id, @username or words after."""
    chat: Chat = new_chat(user_id=TELEGRAM_ID, username=USERNAME)
    await group.bind("aswa")
    delivery = worker(app, bot)
    await chat.say("/start")
    code = await submit(chat, REQUEST, share_username=True)
    await delivery.drain()
    await group.say(STAFF_REPLY, reply_to=group.card(code)["message_id"])
    await delivery.drain()
    await chat.tap("Reply")
    await chat.say(ANSWER)
    await delivery.drain()
    async with app.sessions.begin() as session:
        member = await MemberRepo(session).get(TELEGRAM_ID)
        assert member is not None
        await MemberRepo(session).set_country(member, "KE")
        await SubscriptionRepo(session).subscribe(member.id, SubscriptionKind.ALERTS, "KE", ())
    report_code = await report(chat)
    await delivery.drain()
    await group.tap(*card_button(group, report_code, "Approve"))
    await delivery.drain()
    await broadcaster(app, bot).drain()
    # A request left half-written: its state and draft wait in the FSM storage (Redis).
    await chat.say("/ask")
    await chat.tap("Legal help")
    await chat.say("Kenya")
    state = dp.fsm.get_context(bot, chat_id=chat.chat_id, user_id=chat.chat_id)
    await state.update_data(draft=DRAFT)
    await chat.say("/cancel")
    await chat.say("/ask")
    # An update that failed five times (a Telegram outage while it was handled) waits in the
    # inbox, sealed with the master key only, for a week.
    raw = telegram.user_message(chat.person, STUCK)
    stuck = Update.model_validate(raw, context={"bot": bot})
    await intake.store([stuck])
    async with app.sessions.begin() as session:
        await session.execute(
            update(InboxUpdate).where(InboxUpdate.update_id == stuck.update_id).values(attempts=5)
        )

    # One that could not even be stored (an update_id past 2^63): its body is set aside,
    # sealed with the master key, with no row and no sender hash.
    aside = telegram.user_message(chat.person, ASIDE)
    aside["update_id"] = 2**70
    await intake.store_updates([aside])
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(QuarantinedUpdate)) == 1

    await chat.say("/forget")
    replies = await chat.tap("Yes, delete everything")
    assert any("no longer keeps anything" in r for r in replies)
    await delivery.drain()
    await app.safety.close()  # its pending checkpoint of the write-ahead log

    async with app.sessions() as session:
        payloads = (
            await session.execute(select(InboxUpdate.update_id, InboxUpdate.payload))
        ).all()
    opened = [
        open_payload(app.sealer, uid, bytes(p)).decode() for uid, p in payloads if p is not None
    ]
    async with app.sessions() as session:
        bodies = (await session.scalars(select(QuarantinedUpdate.payload))).all()
    opened += [app.sealer.open(bytes(b), LEGACY_AAD).decode() for b in bodies]
    assert not [o for o in opened if USERNAME in o or str(TELEGRAM_ID) in o or "FORGET-ME" in o]

    if backend.name == "sqlite":
        database = sqlite_file(app.settings.database_url)
        assert app.keystore is not None
        store = sqlite_file(app.keystore.url)
        files = [database, Path(f"{database}-wal"), store, Path(f"{store}-wal")]
        assert scan(files) == []
        return
    main, keys = backend.pg_databases
    for url in (main, keys):
        tables = await pg_tables(url)
        assert tables["members" if url == main else "member_keys"] is not None
        assert needles_in(cells_bytes(tables), needles()) == [], url.rsplit("/", 1)[1]
    assert backend.redis_url is not None
    dump = await redis_dump(backend.redis_url)
    raw_redis = b"\n".join(k + b"=" + v for k, v in dump.items())
    assert needles_in(raw_redis, needles()) == []
    mine = counter_name(app.identity, chat.chat_id).split(":")[1].encode()
    assert not [k for k in dump if mine in k]  # no FSM key or flood counter of theirs
