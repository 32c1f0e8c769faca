"""Durable, concurrent intake: every update is committed to the inbox before Telegram is told we
have it, then handled from there, many chats at once and each chat strictly in order.

- Storing: a `getUpdates` batch (or a webhook POST) is sealed and committed in one transaction;
  the polling offset moves only after that commit, and a repeated `update_id` is skipped. What
  is stored is the update as Telegram sent it, not a re-serialisation by aiogram's models, so
  an update they cannot write back out cannot jam the intake (M1).
- Handling: a chat is claimed in the database (`inbox_claims`) by one instance at a time, and a
  lane per claimed chat handles its updates in `update_id` order. At most
  `MAX_CONCURRENT_UPDATES` lanes run per instance, so a burst cannot exhaust memory or the
  connection pool; one slow Bot API call delays only its own chat. Claims are renewed while
  lanes run and checked before each update (M4); an instance that dies loses its claims when
  they expire (30 s) and another takes its chats over.
- Faults: an update whose handling hits a Telegram error or a database outage is tried again
  later, honouring `retry_after` (M6), with pauses growing to a minute, for an hour (H2). A
  handler that keeps failing for another reason, or an update that cannot be opened, is set
  aside (quarantined), counted, and admins are told once a day, without its content.
- The update's own transaction marks it handled (bot/middlewares/db.py), so handling and the
  mark commit together, with no transaction of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetUpdates
from aiogram.types import Update

from bot import metrics
from bot.app import App
from bot.middlewares.db import turn, write_turn
from bot.retry import error_kind, is_outage
from storage.models import utcnow
from storage.repositories import OutboxRepo
from storage.repositories.inbox import (
    LEGACY_AAD,
    MAX_UPDATE_ID,
    InboxRepo,
    NewUpdate,
    Pending,
    inbox_aad,
    open_payload,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakeConfig:
    concurrency: int = 32  # lanes (chats handled at once) per instance
    claim_ttl: float = 30.0  # seconds an instance keeps a chat without renewing
    retry_base: float = 1.0  # first pause after a Telegram error or a database outage
    retry_cap: float = 60.0
    retry_for: float = 3600.0  # then the update is quarantined
    max_failures: int = 5  # handler failures of other kinds before quarantine
    idle: float = 0.5  # look at the inbox this often when nothing wakes us (other instances)
    stop_grace: float = 10.0

    def with_claim(self, seconds: float) -> IntakeConfig:
        return replace(self, claim_ttl=seconds)

    @property
    def renew_every(self) -> float:
        return self.claim_ttl / 6


@dataclass
class Incoming:
    """An update as received: its id, its chat and sender (in memory only: stored as keyed
    hashes) and its JSON, ASCII-safe."""

    update_id: Any
    chat: int
    raw: bytes
    sender: int | None = None


@dataclass
class Receipt:
    """Set by the update's transaction once it committed with the update marked handled."""

    committed: bool = False
    sent: bool = False  # a Bot API call of this update succeeded


def chat_of(data: dict[str, Any]) -> int:
    """The chat an update belongs to (the user for chat-less updates such as inline queries)."""
    for key, value in data.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        chat = value.get("chat") or (value.get("message") or {}).get("chat")
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            return int(chat["id"])
        person = value.get("from") or value.get("user") or {}
        if isinstance(person, dict) and isinstance(person.get("id"), int):
            return int(person["id"])
    return 0


def sender_of(data: dict[str, Any]) -> int | None:
    """Who sent it, so /forget can find their waiting updates (M5)."""
    for key, value in data.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        person = value.get("from") or value.get("user")
        if isinstance(person, dict) and isinstance(person.get("id"), int):
            return int(person["id"])
        return None
    return None


def incoming(data: dict[str, Any], body: bytes | None = None) -> Incoming:
    raw = body if body is not None else json.dumps(data, separators=(",", ":")).encode()
    return Incoming(data.get("update_id"), chat_of(data), raw, sender_of(data))


def parse_body(body: bytes) -> Incoming:
    """A webhook body; ValueError when it is not a JSON object with an integer update_id."""
    data = json.loads(body)
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        raise ValueError("not an update")
    try:
        raw = body if body.isascii() else json.dumps(data, separators=(",", ":")).encode()
    except ValueError:
        raw = body
    return incoming(data, raw)


