"""Per-member flood guard (R31): one member's burst must not slow everyone else down.

A one-minute window per user, opened by their first update, counted in Redis when several
instances share the load, in memory otherwise.

- Safety never waits: /exit, /forget, /cancel and their buttons ("Clear this chat", "Delete my
  data", Cancel) pass whatever the count (new-user tour [1]).
- A button tap counts a quarter of a message: a member paging through a guide is reading, not
  flooding.
- The first update over the limit gets one notice that says when the member can go on; later
  taps get a short toast saying the same (a tap must always be answered); later messages are
  dropped until the window ends.
- Groups are limited too, per chat (security L9), but only for commands and buttons and with a
  smaller budget: a stranger's group cannot make the bot spend its rate limit on refusals, and
  staff replies to cards (plain messages) always pass.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, User

from bot.i18n import ngettext
from bot.ui.localise import fill, here
from storage.crypto import Identity

WINDOW = 60
# A message costs MESSAGE units, a tap one: the budget is limit * MESSAGE units a minute.
MESSAGE = 4
TAP = 1
# Commands a group may send in a minute (buttons count a quarter), however high the member limit.
GROUP_LIMIT = 5
# Never counted, never dropped: leaving, deleting one's data and stopping a step.
SAFETY_COMMANDS = frozenset({"exit", "forget", "cancel"})
# Callback data prefixes of the same: "Clear this chat", /forget's steps, a step's Cancel.
SAFETY_BUTTONS = ("fg:", "as:c")
CLEAR_CHAT = "cc"


class Counter(Protocol):
    async def hit(self, key: int, now: float, weight: int = 1) -> tuple[int, int]:
        """Add `weight` to the key's window: (the window's total, seconds until it ends)."""
        ...


class MemoryCounter:
    """Windows for the most recent users only, so memory stays bounded under a flood."""

    def __init__(self, max_keys: int = 50_000) -> None:
        self.max_keys = max_keys
        self.windows: OrderedDict[int, tuple[float, int]] = OrderedDict()

    async def hit(self, key: int, now: float, weight: int = 1) -> tuple[int, int]:
        start, count = self.windows.pop(key, (now, 0))
        if now - start >= WINDOW:
            start, count = now, 0
        count += weight
        self.windows[key] = (start, count)
        while len(self.windows) > self.max_keys:
            self.windows.popitem(last=False)
        return count, max(1, math.ceil(start + WINDOW - now))


def counter_name(identity: Identity, user_id: int) -> str:
    """A keyed hash, not the Telegram id, names a member's counter in Redis (L10)."""
    return "throttle:" + identity.tag(user_id).hex()[:32]


class RedisCounter:
    def __init__(self, url: str, identity: Identity) -> None:
        from redis.asyncio import Redis

        self.redis = Redis.from_url(url)
        self.identity = identity

    async def hit(self, key: int, now: float, weight: int = 1) -> tuple[int, int]:
        # The key lives one minute from the first hit (NX), then the count starts again.
        name = counter_name(self.identity, key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incrby(name, weight)
            pipe.expire(name, WINDOW, nx=True)
            pipe.ttl(name)
            count, _, ttl = await pipe.execute()
        return int(count), max(1, int(ttl))

    async def close(self) -> None:
        await self.redis.aclose()


def command_of(text: str | None) -> str | None:
    """ "exit" for "/exit" or "/exit@SomeBot now"; None for anything that is not a command."""
    if not text or not text.startswith("/"):
        return None
    return text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(text) > 1 else None


def is_safety(event: TelegramObject) -> bool:
    if isinstance(event, Message):
        return command_of(event.text) in SAFETY_COMMANDS
    if isinstance(event, CallbackQuery):
        data = event.data or ""
        return data == CLEAR_CHAT or data.startswith(SAFETY_BUTTONS)
    return False


def wait_notice(seconds: int) -> str:
    notice = ngettext(
        "You are sending messages very fast. You can go on in {n} second.",
        "You are sending messages very fast. You can go on in {n} seconds.",
        seconds,
    )
    return fill(notice, here(), n=seconds)


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
        if user is None or is_safety(event):
            return await handler(event, data)
        weight = TAP if isinstance(event, CallbackQuery) else MESSAGE
        if chat is not None and chat.type != ChatType.PRIVATE:
            # Plain group messages (staff replies) pass; commands and buttons are counted.
            if isinstance(event, Message) and command_of(event.text) is None:
                return await handler(event, data)
            key, budget = chat.id, min(self.limit, GROUP_LIMIT) * MESSAGE
        else:
            key, budget = user.id, self.limit * MESSAGE
        count, seconds = await self.counter.hit(key, self.clock(), weight)
        if count <= budget:
            return await handler(event, data)
        first = count - weight <= budget  # this update crossed the line
        if isinstance(event, CallbackQuery):
            # A tap is always answered, or the button keeps spinning.
            await event.answer(wait_notice(seconds), show_alert=first)
        elif first and isinstance(event, Message):
            await event.answer(wait_notice(seconds))
        return None
