"""One database session per update: commit when the handler returns, roll back on error.

Before every Bot API call made while an update is handled, what the update did so far is
committed (H2): a send that fails (Telegram away, 429) cannot roll back a relay the member was
about to be told of, and the write lock is never held across a network round trip. The intake
then retries the update; handlers are idempotent by `update_id` (relays, referrals), as they
are for a crash between a commit and a send. The final commit also marks the update handled in
the inbox, so there is no transaction of its own for that.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
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

from storage.models import utcnow
from storage.repositories import MemberRepo
from storage.repositories.inbox import InboxRepo

if TYPE_CHECKING:
    from bot.telegram.intake import Receipt

_session: ContextVar[AsyncSession | None] = ContextVar("update_session", default=None)
_receipt: ContextVar[Receipt | None] = ContextVar("update_receipt", default=None)


class CommitBeforeSend(BaseRequestMiddleware):
    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        session = _session.get()
        if (
            session is not None
            and session.in_transaction()
            and not session.in_nested_transaction()
        ):
            await session.commit()
        response = await make_request(bot, method)
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
        for middleware in [CommitBeforeSend(), *others]:
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
