"""Scale-out backends: PostgreSQL for storage, Redis for FSM state shared by instances."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from aiogram import Bot
from sqlalchemy import func, select

from bot.app import SchemaOutOfDate, create_app
from bot.devtools.localapi import FakeTelegram
from bot.dispatcher import build_dispatcher
from bot.telegram.intake import Intake
from storage import db
from storage.models import InboxUpdate, Member
from tests.conftest import make_settings
from tests.fakes import Chat, user


async def test_postgres_needs_an_explicit_upgrade_then_serves(
    pg_url: str, tmp_path: Path, telegram: FakeTelegram, bot: Bot
) -> None:
    """On PostgreSQL start refuses an old schema; after `db upgrade` the bot works end to end."""
    settings = make_settings(tmp_path, database_url=pg_url)
    with pytest.raises(SchemaOutOfDate):
        await create_app(settings)
    engine = db.create_engine(pg_url)
    await db.upgrade(engine)
    assert not await db.needs_upgrade(engine)
    await engine.dispose()

    app = await create_app(settings)
    try:
        dp = build_dispatcher(app)
        chat = Chat(telegram, bot, dp, Intake(app, bot, dp), user("ru"))
        await chat.say("/start")
        raw = telegram.user_message(chat.person, "/menu")
        await chat.feed(raw)
        await chat.feed(raw)  # a repeat is handled once (R3)
        async with app.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(Member)) == 1
            handled = await session.scalars(select(InboxUpdate))
            assert all(row.payload is None for row in handled)
        assert len(telegram.sent("sendMessage", chat.chat_id)) == 2
    finally:
        await app.close()


async def test_two_instances_share_fsm_state_through_redis(
    redis_url: str, tmp_path: Path, telegram: FakeTelegram, bot: Bot
) -> None:
    """State set while one instance handles an update is seen by another (R33)."""
    from aiogram.fsm.context import FSMContext
    from aiogram.fsm.storage.base import StorageKey

    settings = make_settings(tmp_path, redis_url=redis_url)
    app = await create_app(settings)
    try:
        first, second = build_dispatcher(app), build_dispatcher(app)
        person = user("en")
        key = StorageKey(bot_id=bot.id, chat_id=person["id"], user_id=person["id"])
        marker = uuid.uuid4().hex
        await FSMContext(first.storage, key).update_data(marker=marker)
        assert (await FSMContext(second.storage, key).get_data())["marker"] == marker
        await FSMContext(first.storage, key).clear()
        await first.storage.close()
        await second.storage.close()
    finally:
        await app.close()


async def test_fsm_data_in_redis_is_sealed(
    redis_url: str, tmp_path: Path, telegram: FakeTelegram, bot: Bot
) -> None:
    """A half-written request kept in Redis is not readable there (R25)."""
    from aiogram.fsm.context import FSMContext
    from aiogram.fsm.storage.base import StorageKey
    from redis.asyncio import Redis

    app = await create_app(make_settings(tmp_path, redis_url=redis_url))
    client = Redis.from_url(redis_url)
    try:
        dp = build_dispatcher(app)
        marker = "draft-" + uuid.uuid4().hex
        key = StorageKey(bot_id=bot.id, chat_id=4242, user_id=4242)
        await FSMContext(dp.storage, key).update_data(text=marker)
        assert (await FSMContext(dp.storage, key).get_data())["text"] == marker
        raw = b"".join([await client.dump(k) or b"" async for k in client.scan_iter("fsm:*")])
        assert raw and marker.encode() not in raw
        await FSMContext(dp.storage, key).clear()
        await dp.storage.close()
    finally:
        await client.aclose()
        await app.close()
