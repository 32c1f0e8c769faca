"""Redis holds no raw ids, no state names, and nothing of a member after /forget (L10, M5)."""

from __future__ import annotations

import random
from pathlib import Path

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey

from bot.app import create_app
from bot.devtools.localapi import FakeTelegram
from bot.dispatcher import build_dispatcher
from bot.middlewares.throttle import counter_name
from bot.telegram.intake import Intake
from tests.conftest import make_settings
from tests.fakes import Chat, user

DRAFT = "A half-written request about my landlord."


async def redis_dump(client: object) -> dict[bytes, bytes]:
    """Every key the bot may have written, with its raw value (strings and hashes)."""
    found: dict[bytes, bytes] = {}
    async for name in client.scan_iter("*"):  # type: ignore[attr-defined]
        kind = await client.type(name)  # type: ignore[attr-defined]
        if kind == b"string":
            found[name] = await client.get(name) or b""  # type: ignore[attr-defined]
        else:
            found[name] = await client.dump(name) or b""  # type: ignore[attr-defined]
    return found


async def test_l10_redis_names_nobody_and_forget_empties_it(
    redis_url: str, tmp_path: Path, telegram: FakeTelegram, bot: Bot
) -> None:
    """Mid-request, Redis keys and values hold neither the id nor the state's name; after
    /forget nothing of the member is left there, the flood counter included."""
    from redis.asyncio import Redis

    app = await create_app(make_settings(tmp_path, redis_url=redis_url))
    client = Redis.from_url(redis_url)
    person = user("en", user_id=10**9 + random.randrange(10**9), username="redis_handle_x")
    try:
        dp = build_dispatcher(app)
        dp["bot_username"] = telegram.bot_user["username"]
        chat = Chat(telegram, bot, dp, Intake(app, bot, dp), person)
        await chat.say("/start")
        await chat.say("/ask")
        await chat.tap("Legal help")
        key = StorageKey(bot_id=bot.id, chat_id=chat.chat_id, user_id=chat.chat_id)
        state = await FSMContext(dp.storage, key).get_state()
        assert state  # the flow is under way
        await FSMContext(dp.storage, key).update_data(draft=DRAFT)
        dump = await redis_dump(client)
        assert await client.exists(counter_name(app.identity, chat.chat_id))
        raw = b"\n".join(k + b"=" + v for k, v in dump.items())
        for secret in (str(chat.chat_id), person["username"], state, state.split(":")[0], DRAFT):
            assert secret.encode() not in raw, secret

        await chat.say("/forget")
        await chat.tap("Yes, delete everything")
        assert not await client.exists(counter_name(app.identity, chat.chat_id))
        assert await FSMContext(dp.storage, key).get_state() is None
        after = await redis_dump(client)
        mine = counter_name(app.identity, chat.chat_id).split(":")[1]
        assert not [k for k in after if mine.encode() in k]
        await dp.storage.close()
        await dp.emit_shutdown(bot=bot)
    finally:
        await client.aclose()
        await app.close()
