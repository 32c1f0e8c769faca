"""The broadcast worker: alerts and news to every member who asked, within Telegram's limits.

One durable job per broadcast (`broadcasts`), one progress row per recipient
(`broadcast_recipients`). The worker holds a lease, so one instance at a time sends (its pacing
is then global, R20), lists the recipients once (PLANNING -> RUNNING), then sends in id order
through a few lanes sharing one pacer: at most `BROADCAST_RATE` messages a second overall and at
most one a second per chat. Member handling is untouched: it has its own path to Telegram, and
the worker never holds a database transaction across a send.

Each send is bracketed by two commits: the row is marked `in_flight` first, then `sent` with
its message id, and the pacer's wait comes before the first. A kill -9 therefore leaves at
most one row in flight per lane: the one uncertain send (the request may or may not have
reached Telegram; sendMessage is not idempotent, so no design closes this window). On restart
that row is sent again, flagged `repeat` and counted (`bot_broadcast_sends{result="repeat"}`):
with the default single lane, at most one member gets it twice, nobody is skipped; every
other row is either `sent` (never sent again) or `pending` (never sent). Outcomes:

- 429: that recipient waits `retry_after`; the pacer also waits when 429s come in a burst.
- 403, "chat not found": the member is unreachable: their row and subscriptions say so, and no
  later broadcast includes them until they subscribe again (R9).
- 5xx, timeouts: capped backoff; `failed` after `max_failures`.
- The database away: the lane waits and tries the same step again (a sent message is recorded
  once the database is back), so nothing is sent twice or lost.
- Stop (the button on the progress message): pending recipients become `skipped`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from aiogram import Bot
from aiogram.exceptions import (
    AiogramError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.callbacks import BroadcastAction, BroadcastOp
from bot.alerts.texts import alert_text, news_text, progress_text
from bot.app import App
from bot.directory.model import GLOBAL
from bot.i18n import _
from bot.metrics import BROADCAST_SENDS, BROADCASTS_ACTIVE
from bot.retry import is_outage
from bot.safety.service import Prefs, own_flush
from storage.models import (
    Alert,
    Broadcast,
    BroadcastKind,
    BroadcastState,
    RecipientState,
    SubscriptionKind,
    utcnow,
)
from storage.repositories import (
    BroadcastRepo,
    GroupRepo,
    LeaseRepo,
    SafetyRepo,
    SubscriptionRepo,
)
from storage.repositories.alerts import Target

log = logging.getLogger(__name__)
T = TypeVar("T")
LEASE = "broadcasts"
# Telegram lets a bot delete its messages in a private chat while they are under 48 hours old.
DELETABLE = dt.timedelta(hours=47)
BURST_429 = 5  # 429s among the last ten answers that hold every chat


@dataclass(frozen=True)
class EngineConfig:
    rate: float = 25.0  # messages a second, overall
    # Catching up slots a slow send missed, a second may hold up to this many times `rate`.
    # 1.0: the "at most 25 a second" holds in every second; the catch-up still keeps
    # the sustained rate (it fills seconds a slow send left short, up to the cap).
    peak: float = 1.0
    per_chat: float = 1.0  # seconds between two messages to one chat
    lanes: int = 1  # sends open at once (each is one uncertain send after a crash)
    batch: int = 200
    idle_wait: float = 2.0
    progress_every: float = 5.0  # group edits are limited to about 20 a minute
    lease: dt.timedelta = dt.timedelta(seconds=30)
    max_failures: int = 5
    base_delay: float = 2.0
    max_delay: float = 300.0
    request_timeout: int = 20
    db_pause: float = 1.0  # first wait when the database is away; doubles up to 30 s
    expire_every: float = 3600.0


class Pacer:
    """Send slots shared by every lane: evenly spaced at `rate` a second, and never more than
    `rate` in any one-second window.

    The slots follow a schedule that moves on by 1/rate a slot. A send or a commit that runs
    late (a slow disk, a busy machine) leaves the schedule behind the clock: the slots it
    missed within the last `credit` seconds are caught up, at up to twice the pace, instead of
    being lost, so per-send hiccups do not lower the sustained rate; the one-second window
    still caps what any second holds. After an idle spell the schedule starts afresh (there is
    nothing to catch up).
    """

    def __init__(
        self, rate: float, *, credit: float = 0.5, window: float = 1.0, cap: float | None = None
    ) -> None:
        self.interval = 1.0 / rate
        self.credit = credit
        self.window = window
        self.recent: deque[float] = deque(maxlen=max(1, int((cap or rate) * window)))
        self.next = 0.0  # the schedule: when the next slot is due
        self.last = -math.inf  # the last slot given
        self.not_before = 0.0  # hold(): nobody sends before this
        self.outcomes: deque[bool] = deque(maxlen=10)  # the last sends: True for a 429

    def reserve(self, now: float) -> float:
        """Book the next slot; returns when it is (`now` or later)."""
        if self.last < now - self.window:
            self.next = now  # idle: nothing was missed
        due = max(self.next, now - self.credit)
        at = max(due, self.last + self.interval / 2, self.not_before, now)
        if len(self.recent) == self.recent.maxlen:
            at = max(at, self.recent[0] + self.window)
        self.next = max(due, self.not_before) + self.interval
        self.last = at
        self.recent.append(at)
        return at

    async def slot(self) -> None:
        now = time.monotonic()
        at = self.reserve(now)
        if at > now:
            await asyncio.sleep(at - now)

    def hold(self, seconds: float) -> None:
        self.not_before = max(self.not_before, time.monotonic() + seconds)

    def answered(self, refused: bool) -> None:
        """Note one send's outcome (429 or not) for `saw_429`."""
        self.outcomes.append(refused)

    def saw_429(self, retry_after: float) -> None:
        """A 429 delays its own chat. Everyone waits only when Telegram refuses most sends
        (half of the last ten or more): a limit on the whole bot, not on one chat. A few 429s
        among many sends (Telegram slowing one chat) never hold the others."""
        self.answered(True)
        if sum(self.outcomes) >= BURST_429 and sum(self.outcomes) * 2 >= len(self.outcomes):
            self.hold(retry_after)
            self.outcomes.clear()


