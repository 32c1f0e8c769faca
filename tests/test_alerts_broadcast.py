"""The broadcast engine (issue 16 item 5) through the fake Bot API: limits, faults, progress."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiogram import Bot
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bot.alerts.engine import EngineConfig, Pacer
from bot.app import App
from bot.devtools.localapi import FakeTelegram
from storage.models import BroadcastRecipient, RecipientState, Subscription, SubscriptionKind
from tests.alerts_kit import ALERT, FAST, approve, bind, broadcaster, received, subscribers
from tests.faults import Faults
from tests.test_conversation import lock_screen_problems

GROUP = -100_555


def progress(telegram: FakeTelegram) -> str:
    """The group's progress message as it reads now."""
    mine = [key for key in telegram.messages if key[0] == GROUP]
    return str(telegram.messages[max(mine)]["text"])


async def states(app: App) -> dict[RecipientState, int]:
    async with app.sessions() as session:
        rows = await session.scalars(select(BroadcastRecipient.state))
        out: dict[RecipientState, int] = {}
        for state in rows:
            out[state] = out.get(state, 0) + 1
        return out


async def test_approved_alert_reaches_every_subscriber_of_its_country_once(
    app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """Kenya's 25 subscribers get it once each; France's do not; the group sees the count."""
    await bind(app, "aswa", GROUP)
    kenya = await subscribers(app, 25, country="KE")
    france = await subscribers(app, 5, country="FR")
    await approve(app)
    await broadcaster(app, bot).drain()
    assert received(telegram, kenya) == dict.fromkeys(kenya, 1)
    assert received(telegram, france) == {}
    message = telegram.messages[(kenya[0], 1)]
    assert ALERT in message["text"]
    assert "/ask" in message["text"]  # the "what to do" footer
    assert lock_screen_problems(app, message["html"]) == []
    progress = [e.message for e in telegram.events if e.chat_id == GROUP and e.message]
    assert progress and "25 / 25 · 0 failed" in progress[-1]["text"]
    assert not progress[-1].get("reply_markup")  # no Stop button once done


async def test_alert_for_an_area_reaches_that_area_and_the_whole_country_subscribers(
    app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    nairobi = await subscribers(app, 3, areas=("nairobi",))
    mombasa = await subscribers(app, 3, areas=("Mombasa",))
    everywhere = await subscribers(app, 3)
    await approve(app, areas=["Nairobi"])
    await broadcaster(app, bot).drain()
    assert set(received(telegram, nairobi + mombasa + everywhere)) == set(nairobi + everywhere)


async def test_broadcast_to_zero_recipients_says_so_and_sends_nothing(
    app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    await bind(app, "aswa", GROUP)
    await subscribers(app, 3, country="FR")
    await approve(app)
    await broadcaster(app, bot).drain()
    sent = [e for e in telegram.events if e.kind == "sent"]
    assert [e.chat_id for e in sent] == [GROUP]
    final = telegram.messages[(GROUP, sent[0].message["message_id"])]  # type: ignore[index]
    assert "Nobody has asked for this yet" in final["text"]


async def test_403_marks_the_member_unreachable_and_later_broadcasts_skip_them(
    app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    chats = await subscribers(app, 5)
    blocked = chats[2]
    faults = Faults(forbidden={blocked})
    telegram.faults.append(faults)
    await approve(app)
    await broadcaster(app, bot).drain()
    assert (await states(app))[RecipientState.UNREACHABLE] == 1
    async with app.sessions() as session:
        subs = list(await session.scalars(select(Subscription)))
        assert sum(s.unreachable_on is not None for s in subs) == 1
    tries = len([c for c in faults.log if c[0] == blocked])
    await approve(app, text="A second alert.")
    await broadcaster(app, bot).drain()
    assert len([c for c in faults.log if c[0] == blocked]) == tries == 1
    assert received(telegram, chats) == {c: 2 for c in chats if c != blocked}


async def test_429_is_honoured_for_that_chat_and_nobody_is_sent_twice(
    app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    chats = await subscribers(app, 20)
    faults = Faults(p429=1.0, retry_after=1, max_429=1, only={chats[0]})
    telegram.faults.append(faults)
    await approve(app)
    start = time.monotonic()
    await broadcaster(app, bot).drain()
    assert faults.counts["429"] == 1
    assert received(telegram, chats) == dict.fromkeys(chats, 1)
    tries = [t for chat, _fault, t in faults.log if chat == chats[0]]
    assert len(tries) == 2 and tries[1] - tries[0] >= 1.0
    others = sorted([start] + [t for chat, _fault, t in faults.log if chat != chats[0]])
    # The rest did not wait for that chat: no pause of a second between their sends.
    assert max(b - a for a, b in itertools.pairwise(others)) < 0.9


async def test_rate_stays_within_the_limit_overall_and_per_chat(
    app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """At 25/s, no one-second window holds more than 25 sends (R20)."""
    chats = await subscribers(app, 60)
    faults = Faults()
    telegram.faults.append(faults)
    await approve(app)
    config = EngineConfig(rate=25, progress_every=0.5, idle_wait=0.02)
    await broadcaster(app, bot, config).drain()
    times = sorted(t for chat, _f, t in faults.log if chat in set(chats))
    assert len(times) == 60
    worst = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
    assert worst <= 26  # 25 slots plus the one that opens the window


async def test_database_gone_mid_broadcast_pauses_and_resumes_without_loss_or_repeat(
    app: App, bot: Bot, telegram: FakeTelegram, tmp_path: Any
) -> None:
    await bind(app, "aswa", GROUP)
    chats = await subscribers(app, 30)
    healthy = app.sessions
    (tmp_path / "no").write_text("not a folder")
    broken_engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/no/x.sqlite3")
    broken = async_sessionmaker(broken_engine)
    seen = 0
    cut = asyncio.Event()

    def cut_after_ten(method: str, params: dict[str, Any]) -> None:
        nonlocal seen
        if method == "sendMessage" and int(params["chat_id"]) in set(chats):
            seen += 1
            if seen == 10:
                app.sessions = broken  # the send goes through; recording it does not
                cut.set()

    telegram.faults.append(cut_after_ten)
    await approve(app)
    worker = broadcaster(app, bot)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(cut.wait(), 30)
        await asyncio.sleep(0.5)
        paused = sum(received(telegram, chats).values())
        await asyncio.sleep(0.5)
        assert not task.done()
        # Sends already marked in flight by other lanes go out; then nothing until it is back.
        assert 10 <= paused <= 10 + FAST.lanes - 1
        assert sum(received(telegram, chats).values()) == paused
        # A clear message: the group's progress message says it is paused, and why.
        for _ in range(200):
            if progress(telegram).startswith("Paused"):
                break
            await asyncio.sleep(0.05)
        shown = progress(telegram)
        assert shown.startswith("Paused: the bot's database is not answering."), shown
        app.sessions = healthy
        for _ in range(400):
            if progress(telegram).startswith("Sent.\n30 / 30 · 0 failed"):
                break
            await asyncio.sleep(0.05)
        assert progress(telegram).startswith("Sent.\n30 / 30 · 0 failed")  # no longer paused
    finally:
        app.sessions = healthy
        stop.set()
        await asyncio.wait_for(task, 10)
        await broken_engine.dispose()
    assert received(telegram, chats) == dict.fromkeys(chats, 1)
    assert (await states(app)) == {RecipientState.SENT: 30}


async def test_in_flight_rows_after_a_crash_are_sent_again_flagged_and_nobody_else(
    app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """What a kill -9 leaves (one row in flight, some sent): resume sends the rest once."""
    chats = await subscribers(app, 10)
    await approve(app)
    worker = broadcaster(app, bot)
    job = await worker._plan(1)
    assert job is not None
    async with app.sessions.begin() as session:
        rows = list(
            await session.scalars(select(BroadcastRecipient).order_by(BroadcastRecipient.id))
        )
        for row in rows[:4]:
            row.state, row.message_id = RecipientState.SENT, 1
        rows[4].state = RecipientState.IN_FLIGHT
    await worker.drain()
    got = received(telegram, chats)
    assert sum(got.values()) == 6 and all(n == 1 for n in got.values())
    async with app.sessions() as session:
        flagged = list(
            await session.scalars(select(BroadcastRecipient).where(BroadcastRecipient.repeat))
        )
    assert len(flagged) == 1


async def test_news_opt_in_is_separate_from_alerts(
    app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    news_only = await subscribers(app, 3, kind=SubscriptionKind.NEWS)
    await approve(app)
    await broadcaster(app, bot).drain()
    assert received(telegram, news_only) == {}
    assert FAST.rate > 25  # the fast config is for tests only


async def test_metrics_count_broadcast_sends_without_ids(
    app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    from bot import metrics

    chats = await subscribers(app, 3)
    telegram.faults.append(Faults(forbidden={chats[0]}))
    before = metrics.BROADCAST_SENDS.labels("ok")._value.get()
    await approve(app)
    await broadcaster(app, bot).drain()
    assert metrics.BROADCAST_SENDS.labels("ok")._value.get() - before == 2
    text = metrics.render().decode()
    assert 'bot_broadcast_sends_total{result="403"}' in text
    assert not any(str(c) in text for c in chats)


async def test_alert_message_ids_are_kept_for_clear_this_chat(
    app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    from storage.models import MessageSighting

    chats = await subscribers(app, 4)
    await approve(app)
    await broadcaster(app, bot).drain()
    async with app.sessions() as session:
        seen = list(await session.scalars(select(MessageSighting)))
    assert len(seen) == 4 and all(s.outgoing and s.message_id == 1 for s in seen)
    assert received(telegram, chats) == dict.fromkeys(chats, 1)


async def test_bench_restart_rate_three_chats_429_in_a_second_do_not_hold_the_others(
    app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """The quick bench's lost second after the restart: its seeded 1% of 429s put three on
    neighbouring sends, and three 429s within a second held every chat for retry_after.
    Telegram slowing a few chats is not a limit on the bot: the others go on."""
    chats = await subscribers(app, 40)
    slowed = set(chats[10:13])
    faults = Faults(p429=1.0, retry_after=1, max_429=3, only=slowed)
    telegram.faults.append(faults)
    await approve(app)
    config = EngineConfig(rate=25, progress_every=0.5, idle_wait=0.02)
    await broadcaster(app, bot, config).drain()
    assert faults.counts["429"] == 3
    assert received(telegram, chats) == dict.fromkeys(chats, 1)
    others = sorted(t for chat, fault, t in faults.log if chat not in slowed)
    assert max(b - a for a, b in itertools.pairwise(others)) < 0.9


def test_pacer_holds_everyone_when_telegram_refuses_most_sends() -> None:
    """A limit on the whole bot (most answers are 429) still pauses every chat."""
    pacer = Pacer(25)
    for _ in range(10):
        pacer.answered(False)
    for _ in range(4):
        pacer.saw_429(3)
    assert pacer.not_before == 0.0  # 4 in the last 10: Telegram is slowing a few chats
    for _ in range(3):
        pacer.saw_429(3)
    assert pacer.not_before > time.monotonic() + 2  # 7 of the last 10: everyone waits
    assert pacer.reserve(time.monotonic()) >= pacer.not_before


def slots_of(pacer: Pacer, sends: int, work: Callable[[int], float]) -> list[float]:
    """Slot times of a sender that spends `work(i)` seconds on send i (a simulated clock)."""
    now, slots = 0.0, []
    for i in range(sends):
        at = pacer.reserve(now)
        slots.append(at)
        now = at + work(i)
    return slots


def busiest_second(slots: list[float]) -> int:
    return max(bisect.bisect_left(slots, t + 1.0) - i for i, t in enumerate(slots))


def test_bench_rate_pacer_catches_up_after_slow_sends_within_the_peak() -> None:
    """Per-send hiccups (a slow commit on a busy machine: 0.3 s every 50th send) cost the old
    pacer 12% of the rate, for good; now the missed slots are caught up and the sustained rate
    holds, while no second holds more than the engine's cap (25: the issue's limit)."""
    cap = EngineConfig().rate * EngineConfig().peak
    assert cap == 25
    slots = slots_of(Pacer(25, cap=cap), 2000, lambda i: 0.3 if i % 50 == 49 else 0.02)
    assert (len(slots) - 1) / (slots[-1] - slots[0]) >= 24.5
    assert busiest_second(slots) <= 25
    # The schedule never runs ahead: over any 10 seconds, 25 a second plus the catch-up.
    assert all(bisect.bisect_left(slots, t + 10.0) - i <= 250 + 13 for i, t in enumerate(slots))


def test_pacer_spaces_a_fast_sender_evenly() -> None:
    slots = slots_of(Pacer(25, cap=28), 200, lambda _i: 0.001)
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) == pytest.approx(0.04) and max(gaps) == pytest.approx(0.04)
    assert busiest_second(slots) <= 26
