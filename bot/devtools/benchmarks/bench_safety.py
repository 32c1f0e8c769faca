"""Safety: what the request middleware adds to a send, /exit on a busy chat, the daily purge."""

from __future__ import annotations

import datetime as dt
import tempfile
import time

from aiogram import Bot

from bot.app import App, create_app
from bot.devtools.benchmarks import Result, bench_settings, local_bot, summary, timed_async
from bot.devtools.localapi import FakeTelegram
from bot.safety.pin import check_pin, hash_pin
from bot.safety.retention import purge
from bot.safety.service import Prefs, install
from storage.models import InboxUpdate, Member, MessageSighting, utcnow
from storage.repositories import SafetyRepo

MEMBER = 20_000


async def sends(app: App) -> list[Result]:
    telegram = FakeTelegram()
    plain, guarded = local_bot(telegram), local_bot(telegram)
    safety = install(guarded, app)

    async def send(bot: Bot) -> None:
        await bot.send_message(MEMBER, "<b>A guide page</b>\nwith a few words on it.")

    base = await timed_async(lambda: send(plain), 300)
    off = await timed_async(lambda: send(guarded), 300)

    async def uncached() -> None:
        safety.forget(MEMBER)  # a setting read from the database, as after 10 s idle
        await send(guarded)

    miss = await timed_async(uncached, 300)
    safety.remember(MEMBER, Prefs("fr", discreet=True, protect=True))
    on = await timed_async(lambda: send(guarded), 300)
    await safety.close()
    for bot in (plain, guarded):
        await bot.session.close()
    return [
        *summary("send: no safety middleware", base),
        *summary("send: safety middleware, discreet off", off, 5.0),
        *summary("send: safety middleware, setting read from the DB", miss, 10.0),
        *summary("send: discreet mode on (neutral line, protect)", on, 5.0),
    ]


async def exit_and_purge(app: App) -> list[Result]:
    telegram = FakeTelegram()
    bot = local_bot(telegram)
    safety = app.safety
    now = utcnow()
    async with app.sessions.begin() as session:
        member = (await session.get(Member, 1)) or Member(public_id="BENCH1", telegram_id=MEMBER)
        session.add(member)
        await session.flush()
        member_id = member.id
    clear_samples = []
    for _ in range(10):
        async with app.sessions.begin() as session:
            await SafetyRepo(session).add_sightings(
                [(member_id, i, bool(i % 2), now) for i in range(1, 301)]
            )
        start = time.perf_counter()
        async with app.sessions.begin() as session:
            await safety.clear_chat(bot, session, member_id, MEMBER)
        clear_samples.append((time.perf_counter() - start) * 1000)
    await bot.session.close()

    async with app.sessions.begin() as session:
        old = now - dt.timedelta(days=3)
        session.add_all(
            MessageSighting(member_id=member_id, message_id=i, outgoing=False, seen_at=old)
            for i in range(20_000)
        )
        session.add_all(
            InboxUpdate(update_id=i, payload=None, received_at=old, handled_at=old)
            for i in range(5_000)
        )
    start = time.perf_counter()
    counts = await purge(app, now)
    purge_ms = (time.perf_counter() - start) * 1000
    return [
        *summary("/exit: 300 messages in 3 deleteMessages calls", clear_samples, 200.0),
        Result(
            "purge: 20,000 message ids + 5,000 inbox ids",
            purge_ms,
            "ms",
            5000.0,
            f"deleted {counts['message_ids'] + counts['inbox']}",
        ),
    ]


async def pins(app: App) -> list[Result]:
    stored = await hash_pin(app.sealer, 1, "482913")
    samples = await timed_async(lambda: check_pin(app.sealer, 1, "482913", stored), 20)
    return summary("PIN check (scrypt n=2^14, in a thread)", samples)


async def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(tmp)
        app = await create_app(settings)
        try:
            return [*await sends(app), *await exit_and_purge(app), *await pins(app)]
        finally:
            await app.close()