class Intake:
    def __init__(
        self,
        app: App,
        bot: Bot,
        dp: Dispatcher,
        config: IntakeConfig | None = None,
        instance: str | None = None,
    ) -> None:
        self.app, self.bot, self.dp = app, bot, dp
        if config is None:
            config = IntakeConfig(concurrency=app.settings.max_concurrent_updates)
        self.config = config
        self.instance = instance or secrets.token_hex(8)
        self.clock = utcnow
        self.wake = asyncio.Event()
        self.lanes: dict[int, asyncio.Task[None]] = {}
        self.deadlines: dict[int, float] = {}  # chat key -> monotonic time its claim ends
        self.finished: list[int] = []  # chats whose claims go back at the next tick
        self.next_due: dt.datetime | None = None
        self.handled = 0
        self._stopping = False
        self._adopted = False
        self._arriving: list[tuple[Incoming, asyncio.Future[None]]] = []
        self._storer: asyncio.Task[None] | None = None

    def chat_key(self, chat: int) -> int:
        """The chat's lane: the first 8 bytes of the same keyed hash that stands for a Telegram
        id everywhere else in the database (members, the inbox's sender_hash), never the id."""
        return int.from_bytes(self.app.identity.tag(chat)[:8], "big", signed=True)

    # -- storing -------------------------------------------------------------------------------
    async def store(self, updates: Sequence[Update]) -> int:
        """Commit updates already parsed (the terminal chat and tests); returns how many new."""
        return await self.store_updates(
            [u.model_dump(mode="json", exclude_none=True, by_alias=True) for u in updates]
        )

    async def store_updates(self, items: Sequence[dict[str, Any]]) -> int:
        return await self.store_incoming([incoming(d) for d in items])

    async def store_together(self, item: Incoming) -> None:
        """The webhook's way in: updates posted while a store is under way (or waiting for
        SQLite's write turn) share the next transaction, one commit for all (group commit).
        Returns once this update is committed; raises as `store_incoming` does, and then
        none of the group was stored."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Read even when the POST went away meanwhile, so an outage is not logged as unread.
        waiter.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._arriving.append((item, waiter))
        if self._storer is None or self._storer.done():
            self._storer = asyncio.create_task(self._store_arrivals())
        await asyncio.shield(waiter)

    async def _store_arrivals(self) -> None:
        group: list[tuple[Incoming, asyncio.Future[None]]] = []
        try:
            while self._arriving:
                lock = write_turn(self.app.sessions)
                if lock is not None:
                    await lock.acquire()  # meanwhile more arrive and join this group
                try:
                    group, self._arriving = self._arriving, []
                    try:
                        await self.store_incoming([item for item, _ in group], held=True)
                    except Exception as exc:
                        for _, waiter in group:
                            if not waiter.done():
                                waiter.set_exception(exc)
                    else:
                        for _, waiter in group:
                            if not waiter.done():
                                waiter.set_result(None)
                    group = []
                finally:
                    if lock is not None:
                        lock.release()
        finally:
            for _, waiter in group + self._arriving:
                if not waiter.done():
                    waiter.set_exception(RuntimeError("the intake stopped storing"))
            self._arriving = []

    async def store_incoming(self, items: Sequence[Incoming], held: bool = False) -> int:
        """Commit a batch in one transaction; returns how many were new. Raises when the
        database is away (then nothing was stored and nothing may be acknowledged). `held`:
        the caller holds SQLite's write turn."""
        now = self.clock()
        good: list[tuple[NewUpdate, Incoming]] = []
        bad: list[tuple[Incoming, str]] = []
        for item in items:
            uid = item.update_id
            if type(uid) is int and 0 <= uid <= MAX_UPDATE_ID:
                sealed = self.app.sealer.seal(item.raw, inbox_aad(uid))
                sender = None if item.sender is None else self.app.identity.tag(item.sender)
                good.append((NewUpdate(uid, self.chat_key(item.chat), sender, sealed), item))
            else:
                bad.append((item, "update_id out of range"))
        try:
            new = await self._store([row for row, _ in good], bad, now, held)
        except Exception as exc:
            if is_outage(exc) or not good:
                raise
            # One row the database refuses must not hold back the others: one at a time.
            new, refused = 0, list(bad)
            for row, item in good:
                try:
                    new += await self._store([row], [], now, held)
                except Exception as one:
                    if is_outage(one):
                        raise
                    refused.append((item, type(one).__name__))
            if refused:
                await self._store([], refused, now, held)
        metrics.UPDATES_RECEIVED.inc(new)
        return new

    async def _store(
        self,
        rows: list[NewUpdate],
        bad: list[tuple[Incoming, str]],
        now: dt.datetime,
        held: bool = False,
    ) -> int:
        hold = contextlib.nullcontext() if held else turn(self.app.sessions)
        async with hold, self.app.sessions.begin() as session:
            queue = InboxRepo(session)
            new = await queue.add_new(rows, now)
            for item, reason in bad:
                await queue.quarantine_body(
                    self.app.sealer.seal(item.raw, LEGACY_AAD), reason, now
                )
            if bad:
                await self._tell_admins(session, now)
        for _item, reason in bad:
            metrics.UPDATES_QUARANTINED.inc()
            log.warning("an update could not be stored (%s); set aside", reason)
        return len(new)

    async def adopt_orphans(self) -> int:
        """Give a chat key to updates stored before there were keys (an upgrade through
        migration 0007 with updates waiting), so their chats' lanes take them, in order; one
        that cannot be opened is set aside. Once per intake, before anything is handled; a
        second instance doing the same at the same moment writes the same keys."""
        adopted = 0
        while True:
            async with turn(self.app.sessions), self.app.sessions.begin() as session:
                queue = InboxRepo(session)
                rows = await queue.orphans()
                broken: list[tuple[int, str]] = []
                for update_id, payload in rows:
                    try:
                        if payload is None:
                            raise ValueError("no payload")
                        data = json.loads(open_payload(self.app.sealer, update_id, payload))
                        await queue.set_chat_key(update_id, self.chat_key(chat_of(data)))
                        adopted += 1
                    except Exception as exc:
                        broken.append((update_id, type(exc).__name__))
                for update_id, reason in broken:
                    await queue.quarantine(update_id, reason, self.clock())
                if broken:
                    await self._tell_admins(session, self.clock())
            for _uid, reason in broken:
                metrics.UPDATES_QUARANTINED.inc()
                log.warning("an update from before the upgrade was set aside (%s)", reason)
            if len(rows) < 500:
                break
        if adopted:
            log.info("%d updates from before the upgrade were given their chats", adopted)
        self._adopted = True
        return adopted

    # -- handling ------------------------------------------------------------------------------
    async def feed(self, update: Update) -> None:
        """Store and handle one update (the terminal chat and the tests use this)."""
        await self.store([update])
        await self.drain()

    async def drain(self) -> int:
        """Handle whatever is due now, many chats at once, until nothing due is left."""
        before = self.handled
        if not self._adopted:
            await self.adopt_orphans()
        stop = asyncio.Event()
        renewer = asyncio.create_task(self._renew_forever(stop))
        try:
            while True:
                await self._tick(stop)
                if not self.lanes:
                    break
                await asyncio.wait(set(self.lanes.values()), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.set()
            await renewer
            await self._release_finished()
        return self.handled - before

    async def run(self, stop: asyncio.Event) -> None:
        """Handle the inbox until `stop`: the loop behind polling and every webhook instance."""
        renewer = asyncio.create_task(self._renew_forever(stop))
        delay = self.config.retry_base
        try:
            while not stop.is_set():
                try:
                    if not self._adopted:
                        await self.adopt_orphans()
                    await self._tick(stop)
                    delay = self.config.retry_base
                except Exception as exc:
                    if not is_outage(exc):
                        log.exception("the intake loop failed; it goes on")
                    else:
                        log.warning(
                            "inbox unavailable (%s); handling paused %.0f s",
                            type(exc).__name__,
                            delay,
                        )
                    await _sleep_or_stop(stop, delay)
                    delay = min(delay * 2, 30.0)
                    continue
                await self._wait(stop)
        finally:
            await self._finish_lanes()
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            with contextlib.suppress(Exception):
                await self._release_finished()
                async with turn(self.app.sessions), self.app.sessions.begin() as session:
                    await InboxRepo(session).release_all(self.instance)

    async def _wait(self, stop: asyncio.Event) -> None:
        timeout = self.config.idle
        if self.next_due is not None:
            timeout = max(0.0, min(timeout, (self.next_due - self.clock()).total_seconds()))
        if self.wake.is_set() or stop.is_set():
            self.wake.clear()
            return
        waiters = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stop.wait())]
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        self.wake.clear()

    async def _finish_lanes(self) -> None:
        self._stopping = True
        if self.lanes:
            _, late = await asyncio.wait(set(self.lanes.values()), timeout=self.config.stop_grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.gather(*late, return_exceptions=True)
        self._stopping = False

    async def _tick(self, stop: asyncio.Event) -> None:
        """Give claims back, claim due chats up to the bound, start a lane for each: one
        transaction for all of it (issue 10: releasing was a transaction of its own)."""
        free = self.config.concurrency - len(self.lanes)
        if free <= 0 or stop.is_set():
            await self._release_finished()
            return
        done = self._take_finished()
        now = self.clock()
        if self.next_due is not None and self.next_due <= now:
            self.next_due = None
        ttl = dt.timedelta(seconds=self.config.claim_ttl)
        started = time.monotonic()
        try:
            async with turn(self.app.sessions), self.app.sessions.begin() as session:
                queue = InboxRepo(session)
                if done:
                    await queue.release(done, self.instance)
                keys = await queue.due_chats(now, set(self.lanes), free)
                claimed = await queue.claim(keys, self.instance, now, ttl) if keys else []
                rows = await queue.pending_of(claimed) if claimed else []
        except BaseException:
            self.finished += done  # given back with the next tick
            raise
        by_chat: dict[int, list[Pending]] = {key: [] for key in claimed}
        for row in rows:
            by_chat.setdefault(row.chat_key, []).append(row)
        for key, chat_rows in by_chat.items():
            self.deadlines[key] = started + self.config.claim_ttl
            self.lanes[key] = asyncio.create_task(self._lane(key, chat_rows, stop))

    async def _lane(self, key: int, rows: list[Pending], stop: asyncio.Event) -> None:
        """One chat's updates, strictly in order, one at a time. What the chat received since
        its rows were read is taken up by the next tick, with every other chat's (issue 10:
        not a query per lane)."""
        try:
            for row in rows:
                if stop.is_set() or self._stopping or not self._still_mine(key):
                    return
                if row.next_attempt_at is not None and row.next_attempt_at > self.clock():
                    self._due_at(row.next_attempt_at)
                    return  # later updates of this chat wait behind it
                if not await self._handle(row):
                    return
        except Exception as exc:
            log.warning("a chat's lane stopped (%s); it is taken up again", type(exc).__name__)
        finally:
            self.lanes.pop(key, None)
            self.finished.append(key)
            self.wake.set()

    def _still_mine(self, key: int) -> bool:
        # Enough of the claim left that a renewal will come before another instance may take it.
        return self.deadlines.get(key, 0.0) - time.monotonic() > self.config.claim_ttl / 2

    def _due_at(self, at: dt.datetime) -> None:
        if self.next_due is None or at < self.next_due:
            self.next_due = at

    def _take_finished(self) -> list[int]:
        done = [k for k in self.finished if k not in self.lanes]
        self.finished = []
        for key in done:
            self.deadlines.pop(key, None)
        return done

    async def _release_finished(self) -> None:
        done = self._take_finished()
        if done:
            async with turn(self.app.sessions), self.app.sessions.begin() as session:
                await InboxRepo(session).release(done, self.instance)

    async def _renew_forever(self, stop: asyncio.Event) -> None:
        ttl = dt.timedelta(seconds=self.config.claim_ttl)
        while not stop.is_set():
            await _sleep_or_stop(stop, self.config.renew_every)
            keys = list(self.lanes)
            if not keys:
                continue
            started = time.monotonic()
            try:
                async with turn(self.app.sessions), self.app.sessions.begin() as session:
                    kept = await InboxRepo(session).renew(keys, self.instance, self.clock(), ttl)
            except Exception as exc:
                # Not renewed: the lanes stop before their claims could pass to another instance.
                log.warning("could not renew chat claims (%s)", type(exc).__name__)
                continue
            for key in keys:
                self.deadlines[key] = started + self.config.claim_ttl if key in kept else 0.0

    async def _handle(self, row: Pending) -> bool:
        """Handle one update; False when its chat must stop here for now."""
        try:
            update = self._open(row)
        except Exception as exc:
            await self._quarantine(row, type(exc).__name__)
            return True
        receipt = Receipt()
        started = time.perf_counter()
        try:
            await self.dp.feed_update(
                self.bot, update, inbox_update_id=row.update_id, inbox_receipt=receipt
            )
        except TelegramForbiddenError:
            pass  # the member blocked the bot, or staff removed it: nothing left to do
        except Exception as exc:
            metrics.UPDATES_FAILED.labels(error_kind(exc)).inc()
            if not (receipt.sent and is_outage(exc)):
                return await self._failed(row, exc)
            # The database failed after the member was answered: its state was committed
            # before the send, and answering twice is worse than losing what came after.
            log.warning(
                "update %s answered, then %s; not run again", row.update_id, type(exc).__name__
            )
            await self._mark_handled_soon(row.update_id)
            return True
        finally:
            metrics.HANDLER_SECONDS.observe(time.perf_counter() - started)
        if not receipt.committed:
            # The error handler absorbed a failure (and told the member): the update is done.
            await self._mark_handled_soon(row.update_id)
        self.handled += 1
        metrics.UPDATES_HANDLED.inc()
        return True

    async def _mark_handled_soon(self, update_id: int) -> None:
        """Mark one update handled in a transaction of its own, waiting out a short outage."""
        for attempt in range(8):
            try:
                async with turn(self.app.sessions), self.app.sessions.begin() as session:
                    await InboxRepo(session).mark_handled([update_id], self.clock())
                return
            except Exception as exc:
                if not is_outage(exc):
                    raise
                await asyncio.sleep(0.25 * 2**attempt)
        raise RuntimeError("could not mark an update handled")

    def _open(self, row: Pending) -> Update:
        if row.payload is None:
            raise ValueError("no payload")
        raw = open_payload(self.app.sealer, row.update_id, row.payload)
        return Update.model_validate(json.loads(raw), context={"bot": self.bot})

    async def _failed(self, row: Pending, exc: Exception) -> bool:
        now = self.clock()
        name = type(exc).__name__
        transient = isinstance(exc, (TelegramServerError, TelegramNetworkError)) or is_outage(exc)
        if isinstance(exc, TelegramRetryAfter):
            delay = exc.retry_after + random.uniform(0.1, 1.0)
        elif transient:
            delay = _backoff(row.attempts - row.failures, self.config)
        else:
            delay = _backoff(row.failures, self.config)
            log.error("update %s failed (%s)", row.update_id, name, exc_info=exc)
        failed = not (transient or isinstance(exc, TelegramRetryAfter))
        too_old = (now - row.received_at).total_seconds() > self.config.retry_for
        if too_old or (failed and row.failures + 1 >= self.config.max_failures):
            await self._quarantine(row, name)
            return True  # the chat goes on without it
        at = now + dt.timedelta(seconds=delay)
        async with turn(self.app.sessions), self.app.sessions.begin() as session:
            await InboxRepo(session).retry_later(row.update_id, at, name, failed=failed)
        log.warning("update %s not handled (%s); next try in %.0f s", row.update_id, name, delay)
        self._due_at(at)
        return False

    async def _quarantine(self, row: Pending, reason: str) -> None:
        now = self.clock()
        async with turn(self.app.sessions), self.app.sessions.begin() as session:
            await InboxRepo(session).quarantine(row.update_id, reason, now)
            await self._tell_admins(session, now)
        metrics.UPDATES_QUARANTINED.inc()
        log.warning("update %s set aside after %s", row.update_id, reason)

    async def _tell_admins(self, session: Any, now: dt.datetime) -> None:
        """Once a day at most, and never what the update said."""
        outbox = OutboxRepo(session)
        for admin in sorted(self.app.settings.admin_ids):
            await outbox.enqueue(
                f"alert:quarantine:{now.date().isoformat()}:{admin}",
                destination="admin",
                kind="alert",
                chat_id=admin,
                params=json.dumps({"reason": "quarantined"}),
            )

    # -- polling -------------------------------------------------------------------------------
    async def poll(self, stop: asyncio.Event, long_poll: int = 25) -> None:
        """Long polling: fetch, commit, confirm; the handling loop runs beside it."""
        with contextlib.suppress(Exception):  # the loop below waits out an outage anyway
            async with turn(self.app.sessions), self.app.sessions.begin() as session:
                await InboxRepo(session).release_all(None)
        inner = asyncio.Event()
        worker = asyncio.create_task(self.run(inner))
        try:
            await self._poll(stop, long_poll)
        finally:
            inner.set()
            await worker

    async def _poll(self, stop: asyncio.Event, long_poll: int) -> None:
        offset: int | None = None
        delay = store_delay = 1.0
        allowed = self.dp.resolve_used_update_types()
        while not stop.is_set():
            fetch = asyncio.ensure_future(fetch_updates(self.bot, offset, long_poll, allowed))
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not fetch.done():  # stopping: what Telegram sends now comes again next time
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await fetch
                return
            try:
                fetched = fetch.result()
            except TelegramUnauthorizedError:
                raise
            except (TelegramAPIError, ValueError) as exc:
                log.warning(
                    "getUpdates failed (%s); retrying in %.1f s", type(exc).__name__, delay
                )
                await _sleep_or_stop(stop, delay)
                delay = min(delay * 1.3 + random.uniform(0, 0.1), 5.0)
                continue
            delay = 1.0
            if not fetched:
                continue
            items = [
                incoming(d) if isinstance(d, dict) else Incoming(None, 0, b"") for d in fetched
            ]
            try:
                await self.store_incoming(items)
            except Exception as exc:
                # Not stored, so not confirmed: the same batch comes again after the pause.
                log.warning(
                    "inbox unavailable (%s); polling paused %.0f s",
                    type(exc).__name__,
                    store_delay,
                )
                await _sleep_or_stop(stop, store_delay)
                store_delay = min(store_delay * 2, 30.0)
                continue
            store_delay = 1.0
            ids = [i.update_id for i in items if type(i.update_id) is int]
            if ids:
                # Only now may Telegram forget them: the next call confirms this offset.
                offset = max(ids) + 1
            self.wake.set()


async def fetch_updates(
    bot: Bot, offset: int | None, long_poll: int, allowed: Iterable[str] | None
) -> list[Any]:
    """getUpdates as Telegram sent it: a list of JSON objects, not aiogram models."""
    method = GetUpdates(offset=offset, timeout=long_poll, allowed_updates=list(allowed or []))
    session: Any = bot.session
    raw_call = getattr(session, "raw_call", None)
    if raw_call is not None:
        status, text = await raw_call(bot, method)
    else:
        import aiohttp

        http = await session.create_session()
        url = session.api.api_url(token=bot.token, method=method.__api_method__)
        form = session.build_form_data(bot=bot, method=method)
        try:
            async with http.post(url, data=form, timeout=session.timeout + long_poll) as resp:
                status, text = resp.status, await resp.text()
        except TimeoutError as exc:
            raise TelegramNetworkError(method=method, message="Request timeout error") from exc
        except aiohttp.ClientError as exc:
            raise TelegramNetworkError(method=method, message=type(exc).__name__) from exc
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if (
        not isinstance(body, dict)
        or not body.get("ok")
        or not isinstance(body.get("result"), list)
    ):
        session.check_response(bot=bot, method=method, status_code=status, content=text)
        raise ValueError("getUpdates answered without a list")
    result: list[Any] = body["result"]
    return result


def _backoff(n: int, config: IntakeConfig) -> float:
    base: float = min(config.retry_cap, config.retry_base * 2.0 ** max(0, min(n, 16)))
    return base * random.uniform(0.8, 1.2)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


__all__ = ["Incoming", "Intake", "IntakeConfig", "Receipt", "fetch_updates", "parse_body"]
