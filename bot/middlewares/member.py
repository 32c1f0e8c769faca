"""Load or create the member behind a private-chat update; staff in groups are not members."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import Chat, TelegramObject, User

from bot.i18n import resolve_language
from storage.repositories import MemberRepo


class MemberMiddleware(BaseMiddleware):
    def __init__(self, default_language: str) -> None:
        self.default_language = default_language

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        data["member"] = None
        data["new_member"] = False
        if user is not None and not user.is_bot:
            members: MemberRepo = data["members"]
            if chat is not None and chat.type == ChatType.PRIVATE:
                data["member"], data["new_member"] = await members.get_or_create(user.id)
            elif chat is None:
                # Inline queries come with no chat: use a member's saved choices if they are one,
                # but a stranger searching guides from another chat leaves no row behind.
                data["member"] = await members.get(user.id)
        data["fallback_language"] = resolve_language(
            user.language_code if user else None, self.default_language
        )
        return await handler(event, data)
