"""Helpers for the alert tests: subscribed members, a fast broadcaster, what each chat got."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from aiogram import Bot

from bot.alerts.engine import Broadcaster, EngineConfig
from bot.alerts.service import publish_alert
from bot.app import App
from bot.devtools.localapi import FakeTelegram
from bot.dispatcher import build_i18n
from storage.models import SubscriptionKind
from storage.repositories import GroupRepo, MemberRepo, SubscriptionRepo

_ids = itertools.count(300_000)
FAST = EngineConfig(
    rate=2000,
    per_chat=0.0,
    progress_every=0.1,
    idle_wait=0.02,
    db_pause=0.05,
    base_delay=0.05,
    lanes=4,
)
ALERT = "A man in a grey car near the market refuses to pay and threatens."


def broadcaster(app: App, bot: Bot, config: EngineConfig = FAST) -> Broadcaster:
    return Broadcaster(app, bot, build_i18n(app), config=config)


async def subscribers(
    app: App,
    n: int,
    *,
    country: str = "KE",
    kind: SubscriptionKind = SubscriptionKind.ALERTS,
    language: str = "en",
    areas: tuple[str, ...] = (),
) -> list[int]:
    """`n` members (their Telegram ids) subscribed to `kind` for `country`."""
    chats = [next(_ids) for _ in range(n)]
    async with app.sessions.begin() as session:
        members, subs = MemberRepo(session), SubscriptionRepo(session)
        for chat in chats:
            member, _new = await members.get_or_create(chat)
            member.language = language
            await subs.subscribe(member.id, kind, country, areas)
    return chats


async def bind(app: App, network_id: str, chat_id: int) -> None:
    async with app.sessions.begin() as session:
        await GroupRepo(session).bind(network_id, chat_id)


async def approve(app: App, **overrides: Any) -> int:
    values: dict[str, Any] = {
        "network_id": "aswa",
        "country": "KE",
        "areas": [],
        "text": ALERT,
        "language": "en",
        "approved_by": 4242,
        "source_report_id": None,
    }
    values.update(overrides)
    async with app.sessions.begin() as session:
        return await publish_alert(session, **values)


def received(telegram: FakeTelegram, chats: list[int]) -> Counter[int]:
    """How many successful sendMessage each chat got (what its member saw)."""
    wanted = set(chats)
    got: Counter[int] = Counter()
    for event in telegram.events:
        if event.kind == "sent" and event.chat_id in wanted:
            got[event.chat_id] += 1
    return got
