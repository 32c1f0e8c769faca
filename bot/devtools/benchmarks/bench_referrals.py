"""Referrals: from the member's consent tap to the card's sendMessage in the staff group.

The production dispatcher and the delivery worker run against the in-process fake Bot API on a
SQLite file; each sample goes through /ask untimed, then times the consent tap's update (stored,
handled, committed, confirmed) until the worker's card reaches the fake server.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from typing import Any

from aiogram.types import Update

from bot.app import create_app
from bot.devtools.benchmarks import Result, bench_settings, local_bot, summary
from bot.devtools.localapi import FakeTelegram
from bot.dispatcher import build_dispatcher, build_i18n
from bot.referrals.outbox import Delivery, DeliveryConfig
from bot.referrals.service import Referrals
from bot.telegram.intake import Intake

GROUP = -100_500
CODE = re.compile(r"R-[0-9A-Z]{5}")
SAMPLES = 100


def _button(telegram: FakeTelegram, chat_id: int, label: str) -> tuple[int, str]:
    for (cid, mid), _message in sorted(telegram.messages.items(), reverse=True):
        if cid != chat_id:
            continue
        for button in telegram.buttons(cid, mid):
            if label in button["text"] and "callback_data" in button:
                return mid, str(button["callback_data"])
    raise LookupError(label)


async def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(tmp)
        app = await create_app(settings)
        telegram = FakeTelegram()
        # This measures the pipeline, not Telegram's 20-a-minute group limit or the pacing
        # that respects it (R20): both are off, or every card after the 5th would wait 4 s.
        telegram.group_limit = None
        telegram.chat(GROUP, "supergroup", title="Staff")
        bot = local_bot(telegram)
        dp = build_dispatcher(app)
        dp["bot_username"] = telegram.bot_user["username"]
        intake = Intake(app, bot, dp)
        async with app.sessions.begin() as session:
            await Referrals(session, app).bind("aswa", GROUP)
        carded: dict[str, float] = {}
        arrived = asyncio.Event()
        original = telegram.api_sendmessage

        async def spy(params: dict[str, Any]) -> Any:
            result = await original(params)
            if int(params["chat_id"]) == GROUP and (found := CODE.search(str(params["text"]))):
                carded[found.group(0)] = time.perf_counter()
                arrived.set()
            return result

        telegram.api_sendmessage = spy  # type: ignore[method-assign]
        stop = asyncio.Event()
        unpaced = DeliveryConfig(group_rate=None)
        worker = asyncio.create_task(Delivery(app, bot, build_i18n(app), config=unpaced).run(stop))

        async def feed(raw: dict[str, Any]) -> None:
            await intake.feed(Update.model_validate(raw, context={"bot": bot}))

        async def one(n: int) -> float:
            chat = 20_000 + n
            person = {"id": chat, "is_bot": False, "first_name": "B", "language_code": "en"}
            await feed(telegram.user_message(person, "/ask"))
            await feed(telegram.user_tap(person, chat, *_button(telegram, chat, "Legal help")))
            await feed(telegram.user_message(person, "Kenya"))
            try:
                mid, data = _button(telegram, chat, "No, just this time")
                await feed(telegram.user_tap(person, chat, mid, data))
            except LookupError:
                pass
            await feed(telegram.user_message(person, f"Benchmark request {n}"))
            mid, data = _button(telegram, chat, "Send to the network")
            arrived.clear()
            start = time.perf_counter()
            await feed(telegram.user_tap(person, chat, mid, data))
            confirmation = telegram.messages[(chat, mid)]["text"]
            code = CODE.search(confirmation)
            assert code is not None, "no request number in the confirmation"
            while code.group(0) not in carded:
                await asyncio.wait_for(arrived.wait(), timeout=10)
                arrived.clear()
            return (carded[code.group(0)] - start) * 1000

        for n in range(5):  # warm-up
            await one(n)
        samples = [await one(n) for n in range(5, 5 + SAMPLES)]
        stop.set()
        await worker
        await bot.session.close()
        await app.close()
    return summary("referrals: consent tap to the card's sendMessage (SQLite)", samples, 200.0)