@dataclass
class _Job:
    """What a lane needs to render one broadcast's message; read once per job."""

    id: int
    kind: BroadcastKind
    text: str
    language: str
    created: dt.datetime
    network: str
    country: str = ""
    areas: str = "[]"
    rendered: dict[str, str] = field(default_factory=dict)


@dataclass
class Broadcaster:
    app: App
    bot: Bot
    i18n: I18n
    config: EngineConfig = field(default_factory=EngineConfig)
    owner: str = field(default_factory=lambda: secrets.token_hex(8))

    def __post_init__(self) -> None:
        self.pacer = Pacer(self.config.rate, cap=self.config.rate * self.config.peak)
        self.last_sent: dict[int, float] = {}
        self.bell = asyncio.Event()
        # job -> (chat, message, text, language): the progress message if the database goes
        self._paused: dict[int, tuple[int, str, str]] = {}
        self._progress_ids: dict[int, int] = {}
        self._stop = asyncio.Event()
        self.app.health_probes["broadcasts"] = self.health

    @classmethod
    def from_settings(cls, app: App, bot: Bot, i18n: I18n) -> Broadcaster:
        s = app.settings
        return cls(app, bot, i18n, EngineConfig(rate=s.broadcast_rate, lanes=s.broadcast_lanes))

    async def health(self) -> dict[str, int]:
        async with self.app.sessions() as session:
            return {"active": await BroadcastRepo(session).active_count()}

    # -- the loop ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set. A database outage pauses; nothing is lost."""
        self._stop = stop
        pause = self.config.db_pause
        next_expiry = 0.0
        await self._recover()
        while not stop.is_set():
            try:
                if time.monotonic() >= next_expiry:
                    await self.expire()
                    next_expiry = time.monotonic() + self.config.expire_every
                busy = await self.run_once()
                pause = self.config.db_pause
            except Exception as exc:
                if not is_outage(exc):
                    log.exception("a broadcast cycle failed; retrying")
                else:
                    log.warning("broadcasts paused: the database is away (%s)", type(exc).__name__)
                busy = False
                await self._sleep(pause)
                pause = min(pause * 2, 30.0)
                continue
            if not busy:
                await self._sleep(self.config.idle_wait)
        await self.release()

    async def _recover(self) -> None:
        """On SQLite one process owns the database: a lease left by a killed one goes now (on
        PostgreSQL another instance takes it over once it lapses)."""
        if not self.app.settings.is_sqlite:
            return
        with contextlib.suppress(Exception):
            async with self.app.sessions.begin() as session:
                await LeaseRepo(session).drop(LEASE)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    async def run_once(self) -> bool:
        """Take the lease and work on the next job until it is done. False: nothing to do."""
        async with self.app.sessions.begin() as session:
            if not await LeaseRepo(session).acquire(LEASE, self.owner, self.config.lease):
                return False
            job = await BroadcastRepo(session).next_job()
            job_id = job.id if job is not None else None
        BROADCASTS_ACTIVE.set(0 if job_id is None else 1)
        if job_id is None:
            return False
        await self.work(job_id)
        return True

    async def drain(self) -> None:
        """Run every job to its end (tests, the benchmark)."""
        while await self.run_once():
            pass
        await self.release()

    async def release(self) -> None:
        with contextlib.suppress(Exception):
            async with self.app.sessions.begin() as session:
                await LeaseRepo(session).release(LEASE, self.owner)

    # -- one job -----------------------------------------------------------------------------

    async def work(self, job_id: int) -> None:
        job = await self._plan(job_id)
        if job is None:
            return
        progress = asyncio.create_task(self._progress_loop(job_id))
        try:
            while not self._stop.is_set():
                async with self.app.sessions.begin() as session:
                    await LeaseRepo(session).acquire(LEASE, self.owner, self.config.lease)
                    repo = BroadcastRepo(session)
                    broadcast = await repo.get(job_id)
                    if broadcast is None or broadcast.state != BroadcastState.RUNNING:
                        break
                    due = [r.id for r in await repo.due(job_id, utcnow(), self.config.batch)]
                    left = await repo.remaining(job_id) if not due else len(due)
                    wake = await repo.next_wait(job_id) if not due else None
                if not left:
                    await self._finish(job_id)
                    break
                if not due:
                    wait = (wake - utcnow()).total_seconds() if wake is not None else 1.0
                    await self._sleep(min(max(wait, 0.05), 5.0))
                    continue
                await self._send_batch(job, due)
        finally:
            progress.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await progress
        await self._update_progress(job_id)

    async def _plan(self, job_id: int) -> _Job | None:
        """List the recipients once; read what every message needs. None: nothing to send."""
        async with self.app.sessions.begin() as session:
            repo = BroadcastRepo(session)
            broadcast = await repo.get(job_id)
            if broadcast is None:
                return None
            alert = await session.get(Alert, broadcast.alert_id) if broadcast.alert_id else None
            job = self._job(broadcast, alert)
            if broadcast.state == BroadcastState.PLANNING:
                members = await self._audience(session, broadcast, alert)
                await repo.add_recipients(job_id, members)
                broadcast.total = len(members)
                broadcast.state = BroadcastState.RUNNING
                if broadcast.progress_chat_id is None:
                    groups = GroupRepo(session)
                    for network_id in dict.fromkeys((broadcast.network_id, GLOBAL)):
                        chat = await groups.active_chat(network_id)
                        if chat is not None:
                            broadcast.progress_chat_id = chat
                            break
                log.info("a %s broadcast starts: %d recipients", broadcast.kind, len(members))
        await self._post_progress(job_id)
        return job

    def _job(self, broadcast: Broadcast, alert: Alert | None) -> _Job:
        network = self.app.directory.network(broadcast.network_id)
        name = network.name if network is not None else broadcast.network_id
        if alert is not None:
            return _Job(
                broadcast.id,
                broadcast.kind,
                alert.text,
                alert.language,
                alert.created_at,
                name,
                alert.country,
                alert.areas,
            )
        return _Job(
            broadcast.id,
            broadcast.kind,
            broadcast.text or "",
            broadcast.language or self.app.settings.default_language,
            broadcast.created_at,
            name,
        )

    async def _audience(
        self, session: AsyncSession, broadcast: Broadcast, alert: Alert | None
    ) -> list[int]:
        subs = SubscriptionRepo(session)
        if alert is not None:
            return await subs.audience(
                SubscriptionKind.ALERTS,
                countries={alert.country},
                areas=json.loads(alert.areas or "[]"),
            )
        countries, language = news_scope(self.app, broadcast)
        return await subs.audience(SubscriptionKind.NEWS, countries=countries, language=language)

    async def _finish(self, job_id: int) -> None:
        async with self.app.sessions.begin() as session:
            broadcast = await BroadcastRepo(session).get(job_id)
            if broadcast is not None and broadcast.state == BroadcastState.RUNNING:
                broadcast.state, broadcast.finished_at = BroadcastState.DONE, utcnow()

    # -- sending -----------------------------------------------------------------------------

    async def _send_batch(self, job: _Job, due: list[int]) -> None:
        async with self.app.sessions() as session:
            targets = await BroadcastRepo(session).targets(due)
        ids = [r for r in due if r in targets]
        # Each lane marks up to a second's worth of rows in flight with one commit, then sends
        # them one at a time, committing each `sent` before the next send: one send open per
        # lane, so at most one real repeat per lane after a kill -9 (the other marked rows
        # are resent flagged, though they never left).
        size = max(1, int(self.config.rate / self.config.lanes))
        chunks: asyncio.Queue[list[int]] = asyncio.Queue()
        for start in range(0, len(ids), size):
            chunks.put_nowait(ids[start : start + size])

        async def lane() -> None:
            while not chunks.empty() and not self._stop.is_set():
                chunk = chunks.get_nowait()
                repeats = [r for r in chunk if targets[r].in_flight]
                marked = await self._until_db(partial(self._mark_in_flight, chunk, repeats))
                for recipient_id in chunk:
                    if recipient_id in marked and not self._stop.is_set():
                        await self._deliver(job, recipient_id, targets[recipient_id])

        await asyncio.gather(*(lane() for _ in range(self.config.lanes)))

    async def _deliver(self, job: _Job, recipient_id: int, target: Target) -> None:
        member_id, chat_id, language, discreet, protect, flying = target
        language = language or self.app.settings.default_language
        await self.pacer.slot()
        if flying:
            # In flight before a crash: it may have arrived (the uncertain send).
            BROADCAST_SENDS.labels("repeat").inc()
        gap = self.last_sent.get(chat_id, 0.0) + self.config.per_chat - time.monotonic()
        if gap > 0:
            await asyncio.sleep(gap)
        with self.i18n.context(), self.i18n.use_locale(language):
            text = self._render(job, language)
        self.last_sent[chat_id] = time.monotonic()
        if len(self.last_sent) > 50_000:
            cutoff = time.monotonic() - self.config.per_chat
            self.last_sent = {c: t for c, t in self.last_sent.items() if t > cutoff}
        # Discreet mode is applied by the Bot's safety middleware; its settings were read with
        # the batch, so no send waits on a query of its own.
        self.app.safety.remember(chat_id, Prefs(language, discreet, protect))
        own_flush.set(True)  # the message id is stored with `sent`, in one transaction
        try:
            message = await self.bot.send_message(
                chat_id=chat_id,
                text=text,
                protect_content=True,
                request_timeout=self.config.request_timeout,
            )
        except TelegramRetryAfter as exc:
            BROADCAST_SENDS.labels("429").inc()
            wait = float(exc.retry_after)
            self.pacer.saw_429(wait)
            await self._until_db(lambda: self._later(recipient_id, wait, known=True))
            return
        except (TelegramForbiddenError, TelegramNotFound):
            BROADCAST_SENDS.labels("403").inc()
            await self._until_db(lambda: self._unreachable(recipient_id))
            return
        except TelegramBadRequest as exc:
            text_l = exc.message.lower()
            if "chat not found" in text_l or "blocked" in text_l or "deactivated" in text_l:
                BROADCAST_SENDS.labels("403").inc()
                await self._until_db(lambda: self._unreachable(recipient_id))
            else:
                BROADCAST_SENDS.labels("failed").inc()
                log.warning("Telegram refused a broadcast message: %s", exc.message[:80])
                await self._until_db(lambda: self._settle(recipient_id, RecipientState.FAILED))
            return
        except TelegramServerError:
            BROADCAST_SENDS.labels("retry").inc()
            await self._until_db(lambda: self._later(recipient_id, None, known=True))
            return
        except AiogramError:
            # A timeout or a dropped connection: the message may have arrived.
            BROADCAST_SENDS.labels("retry").inc()
            await self._until_db(lambda: self._later(recipient_id, None, known=False))
            return
        BROADCAST_SENDS.labels("ok").inc()
        self.pacer.answered(False)
        await self._until_db(lambda: self._sent(recipient_id, member_id, message))

    def _render(self, job: _Job, language: str) -> str:
        """The message in `language`; rendered once per language and job."""
        text = job.rendered.get(language)
        if text is None:
            text = job.rendered[language] = self._render_once(job, language)
        return text

    def _render_once(self, job: _Job, language: str) -> str:
        if job.kind == BroadcastKind.ALERT:
            return alert_text(
                text=job.text,
                country=job.country,
                areas_json=job.areas,
                created=job.created,
                language=language,
            )
        return news_text(
            text=job.text, network=job.network, created=job.created, language=language
        )

    async def _until_db(self, step: Callable[[], Awaitable[T]]) -> T:
        """Run a database step, waiting out an outage (the broadcast pauses, R34)."""
        pause = self.config.db_pause
        while True:
            try:
                return await step()
            except Exception as exc:
                if not is_outage(exc):
                    raise
                BROADCAST_SENDS.labels("db_wait").inc()
                log.warning("broadcast paused: the database is away (%s)", type(exc).__name__)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)

    async def _mark_in_flight(self, recipient_ids: list[int], repeats: list[int]) -> set[int]:
        async with self.app.sessions.begin() as session:
            return await BroadcastRepo(session).mark_in_flight(recipient_ids, repeats)

    async def _sent(self, recipient_id: int, member_id: int, message: Message) -> None:
        now = utcnow()
        async with self.app.sessions.begin() as session:
            await BroadcastRepo(session).mark_sent(recipient_id, message.message_id, now)
            # The id for "Clear this chat", in the same transaction (the safety middleware
            # only noted it: `own_flush`); the daily pass drops it after 48 hours.
            self.app.safety.discard(message.chat.id)
            await SafetyRepo(session).add_sightings([(member_id, message.message_id, True, now)])

    async def _settle(
        self, recipient_id: int, state: RecipientState, message_id: int | None = None
    ) -> None:
        async with self.app.sessions.begin() as session:
            row = await BroadcastRepo(session).recipient(recipient_id)
            if row is None:
                return
            row.state, row.next_attempt_at = state, None
            if message_id is not None:
                row.message_id, row.sent_at = message_id, utcnow()

    async def _later(self, recipient_id: int, retry_after: float | None, *, known: bool) -> None:
        async with self.app.sessions.begin() as session:
            row = await BroadcastRepo(session).recipient(recipient_id)
            if row is None:
                return
            if retry_after is not None:
                # Not a failure: Telegram asked us to wait; this try does not count.
                row.attempts = max(0, row.attempts - 1)
                delay = retry_after + 0.1
            else:
                if row.attempts >= self.config.max_failures:
                    row.state = RecipientState.FAILED
                    return
                delay = min(
                    self.config.base_delay * 2 ** (row.attempts - 1), self.config.max_delay
                )
            # Unknown outcome: leave it in flight, so the next try is flagged as a repeat.
            row.state = RecipientState.PENDING if known else RecipientState.IN_FLIGHT
            row.next_attempt_at = utcnow() + dt.timedelta(seconds=delay)

    async def _unreachable(self, recipient_id: int) -> None:
        async with self.app.sessions.begin() as session:
            row = await BroadcastRepo(session).recipient(recipient_id)
            if row is None:
                return
            row.state = RecipientState.UNREACHABLE
            await SubscriptionRepo(session).mark_unreachable(row.member_id)

    # -- retention ---------------------------------------------------------------------------

    async def expire(self, now: dt.datetime | None = None) -> int:
        """Alerts past ALERT_RETENTION_DAYS (news past RETENTION_DAYS) are deleted: first the
        messages in members' chats that Telegram still lets a bot delete (under 48 hours
        old, so only with a retention that short), then every row."""
        now = now or utcnow()
        settings = self.app.settings
        async with self.app.sessions() as session:
            expired = await BroadcastRepo(session).expired(
                now - dt.timedelta(days=settings.alert_retention_days),
                now - dt.timedelta(days=settings.retention_days),
            )
            ids = [b.id for b in expired]
        for broadcast_id in ids:
            await self._delete_messages(broadcast_id, now - DELETABLE)
            async with self.app.sessions.begin() as session:
                repo = BroadcastRepo(session)
                broadcast = await repo.get(broadcast_id)
                if broadcast is not None:
                    await repo.drop(broadcast)
        if ids:
            log.info("%d expired broadcasts deleted", len(ids))
        return len(ids)

    async def _delete_messages(self, broadcast_id: int, since: dt.datetime) -> None:
        while True:
            async with self.app.sessions() as session:
                found = await BroadcastRepo(session).sent_messages(broadcast_id, since)
            if not found:
                return
            for _rid, chat_id, message_id in found:
                await self.pacer.slot()
                try:
                    await self.bot.delete_message(chat_id=chat_id, message_id=message_id)
                except TelegramRetryAfter as exc:
                    self.pacer.hold(exc.retry_after)
                except AiogramError as exc:
                    log.info("an expired message was not deleted: %s", type(exc).__name__)
            async with self.app.sessions.begin() as session:
                await BroadcastRepo(session).clear_message_ids([r[0] for r in found])

    # -- progress in the staff group -----------------------------------------------------------

    async def _progress_loop(self, job_id: int) -> None:
        paused = False
        while True:
            await asyncio.sleep(self.config.progress_every)
            try:
                await self._update_progress(job_id)
                paused = False
            except Exception as exc:
                if is_outage(exc) and not paused:
                    paused = await self._show_paused(job_id)

    async def _show_paused(self, job_id: int) -> bool:
        """The database is away: the group's progress message says the broadcast is paused
        (from the last counts read), so staff are not left guessing."""
        shown, message_id = self._paused.get(job_id), self._progress_ids.get(job_id)
        if shown is None or message_id is None:
            return False
        chat_id, text, language = shown
        try:
            await self.bot.edit_message_text(
                text=text,
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=self._stop_markup(job_id, language),
            )
        except AiogramError as exc:
            log.info("progress message not updated: %s", type(exc).__name__)
            return False
        return True

    async def _progress_view(self, job_id: int) -> tuple[int, int | None, str, bool] | None:
        async with self.app.sessions() as session:
            repo = BroadcastRepo(session)
            broadcast = await repo.get(job_id)
            if broadcast is None or broadcast.progress_chat_id is None:
                return None
            counts = await repo.counts(job_id)
            language = (
                await GroupRepo(session).language_of(broadcast.progress_chat_id)
                or self.app.settings.default_language
            )
            running = broadcast.state in (BroadcastState.PLANNING, BroadcastState.RUNNING)
            with self.i18n.context(), self.i18n.use_locale(language):
                finished = None
                if broadcast.state == BroadcastState.DONE:
                    finished = (
                        _("Sent.")
                        if broadcast.total
                        else _("Nobody has asked for this yet: nothing was sent.")
                    )
                elif broadcast.state == BroadcastState.STOPPED:
                    finished = _("Stopped.")
                text = progress_text(counts, broadcast.total, language, finished=finished)
                if running:
                    paused = _(
                        "Paused: the bot's database is not answering. Sending goes on by"
                        " itself once it is back, and nobody gets this twice."
                    )
                    self._paused[job_id] = (
                        broadcast.progress_chat_id,
                        progress_text(counts, broadcast.total, language, finished=paused),
                        language,
                    )
                if broadcast.progress_message_id is not None:
                    self._progress_ids[job_id] = broadcast.progress_message_id
            return broadcast.progress_chat_id, broadcast.progress_message_id, text, running

    def _stop_markup(self, job_id: int, language: str) -> InlineKeyboardMarkup:
        kb = InlineKeyboardBuilder()
        with self.i18n.context(), self.i18n.use_locale(language):
            kb.button(
                text="⏹ " + _("Stop"), callback_data=BroadcastAction(op=BroadcastOp.STOP, b=job_id)
            )
        return kb.as_markup()

    async def _post_progress(self, job_id: int) -> None:
        view = await self._progress_view(job_id)
        if view is None or view[1] is not None:
            return
        chat_id, _message, text, running = view
        markup = self._stop_markup(job_id, self.app.settings.default_language) if running else None
        try:
            message = await self.bot.send_message(chat_id=chat_id, text=text, reply_markup=markup)
        except AiogramError as exc:
            log.info("no progress message for a broadcast: %s", type(exc).__name__)
            return
        async with self.app.sessions.begin() as session:
            broadcast = await BroadcastRepo(session).get(job_id)
            if broadcast is not None:
                broadcast.progress_message_id = message.message_id
        self._progress_ids[job_id] = message.message_id

    async def _update_progress(self, job_id: int) -> None:
        view = await self._progress_view(job_id)
        if view is None:
            return
        chat_id, message_id, text, running = view
        if message_id is None:
            await self._post_progress(job_id)
            return
        markup = self._stop_markup(job_id, self.app.settings.default_language) if running else None
        try:
            await self.bot.edit_message_text(
                text=text,
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=markup,
            )
        except TelegramRetryAfter as exc:
            await asyncio.sleep(min(exc.retry_after, 30))
        except AiogramError as exc:
            if "not modified" not in str(exc):
                log.info("progress message not updated: %s", type(exc).__name__)


def news_scope(app: App, broadcast: Broadcast) -> tuple[set[str] | None, str | None]:
    """(countries, language) of a network's news: one country, or one language in the
    network's countries, or all its countries (None: any country, for the global network)."""
    audience = json.loads(broadcast.audience or "{}")
    if "country" in audience:
        return {str(audience["country"])}, None
    language = audience.get("language")
    network = app.directory.network(broadcast.network_id)
    if network is None or broadcast.network_id == GLOBAL:
        return None, language
    return set(network.countries | network.also_countries), language


async def stop_broadcast(session: AsyncSession, broadcast: Broadcast) -> int:
    """Stop: recipients not yet reached are skipped. Returns how many."""
    if broadcast.state not in (BroadcastState.PLANNING, BroadcastState.RUNNING):
        return 0
    broadcast.state, broadcast.finished_at = BroadcastState.STOPPED, utcnow()
    return await BroadcastRepo(session).skip_rest(broadcast.id)
