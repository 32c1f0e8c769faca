"""Concurrent intake (issue 10): chats at once, each chat in order, bounded, a slow chat alone."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bot.devtools.localapi import FakeTelegram, Params, Reply
from bot.telegram.intake import Intake
from tests.fake_api import FakeBotAPI
from tests.fakes import user
from tests.process import start_bot, stop, wait_for


class Watch:
    """Counts sendMessage calls in flight, per chat and in all; some chats answer slowly."""

    def __init__(self, slow: dict[int, float] | None = None, default: float = 0.05) -> None:
        self.slow, self.default = slow or {}, default
        self.now: Counter[int] = Counter()
        self.peak_per_chat = 0
        self.peak = 0
        self.finished: dict[int, list[float]] = {}

    async def __call__(self, method: str, params: Params) -> Reply | None:
        if method != "sendMessage":
            return None
        chat = int(params["chat_id"])
        self.now[chat] += 1
        self.peak_per_chat = max(self.peak_per_chat, self.now[chat])
        self.peak = max(self.peak, sum(self.now.values()))
        await asyncio.sleep(self.slow.get(chat, self.default))
        self.now[chat] -= 1
        self.finished.setdefault(chat, []).append(time.monotonic())
        return None


def replies(telegram: FakeTelegram, chat_id: int) -> list[bool]:
    """For each answer to the chat, in order: was it the /help text?"""
    return [
        "How to use" in str(e.message["text"])
        for e in telegram.events
        if e.kind == "sent" and e.chat_id == chat_id and e.message is not None
    ]


async def test_chats_run_at_once_each_in_order_and_a_slow_chat_delays_only_itself(
    intake: Intake, telegram: FakeTelegram
) -> None:
    slow, *others = [user("en") for _ in range(6)]
    watch = Watch({slow["id"]: 0.4})
    telegram.faults.append(watch)
    plan = [True, False, False, True, False]
    batch = [telegram.user_message(slow, "/help" if h else "/menu") for h in plan]
    batch += [telegram.user_message(o, "/menu") for o in others]
    assert await intake.store_updates(batch) == len(batch)
    assert await intake.drain() == len(batch)
    assert watch.peak_per_chat == 1, "two updates of one chat were handled at once"
    assert watch.peak >= 3, "chats were handled one after another"
    assert replies(telegram, slow["id"]) == plan
    # The others did not wait behind the slow chat's five answers.
    last_other = max(watch.finished[o["id"]][0] for o in others)
    assert last_other < watch.finished[slow["id"]][1]


@pytest.mark.settings(max_concurrent_updates=3)
async def test_concurrency_is_bounded_by_the_setting(
    intake: Intake, telegram: FakeTelegram
) -> None:
    watch = Watch(default=0.05)
    telegram.faults.append(watch)
    members = [user("en") for _ in range(12)]
    await intake.store_updates([telegram.user_message(m, "/menu") for m in members])
    assert await intake.drain() == 12
    assert 2 <= watch.peak <= 3


async def test_repeats_in_a_batch_and_across_batches_are_stored_once(
    intake: Intake, telegram: FakeTelegram
) -> None:
    member = user("en")
    first = telegram.user_message(member, "/menu")
    second = telegram.user_message(member, "/help")
    assert await intake.store_updates([first, second, first]) == 2
    assert await intake.store_updates([second]) == 0
    await intake.drain()
    assert replies(telegram, member["id"]) == [False, True]


@pytest.mark.process
async def test_kill_9_with_many_chats_in_flight_loses_nothing_and_repeats_nothing(
    fake_api: FakeBotAPI, tmp_path: Path
) -> None:
    """Twenty members, three updates each; the process is killed while several chats' answers
    hang. After a restart every update is answered once, each chat in its order."""
    tg = fake_api.telegram
    members = [user("en") for _ in range(20)]
    plans = {m["id"]: [(i + m["id"]) % 2 == 0 for i in range(3)] for m in members}
    for i in range(3):
        for m in members:
            await tg.updates.put(tg.user_message(m, "/help" if plans[m["id"]][i] else "/menu"))
    original = tg.api_sendmessage
    hanging: list[int] = []
    forever = asyncio.Event()

    async def hang(params: Params) -> Any:
        hanging.append(int(params["chat_id"]))
        await forever.wait()
        return True

    tg.api_sendmessage = hang  # type: ignore[method-assign]
    proc = await start_bot(fake_api, tmp_path)
    await wait_for(lambda: len(hanging) >= 5, seconds=60)
    proc.kill()
    await proc.wait()
    tg.api_sendmessage = original  # type: ignore[method-assign]
    proc = await start_bot(fake_api, tmp_path)
    try:
        await wait_for(lambda: len(tg.sent("sendMessage")) - len(hanging) >= 60, seconds=90)
        await asyncio.sleep(0.5)
    finally:
        code, err = await stop(proc)
    assert code == 0, err
    for m in members:
        assert replies(tg, m["id"]) == plans[m["id"]]
    forever.set()
