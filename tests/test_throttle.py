"""Flood guard (R31): a member who bursts is slowed down; others are not."""

from __future__ import annotations

import random
from pathlib import Path

from aiogram import Bot

from bot.app import create_app
from bot.devtools.localapi import FakeTelegram
from bot.dispatcher import build_dispatcher
from bot.telegram.intake import Intake
from tests.conftest import make_settings
from tests.fakes import Chat, user


async def burst(chat: Chat, n: int) -> list[str]:
    out: list[str] = []
    for _ in range(n):
        out += await chat.say("/menu")
    return out


async def test_burst_gets_one_notice_then_silence(new_chat) -> None:  # type: ignore[no-untyped-def]
    """25 messages in a minute: 20 answered, one notice, the rest dropped; others unaffected."""
    flooder, other = new_chat("en"), new_chat("en")
    replies = await burst(flooder, 25)
    notices = [r for r in replies if "very fast" in r]
    assert len(notices) == 1
    assert len(replies) == 21
    assert await other.say("/menu") == ["What would you like to do?"]


async def test_redis_counter_is_shared_by_instances(
    redis_url: str, tmp_path: Path, telegram: FakeTelegram, bot: Bot
) -> None:
    """Two dispatchers on one Redis count the same member together (R20/R31)."""
    app = await create_app(make_settings(tmp_path, redis_url=redis_url))
    try:
        one, two = build_dispatcher(app), build_dispatcher(app)
        a = Chat(
            telegram,
            bot,
            one,
            Intake(app, bot, one),
            user("en", user_id=10**9 + random.randrange(10**9)),
        )
        b = Chat(telegram, bot, two, Intake(app, bot, two), a.person)
        replies = await burst(a, 10) + await burst(b, 15)
        assert sum("very fast" in r for r in replies) == 1
        await one.emit_shutdown(bot=bot)
        await two.emit_shutdown(bot=bot)
    finally:
        await app.close()
