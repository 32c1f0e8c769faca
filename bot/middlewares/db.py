"""One database session per update: commit when the handler returns, roll back on error.

Before every Bot API call made while an update is handled, what the update did so far is
committed (H2): a send that fails (Telegram away, 429) cannot roll back a relay the member was
about to be told of, and the write lock is never held across a network round trip. The intake
then retries the update; handlers are idempotent by `update_id` (relays, referrals), as they
are for a crash between a commit and a send. The final commit also marks the update handled in
the inbox, so there is no transaction of its own for that.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.telegram.typecache import KeepResponseTypes
from storage.models import utcnow
from storage.repositories import MemberRepo
from storage.repositories.inbox import InboxRepo

if TYPE_CHECKING:
    from bot.telegram.intake import Receipt

_session: ContextVar[AsyncSession | None] = ContextVar("update_session", default=None)
_turns: weakref.WeakKeyDictionary[async_sessionmaker[AsyncSession], asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def write_turn(sessions: async_sessionmaker[AsyncSession]) -> asyncio.Lock | None:
    """SQLite has one writer at a time, and a writer that finds the file locked sleeps in steps
    of up to 100 ms: with many chats at once that wait, not the work, is what limits. So the
    process takes turns here instead, in order and without sleeping; PostgreSQL needs none."""
    bind = sessions.kw.get("bind")
    if bind is None or bind.dialect.name != "sqlite":
        return None
    lock = _turns.get(sessions)
    if lock is None:
        lock = _turns[sessions] = asyncio.Lock()
    return lock


@contextlib.asynccontextmanager
async def turn(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[None]:
    lock = write_turn(sessions)
    if lock is None:
        yield
        return
    async with lock:
        yield


@dataclass
class _Turn:
    """The update's hold on the write turn: kept while its handler runs, given up during each
    Bot API call (so chats overlap their network waits), taken again after."""

    lock: asyncio.Lock | None
    held: bool = False
    # The update's own task. A task started inside the update (the "Chat cleared" note
    # deleted six seconds later) inherits this hold with the rest of its context; it must
    # neither give nor take it, or it keeps the turn for ever once the update has ended.
    owner: asyncio.Task[Any] | None = field(default_factory=asyncio.current_task)

    async def take(self) -> None:
        if self.lock is not None and not self.held:
            await self.lock.acquire()
            self.held = True

    def give(self) -> None:
        if self.lock is not None and self.held:
            self.lock.release()
            self.held = False


_turn: ContextVar[_Turn | None] = ContextVar("update_turn", default=None)
_receipt: ContextVar[Receipt | None] = ContextVar("update_receipt", default=None)


class CommitBeforeSend(BaseRequestMiddleware):
    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        hold = _turn.get()
        if hold is not None and hold.owner is not asyncio.current_task():
            # Called from a task the update started, maybe after the update ended: not the
            # update's call, so not its session, its write turn or its receipt either.
            return await make_request(bot, method)
        session = _session.get()
        if (
            session is not None
            and session.in_transaction()
            and not session.in_nested_transaction()
        ):
            await session.commit()
        if hold is not None:
            hold.give()
        try:
            response = await make_request(bot, method)
        finally:
            if hold is not None:
                await hold.take()
        receipt = _receipt.get()
        if receipt is not None:
            receipt.sent = True  # the member may have seen something: no blind re-run now
        return response


def install(bot: Bot) -> None:
    """Outermost, so the commit comes before any other request middleware opens a session of
    its own (discreet mode reads settings): a chat never holds two connections at once."""
    manager = bot.session.middleware
    if not any(isinstance(m, CommitBeforeSend) for m in manager):
        others = list(manager)
        for middleware in others:
            manager.unregister(middleware)
        for middleware in [CommitBeforeSend(), KeepResponseTypes(), *others]:
            manager.register(middleware)


class Transaction(BaseMiddleware):
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        bot: Bot | None = data.get("bot")
        if bot is not None:
            install(bot)
        hold = _Turn(write_turn(self.sessions))
        await hold.take()
        hold_token = _turn.set(hold)
        try:
            return await self._run(handler, event, data)
        finally:
            hold.give()
            _turn.reset(hold_token)

    async def _run(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        async with self.sessions() as session:
            data["session"] = session
            data["members"] = MemberRepo(session)
            token = _session.set(session)
            receipt_token = _receipt.set(data.get("inbox_receipt"))
            try:
                result = await handler(event, data)
                update_id: int | None = data.get("inbox_update_id")
                if update_id is not None:
                    await InboxRepo(session).mark_handled([update_id], utcnow())
                await session.commit()
            finally:
                _session.reset(token)
                _receipt.reset(receipt_token)
        receipt: Receipt | None = data.get("inbox_receipt")
        if receipt is not None:
            receipt.committed = True
        return result
