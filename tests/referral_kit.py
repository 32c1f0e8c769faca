"""Helpers for the referral tests: a staff group driver, the member's ask flow, a fast worker."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot.app import App
from bot.devtools.localapi import FakeTelegram
from bot.dispatcher import build_i18n
from bot.referrals.outbox import Delivery, DeliveryConfig
from bot.telegram.intake import Intake
from storage.models import utcnow
from tests.conftest import ADMIN_ID
from tests.fakes import Chat

_group_ids = itertools.count(1)
FAST = DeliveryConfig(base_delay=0.01, max_delay=0.05, lease=dt.timedelta(seconds=30))
CODE_RE = re.compile(r"R-[0-9A-Z]{5}")


class Clock:
    """A fake clock for the worker, ahead of the wall clock so rows stamped now are due."""

    def __init__(self) -> None:
        self.now = utcnow() + dt.timedelta(minutes=1)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def worker(app: App, bot: Bot, **overrides: Any) -> Delivery:
    config = overrides.pop("config", FAST)
    return Delivery(app, bot, build_i18n(app), config=config, **overrides)


def staff(name: str = "Dana", user_id: int | None = None) -> dict[str, Any]:
    return {
        "id": user_id or 90_000 + next(_group_ids),
        "is_bot": False,
        "first_name": name,
        "language_code": "en",
    }


@dataclass
class Group:
    """A staff group (negative chat id) as its members and the bot see it."""

    telegram: FakeTelegram
    bot: Bot
    dp: Dispatcher
    intake: Intake
    chat_id: int = field(default_factory=lambda: -1_000_000_000 - next(_group_ids))
    title: str = "Staff"

    def __post_init__(self) -> None:
        self.telegram.chat(self.chat_id, "supergroup", title=self.title)
        self.admin = staff("Ada", ADMIN_ID)
        self.person = staff("Dana")

    async def feed(self, raw: dict[str, Any]) -> None:
        await self.intake.feed(Update.model_validate(raw, context={"bot": self.bot}))

    async def say(
        self, text: str, user: dict[str, Any] | None = None, reply_to: int | None = None
    ) -> None:
        raw = self.telegram.user_message(
            user or self.person, text, chat_id=self.chat_id, reply_to=reply_to
        )
        await self.feed(raw)

    async def bind(self, network_id: str) -> None:
        await self.say(f"/bind {network_id}", user=self.admin)

    async def tap(self, message_id: int, data: str, user: dict[str, Any] | None = None) -> None:
        raw = self.telegram.user_tap(user or self.person, self.chat_id, message_id, data)
        await self.feed(raw)

    def bot_messages(self) -> list[dict[str, Any]]:
        return [
            m
            for (cid, _mid), m in sorted(self.telegram.messages.items())
            if cid == self.chat_id and m.get("from", {}).get("is_bot")
        ]

    def cards(self) -> list[dict[str, Any]]:
        return [m for m in self.bot_messages() if "📨" in m.get("text", "")]

    def card(self, code: str) -> dict[str, Any]:
        for message in self.cards():
            if code in message["text"]:
                return message
        raise AssertionError(f"no card for {code}")

    def button(self, message: dict[str, Any], label: str) -> str:
        for b in self.telegram.buttons(self.chat_id, message["message_id"]):
            if label in b["text"]:
                return str(b["callback_data"])
        raise AssertionError(f"no {label!r} button")


async def submit(
    chat: Chat,
    text: str,
    need: str = "Legal help",
    country: str = "Kenya",
    share_username: bool = False,
) -> str:
    """Go through /ask as a member; returns the request number."""
    await chat.say("/ask")
    await chat.tap(need)
    replies = await chat.say(country)
    if any("remember" in r for r in replies):
        await chat.tap("No, just this time")
    replies = await chat.say(text)
    assert any("Check your request" in r for r in replies), replies
    if share_username:
        await chat.tap("Share my @username")
    replies = await chat.tap("Send to the network")
    found = CODE_RE.search(" ".join(replies))
    assert found, replies
    return found.group(0)


def texts_to(telegram: FakeTelegram, chat_id: int) -> list[str]:
    """What was sent to a chat: texts, and the captions of photos and voice notes."""
    return [
        str(e.message.get("text", e.message.get("caption", "")))
        for e in telegram.events
        if e.kind == "sent" and e.chat_id == chat_id and e.message is not None
    ]
