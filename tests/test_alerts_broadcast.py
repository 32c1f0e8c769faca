"""The broadcast engine (issue 16 item 5) through the fake Bot API: limits, faults, progress."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from aiogram import Bot
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bot.alerts.engine import EngineConfig
from bot.app import App
from bot.devtools.localapi import FakeTelegram
from storage.models import BroadcastRecipient, RecipientState, Subscription, SubscriptionKind
from tests.alerts_kit import ALERT, FAST, approve, bind, broadcaster, received, subscribers
from tests.faults import Faults
from tests.test_conversation import lock_screen_problems

GROUP = -100_555


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
        app.sessions = healthy
        for _ in range(200):
            if sum(received(telegram, chats).values()) == 30:
                break
            await asyncio.sleep(0.05)
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
