"""Test doubles at the outer boundary only: a Telegram that records, and a chat driver over it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot.devtools.localapi import FakeTelegram
from bot.telegram.intake import Intake

_ids = itertools.count(5000)


def user(lang: str | None = "en", user_id: int | None = None, **extra: Any) -> dict[str, Any]:
    u: dict[str, Any] = {
        "id": user_id or next(_ids),
        "is_bot": False,
        "first_name": "Alex",
        "username": "alex_private_handle",
    }
    if lang is not None:
        u["language_code"] = lang
    return {**u, **extra}


@dataclass
class Chat:
    """One person talking to the bot in private: `say` and `tap` return what they see next."""

    telegram: FakeTelegram
    bot: Bot
    dp: Dispatcher
    intake: Intake
    person: dict[str, Any]
    last_seen: int = field(default=0)

    @property
    def chat_id(self) -> int:
        return int(self.person["id"])

    async def feed(self, raw: dict[str, Any]) -> None:
        await self.intake.feed(Update.model_validate(raw, context={"bot": self.bot}))

    async def say(self, text: str, **extra: Any) -> list[str]:
        await self.feed(self.telegram.user_message(self.person, text, **extra))
        return self.new_texts()

    async def send(self, **content: Any) -> list[str]:
        """A message without text (sticker, photo, location...)."""
        await self.feed(self.telegram.user_message(self.person, None, **content))
        return self.new_texts()

    def last_bot_message(self) -> dict[str, Any]:
        ids = sorted(
            mid
            for (cid, mid), m in self.telegram.messages.items()
            if cid == self.chat_id and m.get("from", {}).get("is_bot")
        )
        return self.telegram.messages[(self.chat_id, ids[-1])]

    def buttons(self, message: dict[str, Any] | None = None) -> list[str]:
        message = message or self.last_bot_message()
        return [b["text"] for b in self.telegram.buttons(self.chat_id, message["message_id"])]

    async def tap(self, label: str, message: dict[str, Any] | None = None) -> list[str]:
        """Tap the first button whose text contains `label` on the latest bot message."""
        message = message or self.last_bot_message()
        for button in self.telegram.buttons(self.chat_id, message["message_id"]):
            if label in button["text"] and "callback_data" in button:
                return await self.tap_data(button["callback_data"], message["message_id"])
        raise AssertionError(f"no button {label!r} in {self.buttons(message)}")

    async def tap_data(self, data: str, message_id: int | None = None) -> list[str]:
        mid = message_id or self.last_bot_message()["message_id"]
        await self.feed(self.telegram.user_tap(self.person, self.chat_id, mid, data))
        return self.new_texts()

    def new_texts(self) -> list[str]:
        """Texts of messages sent or edited, and alerts shown, since the last look."""
        fresh = self.telegram.events[self.last_seen :]
        self.last_seen = len(self.telegram.events)
        out = []
        for event in fresh:
            if event.kind in ("sent", "edited") and event.chat_id == self.chat_id:
                message = event.message or {}
                # A photo or voice note shows its caption where a message shows its text.
                out.append(str(message.get("text", message.get("caption", ""))))
            elif event.kind in ("toast", "alert"):
                out.append(event.text)
        return out
