"""Durable intake: every update is committed to the inbox before Telegram is told we have it.

aiogram's own polling advances the offset as updates are yielded, so a crash loses them. Here the
offset moves only after the inbox commit, each update is handled from the inbox, and a repeated
`update_id` is dropped, so a restart handles everything once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramNetworkError, TelegramServerError, TelegramUnauthorizedError
from aiogram.types import Update

from bot.app import App
from storage.repositories import InboxRepo
from storage.repositories.inbox import inbox_aad, open_payload

log = logging.getLogger(__name__)


def sender_id(update: Update) -> int | None:
    """Who sent it, so /forget can find their waiting updates (M5)."""
    try:
        user = getattr(update.event, "from_user", None)
    except Exception:  # an update type this aiogram does not know
        return None
    return None if user is None else int(user.id)


class Intake:
    def __init__(self, app: App, bot: Bot, dp: Dispatcher) -> None:
        self.app, self.bot, self.dp = app, bot, dp

    async def store(self, updates: list[Update]) -> int:
        """Commit new updates; return how many were new."""
        async with self.app.sessions.begin() as session:
            inbox = InboxRepo(session)
            known = await inbox.known([u.update_id for u in updates])
            fresh = [u for u in updates if u.update_id not in known]
            for update in fresh:
                raw = update.model_dump_json(exclude_none=True).encode()
                sealed = self.app.sealer.seal(raw, inbox_aad(update.update_id))
                await inbox.add(update.update_id, sealed, sender_id(update))
        return len(fresh)

    async def drain(self) -> int:
        """Handle every stored update in order; return how many were handled."""
        handled = 0
        while True:
            async with self.app.sessions.begin() as session:
                rows = [(r.update_id, r.payload) for r in await InboxRepo(session).pending()]
            if not rows:
                return handled
            for update_id, payload in rows:
                ok = payload is not None and await self._handle(update_id, payload)
                async with self.app.sessions.begin() as session:
                    inbox = InboxRepo(session)
                    if ok:
                        await inbox.mark_handled(update_id)
                    else:
                        await inbox.mark_failed(update_id)
                handled += ok

    async def _handle(self, update_id: int, payload: bytes) -> bool:
        try:
            data = json.loads(open_payload(self.app.sealer, update_id, payload))
            update = Update.model_validate(data, context={"bot": self.bot})
            await self.dp.feed_update(self.bot, update)
        except Exception:
            # The errors router already answered the member; this is what it could not absorb.
            log.exception("update could not be handled; it will be retried")
            return False
        return True

    async def feed(self, update: Update) -> None:
        """Store and handle one update (the webhook and the terminal chat use this)."""
        await self.store([update])
        await self.drain()

    async def poll(self, stop: asyncio.Event, long_poll: int = 25) -> None:
        await self.drain()  # whatever a crash left behind
        offset: int | None = None
        delay = 1.0
        allowed = self.dp.resolve_used_update_types()
        while not stop.is_set():
            try:
                updates = await self.bot.get_updates(
                    offset=offset, timeout=long_poll, allowed_updates=allowed
                )
            except TelegramUnauthorizedError:
                raise
            except (TelegramNetworkError, TelegramServerError) as exc:
                log.warning(
                    "getUpdates failed (%s); retrying in %.1f s", type(exc).__name__, delay
                )
                await _sleep_or_stop(stop, delay)
                delay = min(delay * 1.3 + random.uniform(0, 0.1), 5.0)
                continue
            delay = 1.0
            if not updates:
                continue
            await self.store(updates)
            # Only now may Telegram forget them: the next call confirms this offset.
            offset = updates[-1].update_id + 1
            await self.drain()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
