"""Per-member flood guard (R31): one member's burst must not slow everyone else down.

A one-minute window per user, opened by their first update, counted in Redis when several
instances share the load, in memory otherwise. The first update over the limit gets one short
notice; the rest are dropped until the window ends. Staff groups are not limited here: their
replies are members' answers.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, User

from bot.i18n import _
from storage.crypto import Identity

WINDOW = 60


class Counter(Protocol):
    async def hit(self, key: int, now: float) -> int: ...


class MemoryCounter:
    """Windows for the most recent users only, so memory stays bounded under a flood."""

    def __init__(self, max_keys: int = 50_000) -> None:
        self.max_keys = max_keys
        self.windows: OrderedDict[int, tuple[float, int]] = OrderedDict()

    async def hit(self, key: int, now: float) -> int:
        start, count = self.windows.pop(key, (now, 0))
        if now - start >= WINDOW:
            start, count = now, 0
        count += 1
        self.windows[key] = (start, count)
        while len(self.windows) > self.max_keys:
            self.windows.popitem(last=False)
        return count


def counter_name(identity: Identity, user_id: int) -> str:
    """A keyed hash, not the Telegram id, names a member's counter in Redis (L10)."""
    return "throttle:" + identity.tag(user_id).hex()[:32]


class RedisCounter:
    def __init__(self, url: str, identity: Identity) -> None:
        from redis.asyncio import Redis

        self.redis = Redis.from_url(url)
        self.identity = identity

    async def hit(self, key: int, now: float) -> int:
        # The key lives one minute from the first hit (NX), then the count starts again.
        name = counter_name(self.identity, key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, WINDOW, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def close(self) -> None:
        await self.redis.aclose()


class Throttle(BaseMiddleware):
    def __init__(
        self, counter: Counter, limit: int = 20, clock: Callable[[], float] = time.time
    ) -> None:
        self.counter, self.limit, self.clock = counter, limit, clock

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if user is None or (chat is not None and chat.type != ChatType.PRIVATE):
            return await handler(event, data)
        count = await self.counter.hit(user.id, self.clock())
        if count <= self.limit:
            return await handler(event, data)
        if count == self.limit + 1:
            notice = _("You are sending messages very fast. Please wait a minute, then try again.")
            if isinstance(event, Message):
                await event.answer(notice)
            elif isinstance(event, CallbackQuery):
                await event.answer(notice, show_alert=True)
        return None
