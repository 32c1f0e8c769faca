"""Member safety: "Clear this chat" and discreet mode (the PIN and retention live beside).

Threat model, in short. Members may be sex workers where sex work is criminalised:
- A phone in someone else's hands (a police stop, a partner). "Clear this chat" and /exit delete
  the last 48 hours of this chat, both sides; Telegram lets bots delete nothing older, and we
  say so. Discreet mode puts a neutral first line on every message and sends relayed replies
  silently; `protect_content` stops forwarding and saving; a PIN guards "My requests".
- A leaked database or backup. Members are stored under a pseudonym; their words are sealed (the
  inbox by the master key, referral texts and relays by the member's own data key). /forget
  destroys that key, which shreds the texts only if no copy of the key survives: see
  `storage/keystore.py` for where keys live and what that means for backups.
- The bot's own records. We keep message *ids* (never texts) for 48 hours, keyed by the member's
  internal id, never Telegram's; logs carry no texts, ids, names or coordinates.

Outgoing ids and discreet mode are handled centrally, in a request middleware on the Bot
(`install`), so no feature has to remember them; incoming ids in an update middleware
(`SafetyUpdates`, wired in bot/dispatcher.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.default import Default
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Chat, Message, MessageEntity, MessageId, TelegramObject, Update
from aiogram.utils.i18n import I18n
from aiogram.utils.text_decorations import markdown_decoration
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import _
from bot.telegram.html import CAPTION_LIMIT, TEXT_LIMIT, utf16_len
from storage.db import checkpoint
from storage.models import utcnow
from storage.repositories import (
    SafetyRepo,
)

if TYPE_CHECKING:
    from bot.app import App
    from storage.crypto import Sealer

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]

# Telegram lets a bot delete messages in a private chat only while they are under 48 hours old.
WINDOW = dt.timedelta(hours=48)
DELETE_BATCH = 100
# A setting changed on another instance reaches this one within this many seconds.
PREFS_TTL = 10.0
MAX_CACHED = 10_000
MAX_PENDING = 10_000
# Message ids older than the window are deleted this often while members are active.
PURGE_EVERY = 60.0


@dataclass(frozen=True)
class Prefs:
    language: str | None = None
    discreet: bool = False
    protect: bool = False


# The private chat whose update is being handled: messages to it answer the member's own action;
# anything else sent to a member (a relayed reply, a reminder) arrives unprompted.
_scope: ContextVar[int | None] = ContextVar("safety_scope", default=None)
# Set by a sender that stores the ids in its own next transaction (`Safety.flush`), such as the
# broadcast worker: no flush task per message competing with it for the database.
own_flush: ContextVar[bool] = ContextVar("safety_own_flush", default=False)


class Safety:
    """One per process (`App.safety`): pending message ids and a settings cache."""

    def __init__(self, app: App, clock: Clock = utcnow) -> None:
        self.sessions = app.sessions
        self.settings = app.settings
        self.sealer: Sealer = app.sealer
        self.clock = clock
        self.pending: list[tuple[int, int, bool, dt.datetime]] = []
        self._prefs: dict[int, tuple[float, Prefs]] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._checkpoint: asyncio.Task[None] | None = None
        self._vanishing: set[asyncio.Task[None]] = set()
        self._purge_after = 0.0
        self.i18n = I18n(
            path=app.settings.locales_dir, default_locale=app.settings.default_language
        )

    # -- message ids --------------------------------------------------------------------------
    def note(self, chat_id: int, message_id: int, outgoing: bool) -> None:
        if chat_id <= 0:  # groups and channels: not a member's private chat
            return
        if len(self.pending) >= MAX_PENDING:
            # The database has been away for a long while; keep the newest.
            del self.pending[: MAX_PENDING // 10]
        self.pending.append((chat_id, message_id, outgoing, self.clock()))

    def discard(self, chat_id: int) -> None:
        self.pending = [p for p in self.pending if p[0] != chat_id]

    async def flush(self, session: AsyncSession) -> None:
        """Write pending ids in `session`'s transaction; ids of non-members are dropped."""
        batch, self.pending = self.pending, []
        await self._write(session, batch)

    async def _write(
        self, session: AsyncSession, batch: list[tuple[int, int, bool, dt.datetime]]
    ) -> None:
        if not batch:
            return
        repo = SafetyRepo(session)
        # One statement, whoever the chats are (issue 10: it was a lookup, an insert per id
        # and a delete per member, for every update).
        await repo.add_sightings_of_chats(batch)
        # Ids past the window go within a minute (the daily job catches the rest on its own).
        now = time.monotonic()
        if now >= self._purge_after:
            self._purge_after = now + PURGE_EVERY
            await repo.purge_sightings(self.clock() - WINDOW)

    async def flush_now(self) -> None:
        batch, self.pending = self.pending, []
        try:
            async with self.sessions.begin() as session:
                await self._write(session, batch)
        except Exception as exc:
            # Retried with the next flush; the ids are only for "Clear this chat".
            log.warning("could not store %d message ids: %s", len(batch), type(exc).__name__)
            self.pending = batch + self.pending

    def flush_soon(self) -> None:
        """Flush from a task of its own: the sender may hold a transaction we must not wait on."""
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self.flush_now())

    def checkpoint_soon(self, session: AsyncSession) -> None:
        """Once this transaction commits, empty SQLite's write-ahead log: old copies of
        deleted rows (a forgotten member's Telegram id) must not linger in it."""
        if not self.settings.is_sqlite:
            return

        def later(_session: object) -> None:
            self._checkpoint = asyncio.get_running_loop().create_task(self._truncate_wal())

        event.listen(session.sync_session, "after_commit", later, once=True)

    async def _truncate_wal(self) -> None:
        try:
            async with self.sessions() as session:
                await checkpoint(session)
        except Exception as exc:  # best effort: the daily purge checkpoints again
            log.info("checkpoint failed: %s", type(exc).__name__)

    def delete_later(self, bot: Bot, chat_id: int, message_id: int, delay: float) -> None:
        """Delete one message after `delay` seconds, best effort (a restart keeps it)."""

        async def vanish() -> None:
            await asyncio.sleep(delay)
            with contextlib.suppress(Exception):
                await bot.delete_message(chat_id, message_id)

        task = asyncio.get_running_loop().create_task(vanish())
        self._vanishing.add(task)
        task.add_done_callback(self._vanishing.discard)

    async def close(self) -> None:
        for task in list(self._vanishing):
            task.cancel()
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self.pending:
            await self.flush_now()

    async def clear_chat(
        self, bot: Bot, session: AsyncSession, member_id: int, chat_id: int
    ) -> int:
        """Delete every message of the last 48 hours in the member's chat; return how many."""
        await self.flush(session)
        repo = SafetyRepo(session)
        ids = await repo.recent_message_ids(member_id, self.clock() - WINDOW)
        deleted = 0
        for start in range(0, len(ids), DELETE_BATCH):
            batch = ids[start : start + DELETE_BATCH]
            if await _delete(bot, chat_id, batch):
                deleted += len(batch)
        await repo.drop_sightings(member_id)
        return deleted

    # -- discreet mode and protect_content ------------------------------------------------------
    async def prefs(self, chat_id: int) -> Prefs:
        cached = self._prefs.get(chat_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with self.sessions() as session:
            row = await SafetyRepo(session).prefs(chat_id)
        prefs = Prefs(*row) if row is not None else Prefs()
        self.remember(chat_id, prefs)
        return prefs

    def remember(self, chat_id: int, prefs: Prefs) -> None:
        if len(self._prefs) >= MAX_CACHED:
            self._prefs.clear()
        self._prefs[chat_id] = (time.monotonic() + PREFS_TTL, prefs)

    def forget(self, chat_id: int) -> None:
        self._prefs.pop(chat_id, None)
        self.discard(chat_id)

    def neutral_line(self, chat_id: int, prefs: Prefs) -> str:
        language = prefs.language or self.settings.default_language
        current = I18n.get_current(no_error=True)
        if _scope.get() == chat_id and current is not None:
            language = current.current_locale
        with self.i18n.context(), self.i18n.use_locale(language):
            # NOTE: The neutral first line of every message in discreet mode, so that a lock
            # screen shows nothing sensitive. One or two everyday words.
            return _("Update")

    async def adjust(
        self, bot: Bot, method: TelegramMethod[TelegramType], chat_id: int
    ) -> TelegramMethod[TelegramType]:
        prefs = await self.prefs(chat_id)
        if not (prefs.discreet or prefs.protect):
            return method
        fields = type(method).model_fields
        changes: dict[str, Any] = {}
        if prefs.protect and "protect_content" in fields:
            changes["protect_content"] = True
        if prefs.discreet:
            if _scope.get() != chat_id and "disable_notification" in fields:
                changes["disable_notification"] = True
            line = self.neutral_line(chat_id, prefs)
            for key, entities, limit in (
                ("text", "entities", TEXT_LIMIT),
                ("caption", "caption_entities", CAPTION_LIMIT),
            ):
                if key in fields and isinstance(getattr(method, key, None), str):
                    changes |= _with_first_line(bot, method, key, entities, line, limit)
        return method.model_copy(update=changes) if changes else method


async def _delete(bot: Bot, chat_id: int, ids: Sequence[int]) -> bool:
    for attempt in range(2):
        try:
            await bot.delete_messages(chat_id=chat_id, message_ids=list(ids))
            return True
        except TelegramRetryAfter as exc:
            if attempt:
                break
            await asyncio.sleep(exc.retry_after)
        except TelegramAPIError as exc:
            # Too old or already gone: Telegram skips those, but refuses a batch of only them.
            log.info("could not delete a batch of %d messages: %s", len(ids), exc.message)
            break
    return False


def _plain_length(text: str, parse_mode: str | None) -> int:
    if parse_mode == "HTML":
        text = html.unescape(re.sub(r"<[^>]*>", "", text))
    return utf16_len(text)


def _with_first_line(
    bot: Bot,
    method: TelegramMethod[Any],
    key: str,
    entities_key: str,
    line: str,
    limit: int,
) -> dict[str, Any]:
    """The changes that put `line` first in the text or caption, or {} when it cannot."""
    text: str = getattr(method, key)
    parse_mode = getattr(method, "parse_mode", None)
    if isinstance(parse_mode, Default):
        parse_mode = bot.default[parse_mode.name]
    entities: list[MessageEntity] | None = getattr(method, entities_key, None)
    if entities:
        parse_mode = None  # Telegram ignores parse_mode when entities are given
    if parse_mode == "HTML":
        prefix = html.escape(line, quote=False) + "\n\n"
    elif parse_mode == "MarkdownV2":
        prefix = markdown_decoration.quote(line) + "\n\n"
    elif parse_mode is None:
        prefix = line + "\n\n"
    else:  # legacy Markdown has no reliable escaping
        return {}
    if text.startswith(prefix):  # a feature re-sent a text that already has it
        return {}
    added = utf16_len(line + "\n\n")
    if _plain_length(text, parse_mode) + added > limit:
        return {}  # delivering the message matters more than its first line
    changes: dict[str, Any] = {key: prefix + text}
    if entities:
        changes[entities_key] = [
            e.model_copy(update={"offset": e.offset + added}) for e in entities
        ]
    return changes


def _private_chat_id(method: TelegramMethod[Any]) -> int | None:
    chat_id = getattr(method, "chat_id", None)
    # Private chats have the user's (positive) id; groups and channels are negative.
    return chat_id if isinstance(chat_id, int) and chat_id > 0 else None


def _creates_messages(method: TelegramMethod[Any]) -> bool:
    name = method.__api_method__
    return name.startswith("send") or name in {
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
    }


class SafetyRequests(BaseRequestMiddleware):
    """On the Bot's session: adjusts sends to members in discreet mode; records message ids."""

    def __init__(self, safety: Safety) -> None:
        self.safety = safety

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        chat_id = _private_chat_id(method)
        if chat_id is not None:
            method = await self.safety.adjust(bot, method, chat_id)
        response = await make_request(bot, method)
        if chat_id is not None and _creates_messages(method):
            self._record(chat_id, response)
        return response

    def _record(self, chat_id: int, response: Any) -> None:
        result = response.result if isinstance(response, Response) else response
        results = result if isinstance(result, list) else [result]
        noted = False
        for item in results:
            if isinstance(item, Message) and item.chat.type == ChatType.PRIVATE:
                self.safety.note(item.chat.id, item.message_id, outgoing=True)
                noted = True
            elif isinstance(item, MessageId):
                self.safety.note(chat_id, item.message_id, outgoing=True)
                noted = True
        if noted and _scope.get() is None and not own_flush.get():
            # Sent outside an update (the delivery worker, a reminder): store it from a task.
            self.safety.flush_soon()


class SafetyUpdates(BaseMiddleware):
    """Records incoming message ids in private chats; stores pending ids in the update's
    transaction (registered after the member middleware, inside the transaction)."""

    def __init__(self, safety: Safety) -> None:
        self.safety = safety

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat: Chat | None = data.get("event_chat")
        if chat is None or chat.type != ChatType.PRIVATE:
            return await handler(event, data)
        if isinstance(event, Update) and event.message is not None:
            self.safety.note(chat.id, event.message.message_id, outgoing=False)
        token = _scope.set(chat.id)
        try:
            result = await handler(event, data)
        except BaseException:
            self.safety.flush_soon()
            raise
        finally:
            _scope.reset(token)
        session: AsyncSession | None = data.get("session")
        if session is not None:
            await self.safety.flush(session)
        return result


def install(bot: Bot, app: App) -> Safety:
    """Call wherever a Bot is built: records outgoing ids and applies discreet mode."""
    safety = app.safety
    if not any(isinstance(m, SafetyRequests) for m in bot.session.middleware):
        bot.session.middleware(SafetyRequests(safety))
    return safety


async def close(app: App) -> None:
    with contextlib.suppress(Exception):
        await app.safety.close()
