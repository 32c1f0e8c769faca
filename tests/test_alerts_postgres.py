"""Broadcasts on PostgreSQL (and Redis): the key broadcast tests again, on the production
backends. Skipped only when TEST_POSTGRES_URL / TEST_REDIS_URL are unset
(`eval "$(bash scripts/test-services.sh)"` starts both)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.app import App, create_app
from bot.devtools.localapi import FakeTelegram
from storage import db
from storage.models import Broadcast, BroadcastRecipient, BroadcastState, RecipientState
from tests.alerts_kit import FAST, approve, bind, broadcaster, received, subscribers
from tests.conftest import make_settings
from tests.fake_api import FakeBotAPI
from tests.faults import Faults
from tests.process import start_bot, stop, wait_for

GROUP = -100_556


def progress(telegram: FakeTelegram) -> str:
    """The group's progress message as it reads now."""
    mine = [key for key in telegram.messages if key[0] == GROUP]
    return str(telegram.messages[max(mine)]["text"])


@pytest.fixture
async def pg_app(pg_url: str, tmp_path: Path) -> AsyncIterator[App]:
    engine = db.create_engine(pg_url)
    await db.upgrade(engine)
    await engine.dispose()
    application = await create_app(make_settings(tmp_path, database_url=pg_url))
    yield application
    await application.close()


async def rows(app: App) -> list[BroadcastRecipient]:
    async with app.sessions() as session:
        return list(
            await session.scalars(select(BroadcastRecipient).order_by(BroadcastRecipient.id))
        )


async def test_postgres_alert_reaches_every_subscriber_once_and_skips_the_blocked(
    pg_app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    await bind(pg_app, "aswa", GROUP)
    chats = await subscribers(pg_app, 40)
    france = await subscribers(pg_app, 3, country="FR")
    telegram.faults.append(Faults(forbidden={chats[0]}))
    await approve(pg_app)
    await broadcaster(pg_app, bot).drain()
    assert received(telegram, chats) == {c: 1 for c in chats[1:]}
    assert received(telegram, france) == {}
    states = Counter(r.state for r in await rows(pg_app))
    assert states == {RecipientState.SENT: 39, RecipientState.UNREACHABLE: 1}
    progress = [e.message for e in telegram.events if e.chat_id == GROUP and e.message]
    assert progress and "39 / 40 · 1 failed" in progress[-1]["text"]


async def test_postgres_in_flight_rows_after_a_crash_are_sent_again_flagged_and_nobody_else(
    pg_app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """What a kill -9 leaves (one row in flight, some sent): resume sends the rest once."""
    chats = await subscribers(pg_app, 10)
    await approve(pg_app)
    worker = broadcaster(pg_app, bot)
    assert await worker._plan(1) is not None
    async with pg_app.sessions.begin() as session:
        found = list(
            await session.scalars(select(BroadcastRecipient).order_by(BroadcastRecipient.id))
        )
        for row in found[:4]:
            row.state, row.message_id = RecipientState.SENT, 1
        found[4].state = RecipientState.IN_FLIGHT
    await worker.drain()
    got = received(telegram, chats)
    assert sum(got.values()) == 6 and all(n == 1 for n in got.values())
    assert [r.id for r in await rows(pg_app) if r.repeat] == [found[4].id]


async def test_postgres_gone_mid_broadcast_pauses_and_resumes_without_loss_or_repeat(
    pg_app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """PostgreSQL stops answering after the 10th send: the worker waits, sends nothing more,
    and once it is back every member has the alert exactly once."""
    await bind(pg_app, "aswa", GROUP)
    chats = await subscribers(pg_app, 30)
    healthy = pg_app.sessions
    nowhere = db.create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    broken = async_sessionmaker(nowhere, expire_on_commit=False, info=healthy.kw.get("info"))
    seen = 0
    cut = asyncio.Event()

    def cut_after_ten(method: str, params: dict[str, Any]) -> None:
        nonlocal seen
        if method == "sendMessage" and int(params["chat_id"]) in set(chats):
            seen += 1
            if seen == 10:
                pg_app.sessions = broken  # the send goes through; recording it does not
                cut.set()

    telegram.faults.append(cut_after_ten)
    await approve(pg_app)
    worker = broadcaster(pg_app, bot)
    halt = asyncio.Event()
    task = asyncio.create_task(worker.run(halt))
    try:
        await asyncio.wait_for(cut.wait(), 60)
        await asyncio.sleep(0.5)
        paused = sum(received(telegram, chats).values())
        await asyncio.sleep(0.5)
        assert not task.done()
        assert 10 <= paused <= 10 + FAST.lanes - 1
        assert sum(received(telegram, chats).values()) == paused
        # A clear message: the group's progress message says it is paused, and why.
        for _ in range(200):
            if progress(telegram).startswith("Paused"):
                break
            await asyncio.sleep(0.05)
        shown = progress(telegram)
        assert shown.startswith("Paused: the bot's database is not answering."), shown
        pg_app.sessions = healthy
        await wait_for(lambda: progress(telegram).startswith("Sent.\n30 / 30 · 0 failed"), 60)
    finally:
        pg_app.sessions = healthy
        halt.set()
        await asyncio.wait_for(task, 30)
        await nowhere.dispose()
    assert received(telegram, chats) == dict.fromkeys(chats, 1)
    assert Counter(r.state for r in await rows(pg_app)) == {RecipientState.SENT: 30}


N = 120


async def test_postgres_redis_kill_9_mid_broadcast_resumes_with_none_skipped_and_repeats_flagged(
    pg_url: str, redis_url: str, fake_api: FakeBotAPI, tmp_path: Path
) -> None:
    """The real `python -m bot run` on PostgreSQL and Redis, killed at half way and started
    again: every member gets the alert; twice only for a send open at the kill, flagged."""
    engine = db.create_engine(pg_url)
    await db.upgrade(engine)
    await engine.dispose()
    settings = make_settings(tmp_path, database_url=pg_url)
    app = await create_app(settings)
    try:
        chats = await subscribers(app, N)
        await approve(app)
    finally:
        await app.close()
    wanted = set(chats)
    got: Counter[int] = Counter()
    half = asyncio.Event()

    def count(method: str, params: dict[str, Any]) -> None:
        if method == "sendMessage" and int(params["chat_id"]) in wanted:
            got[int(params["chat_id"])] += 1
            if sum(got.values()) >= N // 2:
                half.set()

    fake_api.telegram.faults.append(count)
    env = {
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "BROADCAST_RATE": "60",
        "BROADCAST_LANES": "1",
    }
    proc = await start_bot(fake_api, tmp_path, **env)
    try:
        await asyncio.wait_for(half.wait(), timeout=120)
    finally:
        proc.kill()
        await proc.wait()
    assert sum(got.values()) < N
    # The killed process's lease on the broadcasts lapses (30 s) before the new one sends.
    proc = await start_bot(fake_api, tmp_path, **env)
    try:
        await wait_for(lambda: set(got) == wanted)
        await asyncio.sleep(0.5)
    finally:
        code, err = await stop(proc)
    assert code == 0, err
    app = await create_app(settings)
    try:
        async with app.sessions() as session:
            job = await session.scalar(select(Broadcast))
            found = list(await session.scalars(select(BroadcastRecipient)))
    finally:
        await app.close()
    duplicates = sum(n - 1 for n in got.values())
    assert set(got) == wanted  # 0 skipped
    assert job is not None and job.state == BroadcastState.DONE
    assert duplicates <= 1
    assert duplicates <= sum(r.repeat for r in found)  # every duplicate is flagged
