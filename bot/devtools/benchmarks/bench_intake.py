"""Intake: an update sealed into the inbox, handled through the production dispatcher, replied."""

from __future__ import annotations

import tempfile
import tracemalloc

from aiogram.types import Update

from bot.app import create_app
from bot.devtools.benchmarks import Result, bench_settings, local_bot, summary, timed_async
from bot.devtools.localapi import FakeTelegram
from bot.dispatcher import build_dispatcher
from bot.telegram.intake import Intake


async def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(tmp)
        app = await create_app(settings)
        telegram = FakeTelegram()
        bot = local_bot(telegram)
        dp = build_dispatcher(app)
        intake = Intake(app, bot, dp)
        users = [
            {"id": 10_000 + i, "is_bot": False, "first_name": "B", "language_code": "fr"}
            for i in range(50)
        ]
        counter = iter(range(10**9))

        async def one() -> None:
            person = users[next(counter) % len(users)]
            raw = telegram.user_message(person, "/menu")
            await intake.feed(Update.model_validate(raw, context={"bot": bot}))

        for _ in range(20):  # warm-up: members created, caches filled
            await one()
        samples = await timed_async(one, 300)
        tracemalloc.start()
        await timed_async(one, 100)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        await bot.session.close()
        await app.close()
    return [
        *summary("intake: /menu stored, handled, answered (SQLite)", samples, 50.0),
        Result("intake: traced peak memory over 100 more updates", peak / 1e6, "MB"),
    ]
