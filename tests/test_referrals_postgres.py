"""Referrals on PostgreSQL: the flow end to end, and workers sharing the outbox (SKIP LOCKED)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot
from sqlalchemy import func, select

from bot.app import App, create_app
from bot.devtools.localapi import FakeTelegram
from bot.dispatcher import build_dispatcher
from bot.referrals.outbox import DeliveryConfig
from bot.referrals.service import Referrals
from bot.telegram.intake import Intake
from storage import db
from storage.models import OutboxMessage
from storage.repositories import MemberRepo
from tests.conftest import make_settings
from tests.fakes import Chat, user
from tests.referral_kit import Group, submit, worker


@pytest.fixture
async def pg_app(pg_url: str, tmp_path: Path) -> AsyncIterator[App]:
    engine = db.create_engine(pg_url)
    await db.upgrade(engine)
    await engine.dispose()
    application = await create_app(make_settings(tmp_path, database_url=pg_url))
    yield application
    await application.close()


async def test_request_and_reply_on_postgres(
    pg_app: App, telegram: FakeTelegram, bot: Bot
) -> None:
    """Submit -> card -> staff reply -> the member reads it, with PostgreSQL underneath."""
    dp = build_dispatcher(pg_app)
    intake = Intake(pg_app, bot, dp)
    chat = Chat(telegram, bot, dp, intake, user("en"))
    group = Group(telegram, bot, dp, intake, title="ASWA staff")
    await group.bind("aswa")
    delivery = worker(pg_app, bot)
    code = await submit(chat, "On PostgreSQL.")
    await delivery.drain()
    card = group.card(code)
    await group.say("Received.", reply_to=card["message_id"])
    await delivery.drain()
    assert any("Received." in t for t in chat.new_texts())


async def test_four_workers_share_the_outbox_without_double_sends(
    pg_app: App, telegram: FakeTelegram, bot: Bot
) -> None:
    """Four workers, 300 cards: FOR UPDATE SKIP LOCKED gives each row to one of them (R5)."""
    group = -1_000_321
    telegram.chat(group, "supergroup", title="ASWA staff")
    codes: list[str] = []
    async with pg_app.sessions.begin() as session:
        service = Referrals(session, pg_app)
        await service.bind("aswa", group)
        members = MemberRepo(session)
        for i in range(300):
            member, _ = await members.get_or_create(800_000 + i)
            referral = await service.submit(
                member,
                need="hiv",
                country="KE",
                language="en",
                text=f"n{i}",
                username=None,
                update_id=None,
            )
            codes.append(referral.code)
    # This test is about row ownership, not Telegram's group limit: no pacing, no 429 (R20 has
    # its own test, tests/test_desk_pacing.py).
    telegram.group_limit = None
    config = DeliveryConfig(batch=10, group_rate=None)
    workers = [worker(pg_app, bot, config=config) for _ in range(4)]
    await asyncio.gather(*(w.drain(rounds=200) for w in workers))
    texts = [e.message["text"] for e in telegram.events if e.chat_id == group and e.message]
    for code in codes:
        assert sum(code in t for t in texts) == 1, code
    async with pg_app.sessions() as session:
        left = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state != "sent")
        )
    assert left == 0
