"""Alerts expire (ALERT_RETENTION_DAYS) and /forget removes what a member asked for."""

from __future__ import annotations

import datetime as dt

import pytest
from aiogram import Bot
from sqlalchemy import func, select

from bot.app import App
from bot.devtools.localapi import FakeTelegram
from bot.safety import retention
from storage.models import Alert, Broadcast, BroadcastRecipient, Subscription, utcnow
from tests.alerts_kit import approve, broadcaster, received, subscribers
from tests.fakes import Chat


async def count(app: App, model: type) -> int:
    async with app.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.settings(alert_retention_days=1)
async def test_expired_alert_is_deleted_in_chats_and_in_the_database(
    app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """A short retention: the messages are still young enough for Telegram to delete them."""
    chats = await subscribers(app, 4)
    await approve(app)
    worker = broadcaster(app, bot)
    await worker.drain()
    assert await worker.expire(utcnow() + dt.timedelta(hours=12)) == 0  # not yet
    assert await worker.expire(utcnow() + dt.timedelta(days=1, hours=1)) == 1
    deleted = {e.chat_id for e in telegram.events if e.kind == "deleted"}
    assert deleted == set(chats)
    assert all((c, 1) not in telegram.messages for c in chats)
    for model in (Alert, Broadcast, BroadcastRecipient):
        assert await count(app, model) == 0
    assert await count(app, Subscription) == 4  # members still want alerts


async def test_alerts_older_than_telegram_allows_are_deleted_from_the_database(
    app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """After 90 days Telegram refuses deletions: none are tried, every row goes."""
    chats = await subscribers(app, 3)
    await approve(app)
    await broadcaster(app, bot).drain()
    assert received(telegram, chats) == dict.fromkeys(chats, 1)
    counts = await retention.purge(app, utcnow() + dt.timedelta(days=91))
    assert counts["alerts"] == 1
    assert not [e for e in telegram.events if e.kind == "deleted"]
    for model in (Alert, Broadcast, BroadcastRecipient):
        assert await count(app, model) == 0


@pytest.mark.settings(flood_limit=0)
async def test_forget_removes_subscriptions_and_broadcast_progress(
    chat: Chat, app: App, bot: Bot
) -> None:
    await chat.say("/alerts")
    await chat.tap("Get alerts")
    replies = await chat.say("Kenya")
    if any("remember" in r for r in replies):
        await chat.tap("No, just this time")
    await approve(app)
    await broadcaster(app, bot).drain()
    assert await count(app, BroadcastRecipient) == 1
    await chat.say("/forget")
    await chat.tap("Yes, delete everything")
    assert await count(app, Subscription) == 0
    assert await count(app, BroadcastRecipient) == 0
