"""/forget means everything (M5): every table and store, scanned byte by byte afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from sqlalchemy import select, update

from bot.app import App
from bot.devtools.localapi import FakeTelegram
from bot.telegram.intake import Intake
from storage.models import InboxUpdate
from storage.repositories import MemberRepo
from storage.repositories.inbox import open_payload
from tests.fakes import Chat
from tests.referral_kit import Group, submit, worker

TELEGRAM_ID = 7_600_000_077
USERNAME = "forgotten_handle_9q"
REQUEST = "Police took my phone in the raid on Friday."
STAFF_REPLY = "Our lawyer can meet you on Monday."
ANSWER = "Monday works, thank you."
STUCK = "FORGET-ME my address is 12 Hidden Lane"


@pytest.fixture
def group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake) -> Group:
    return Group(telegram, bot, dp, intake)


def needles() -> dict[str, bytes]:
    return {
        "id as text": str(TELEGRAM_ID).encode(),
        "id as a 6-byte integer": TELEGRAM_ID.to_bytes(6, "big"),
        "id as an 8-byte integer": TELEGRAM_ID.to_bytes(8, "big"),
        "username": USERNAME.encode(),
        **{text[:12]: text.encode() for text in (REQUEST, STAFF_REPLY, ANSWER, STUCK)},
    }


def scan(files: list[Path]) -> list[str]:
    found = []
    for file in files:
        data = file.read_bytes() if file.exists() else b""
        found += [f"{file.name}: {name}" for name, n in needles().items() if n in data]
    return found


async def test_m5_forget_erases_inbox_payloads_and_every_byte(
    new_chat: Any, group: Group, app: App, bot: Bot, intake: Intake, telegram: FakeTelegram
) -> None:
    """A member with a request, a relayed conversation, a remembered country and an update
    stuck in the inbox says /forget: no store holds their id, @username or words after."""
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
    # An update that failed five times (a Telegram outage while it was handled) waits in the
    # inbox, sealed with the master key only, for a week.
    raw = telegram.user_message(chat.person, STUCK)
    stuck = Update.model_validate(raw, context={"bot": bot})
    await intake.store([stuck])
    async with app.sessions.begin() as session:
        await session.execute(
            update(InboxUpdate).where(InboxUpdate.update_id == stuck.update_id).values(attempts=5)
        )

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
    assert not [o for o in opened if USERNAME in o or str(TELEGRAM_ID) in o or STUCK in o]
    database = Path(app.settings.database_url.split("///", 1)[1])
    assert app.keystore is not None
    store = Path(app.keystore.url.split("///", 1)[1])
    files = [database, Path(f"{database}-wal"), store, Path(f"{store}-wal")]
    assert scan(files) == []
