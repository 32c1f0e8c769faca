"""Intake: an update sealed into the inbox, handled through the production dispatcher, replied."""

from __future__ import annotations

import base64
import tempfile
import tracemalloc
from pathlib import Path

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.types import Update

from bot.app import create_app
from bot.benchmarks import Result, summary, timed_async
from bot.config import load_settings, sqlite_url
from bot.dispatcher import build_dispatcher
from bot.intake import Intake
from bot.localapi import FakeTelegram, LocalSession


async def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            database_url=sqlite_url(Path(tmp) / "bench.sqlite3"),
            master_key=base64.urlsafe_b64encode(b"b" * 32).decode(),
            flood_limit=0,
            _env_file=None,
        )
        app = await create_app(settings)
        telegram = FakeTelegram()
        bot = Bot(
            "1:bench",
            session=LocalSession(telegram),
            default=DefaultBotProperties(parse_mode=ParseMode.HTML),
        )
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
