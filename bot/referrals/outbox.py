"""The delivery worker: sends what the outbox owes Telegram, at least once, never silently lost.

A cycle leases due rows (FOR UPDATE SKIP LOCKED on PostgreSQL, R5), resolves each destination
at send time (the bound group, else the fallback group, else wait), marks the rows in flight and
commits, and only then calls Telegram, one chat at a time in order and different chats
concurrently. Outcomes:

- Pacing: each group gets at most ~20 messages a minute (a token bucket per chat,
  bot/referrals/pacing.py), so a burst waits its turn, in order, instead of meeting 429s (R20).
- 429: that row and the rest of that chat wait `retry_after` plus jitter; other chats go on (R7).
- 5xx, timeouts, dropped connections: capped exponential backoff with jitter; after
  `max_failures` tries or `max_age`, the row is `dead` and admins are told (R8).
- 403 / "chat not found" from a group: the group's binding is deactivated, admins are told and
  the message is rerouted to the fallback group; a member who blocked the bot is dead (R9).
- "group chat was upgraded to a supergroup": the binding follows the new id and resends (R10).
- A row still marked in flight when planned again (a crash or a lost response after the send)
  may have arrived already: it is sent again, marked "(repeat)" (R6).

What each kind of row becomes (its chat, text and buttons) is decided by bot/referrals/planner.py.
Timers for unclaimed referrals (a reminder in the group, then the fallback group) are database
timestamps checked every cycle, so they survive restarts. The clock is injectable for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    AiogramError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import ReplyParameters
from aiogram.utils.i18n import I18n
from cryptography.exceptions import InvalidTag
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.baddates import delivery as reports
from bot.config import Settings
from bot.directory.model import GLOBAL
from bot.metrics import DELIVERIES
from bot.referrals import planner
from bot.referrals.pacing import Pacer, Rate
from bot.referrals.planner import Plan, enqueue_alert, finish
from bot.referrals.service import OPEN_STATES, Referrals
from bot.referrals.texts import AlertReason
from storage.models import (
    Destination,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    Referral,
    ReferralState,
    utcnow,
)
from storage.repositories import GroupRepo, OutboxRepo, ReferralRepo

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class DeliveryConfig:
    base_delay: float = 2.0  # seconds before the first retry; doubles each time
    max_delay: float = 600.0
    max_failures: int = 8
    max_age: dt.timedelta = dt.timedelta(hours=24)
    lease: dt.timedelta = dt.timedelta(seconds=90)
    batch: int = 50
    chats_at_once: int = 8
    request_timeout: int = 20
    idle_wait: float = 5.0  # look for due rows at least this often without the doorbell
    timer_interval: float = 60.0  # reminders and escalations
    # Per group chat, ahead of Telegram's ~20 a minute (R20); None: unpaced.
    group_rate: Rate | None = field(default_factory=Rate)

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryConfig:
        per_minute = settings.group_messages_per_minute
        return cls(group_rate=Rate(per_minute, settings.group_burst) if per_minute else None)


@dataclass
class _Outcome:
    blocked_until: dt.datetime | None = None
    again: bool = False


@dataclass
class Delivery:
    app: App
    bot: Bot
    i18n: I18n
    clock: Clock = utcnow
    config: DeliveryConfig = field(default_factory=DeliveryConfig)
    rng: Callable[[], float] = random.random
    owner: str = field(default_factory=lambda: secrets.token_hex(8))

    def __post_init__(self) -> None:
        self.bell = self.app.doorbell
        self.blocked: dict[int, dt.datetime] = {}
        self._chats = asyncio.Semaphore(self.config.chats_at_once)
        self.pacer = Pacer(self.config.group_rate)
        self.booked: dict[int, dt.datetime] = {}  # outbox row id -> its paced moment (R20)
        # Reported by /healthz in webhook mode (R36): lag, waiting and dead letters.
        self.app.health_probes["outbox"] = self.health

    async def health(self) -> dict[str, Any]:
        now = self.clock()
        async with self.app.sessions() as session:
            outbox = OutboxRepo(session)
            due = await outbox.next_due()
            return {
                "pending": await outbox.count(OutboxState.PENDING),
                "waiting_for_a_group": await outbox.count(OutboxState.WAITING),
                "dead": await outbox.count(OutboxState.DEAD),
                "lag_seconds": round(max((now - due).total_seconds(), 0.0), 1) if due else 0,
            }

    # -- the loop ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; then hand back the leases (R12)."""
        watcher = asyncio.create_task(self._ring_on(stop))
        loop = asyncio.get_running_loop()
        next_timers = 0.0
        try:
            await self.recover()
            while not stop.is_set():
                busy = 0
                try:
                    if loop.time() >= next_timers:
                        await self.check_timers()
                        next_timers = loop.time() + self.config.timer_interval
                    busy = await self.run_once()
                except Exception:
                    log.exception("delivery cycle failed; retrying")
                    await asyncio.sleep(1.0)
                if not busy and not stop.is_set():
                    await self.bell.wait(await self._idle_seconds())
        finally:
            watcher.cancel()
            await asyncio.shield(self.release())

    async def _ring_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.bell.ring()

    async def _idle_seconds(self) -> float:
        async with self.app.sessions() as session:
            due = await OutboxRepo(session).next_due()
        wait = self.config.idle_wait
        if due is not None:
            wait = min(wait, max((due - self.clock()).total_seconds(), 0.0))
        return wait

    async def recover(self) -> None:
        """On SQLite a lone worker owns every row: leases left by a killed process go now."""
        if self.app.settings.is_sqlite:
            async with self.app.sessions.begin() as session:
                released = await OutboxRepo(session).release()
            if released:
                log.info("took back %d outbox leases after a restart", released)

    async def release(self) -> None:
        with contextlib.suppress(Exception):
            async with self.app.sessions.begin() as session:
                await OutboxRepo(session).release(self.owner)

    async def drain(self, rounds: int = 100) -> None:
        """Run cycles until nothing is due (tests and the terminal chat)."""
        for _round in range(rounds):
            if not await self.run_once():
                return

    async def run_once(self) -> int:
        """One cycle: lease, plan, commit, send. Returns how many rows were leased."""
        now = self.clock()
        plans: list[Plan] = []
        if len(self.booked) > 10_000:  # rows another worker took, or cancelled meanwhile
            stale = now - dt.timedelta(hours=1)
            self.booked = {k: v for k, v in self.booked.items() if v > stale}
        async with self.app.sessions.begin() as session:
            rows = await OutboxRepo(session).claim(
                self.owner, now, self.config.lease, self.config.batch
            )
            for row in rows:
                try:
                    plan = await self._plan(session, row, now)
                except InvalidTag:
                    # One member's key or sealed row that cannot be opened (corrupt, or sealed
                    # under another MASTER_KEY) must not stop everyone's delivery (M3).
                    await self._bury(session, row, "cannot be decrypted")
                    continue
                if plan is None:
                    continue
                blocked = self.blocked.get(plan.chat_id)
                if blocked is not None and blocked > now:
                    _unlease(row, blocked)
                    continue
                slot = self.booked.pop(row.id, None) or self.pacer.reserve(plan.chat_id, now)
                if slot > now:
                    # The group's quota is spent: the row waits for the moment booked for it,
                    # after the chat's earlier rows, instead of being sent and refused (R20).
                    self.booked[row.id] = slot
                    _unlease(row, slot)
                    continue
                row.attempts += 1
                row.in_flight = True
                plans.append(plan)
        by_chat: dict[int, list[Plan]] = {}
        for plan in plans:
            by_chat.setdefault(plan.chat_id, []).append(plan)
        await asyncio.gather(*(self._send_chat(chat, queue) for chat, queue in by_chat.items()))
        return len(rows)

    async def _send_chat(self, chat_id: int, queue: list[Plan]) -> None:
        async with self._chats:
            for i, plan in enumerate(queue):
                outcome = await self._attempt(plan)
                if outcome.blocked_until is not None:
                    self.blocked[chat_id] = outcome.blocked_until
                    await self._defer([p.row_id for p in queue[i + 1 :]], outcome.blocked_until)
                    return
                if outcome.again:
                    self.bell.ring()

    # -- planning ----------------------------------------------------------------------------

    async def _plan(
        self, session: AsyncSession, row: OutboxMessage, now: dt.datetime
    ) -> Plan | None:
        """The kind's planner (bot/referrals/planner.py) decides the chat and the text."""
        return await planner.plan(self.app, self.i18n, session, row, now)

    async def alert(
        self, session: AsyncSession, reason: AlertReason, ref: str, **params: Any
    ) -> None:
        """Tell every admin in private, once per (reason, ref)."""
        await enqueue_alert(self.app, session, reason, ref, **params)

    # -- sending -----------------------------------------------------------------------------

    async def _attempt(self, plan: Plan) -> _Outcome:
        try:
            if plan.edit_message_id is not None and plan.delete:
                await self.bot.delete_message(
                    chat_id=plan.chat_id,
                    message_id=plan.edit_message_id,
                    request_timeout=self.config.request_timeout,
                )
                await self._sent(plan, plan.chat_id, plan.edit_message_id)
                DELIVERIES.labels("ok").inc()
                return _Outcome()
            if plan.edit_message_id is not None:
                await self.bot.edit_message_text(
                    text=plan.text,
                    chat_id=plan.chat_id,
                    message_id=plan.edit_message_id,
                    reply_markup=plan.markup,
                    request_timeout=self.config.request_timeout,
                )
                await self._sent(plan, plan.chat_id, plan.edit_message_id)
                DELIVERIES.labels("ok").inc()
                return _Outcome()
            reply = (
                ReplyParameters(message_id=plan.reply_to, allow_sending_without_reply=True)
                if plan.reply_to is not None
                else None
            )
            if plan.copy_from is not None:
                copied = await self.bot.copy_message(
                    chat_id=plan.chat_id,
                    from_chat_id=plan.copy_from[0],
                    message_id=plan.copy_from[1],
                    caption=plan.text,
                    reply_markup=plan.markup,
                    reply_parameters=reply,
                    protect_content=plan.protect,
                    request_timeout=self.config.request_timeout,
                )
                await self._sent(plan, plan.chat_id, copied.message_id)
                DELIVERIES.labels("ok").inc()
                return _Outcome()
            message = await self.bot.send_message(
                chat_id=plan.chat_id,
                text=plan.text,
                reply_markup=plan.markup,
                reply_parameters=reply,
                protect_content=plan.protect,
                request_timeout=self.config.request_timeout,
            )
            await self._sent(plan, message.chat.id, message.message_id)
            DELIVERIES.labels("ok").inc()
            return _Outcome()
        except TelegramRetryAfter as exc:
            DELIVERIES.labels("429").inc()
            until = self.clock() + dt.timedelta(seconds=exc.retry_after + self.rng() * 0.5)
            log.info("429 for a %s: waiting %s s for that chat", plan.kind, exc.retry_after)
            await self._defer([plan.row_id], until)
            return _Outcome(blocked_until=until)
        except TelegramMigrateToChat as exc:
            DELIVERIES.labels("retry").inc()
            await self._migrated(plan, exc.migrate_to_chat_id)
            return _Outcome(again=True)
        except (TelegramForbiddenError, TelegramNotFound) as exc:
            DELIVERIES.labels("403").inc()
            return await self._refused(plan, exc.message)
        except TelegramBadRequest as exc:
            text = exc.message.lower()
            if plan.edit_message_id is not None and "not modified" in text:
                await self._sent(plan, plan.chat_id, plan.edit_message_id)
            elif "chat not found" in text or "bot was kicked" in text:
                return await self._refused(plan, exc.message)
            elif plan.edit_message_id is not None:
                # Too old, deleted by staff: nothing left to bring up to date.
                await self._finished(plan, OutboxState.SENT, exc.message)
            else:
                log.error("Telegram refused a %s for good: %s", plan.kind, exc.message)
                await self._dead(plan, exc.message)
            return _Outcome()
        except TelegramServerError as exc:
            DELIVERIES.labels("retry").inc()
            await self._failed(plan, exc.message, known=True)
        except (TelegramNetworkError, AiogramError) as exc:
            # The request may have reached Telegram: the next try is marked as a repeat.
            DELIVERIES.labels("retry").inc()
            await self._failed(plan, type(exc).__name__, known=False)
        return _Outcome()

    async def _sent(self, plan: Plan, chat_id: int, message_id: int) -> None:
        now = self.clock()
        async with self.app.sessions.begin() as session:
            row = await OutboxRepo(session).get(plan.row_id)
            if row is None:
                return
            finish(row, OutboxState.SENT, "")
            row.last_error = None
            row.sent_chat_id, row.message_id, row.sent_at = chat_id, message_id, now
            if row.destination == Destination.ADMIN:
                # An alert's reasons (a request's code and network side by side) are needed
                # only until it is sent: not kept for a copy of the database to find (H1).
                row.params = None
            if row.relay_id is not None:
                # Delivered: the relayed text (or where a photo was) is not kept (issue 6, 15).
                await ReferralRepo(session).drop_relay_text(row.relay_id)
            if row.report_id is not None and await reports.sent(
                session, row, plan.group_network, now
            ):
                self.bell.ring()
            if row.kind != OutboxKind.CARD or row.referral_id is None:
                return
            referral = await session.get(Referral, row.referral_id)
            if referral is None:
                return
            await ReferralRepo(session).set_group_network(referral, plan.group_network)
            if referral.state in (ReferralState.QUEUED, ReferralState.WAITING):
                referral.state, referral.delivered_at = ReferralState.DELIVERED, now
            elif referral.state not in OPEN_STATES:
                # Withdrawn while this card was on its way: take the text back off it.
                await Referrals(session, self.app).enqueue_card_edits(referral, [row])
                self.bell.ring()

    async def _defer(self, row_ids: Sequence[int], until: dt.datetime) -> None:
        if not row_ids:
            return
        async with self.app.sessions.begin() as session:
            outbox = OutboxRepo(session)
            for row_id in row_ids:
                row = await outbox.get(row_id)
                if row is not None and row.state == OutboxState.PENDING:
                    row.attempts = max(0, row.attempts - 1)
                    row.in_flight = False
                    _unlease(row, until)

    async def _failed(self, plan: Plan, reason: str, *, known: bool) -> None:
        now = self.clock()
        async with self.app.sessions.begin() as session:
            row = await OutboxRepo(session).get(plan.row_id)
            if row is None:
                return
            row.failures += 1
            row.last_error = reason[:120]
            if known:
                row.in_flight = False
            if (
                row.failures >= self.config.max_failures
                or now - row.created_at > self.config.max_age
            ):
                await self._bury(session, row, reason)
                return
            delay = min(self.config.base_delay * 2 ** (row.failures - 1), self.config.max_delay)
            _unlease(row, now + dt.timedelta(seconds=delay * (0.5 + self.rng())))
        log.info("a %s failed (%s); retry %d", plan.kind, reason[:60], row.failures)

    async def _dead(self, plan: Plan, reason: str) -> None:
        DELIVERIES.labels("dead").inc()
        async with self.app.sessions.begin() as session:
            row = await OutboxRepo(session).get(plan.row_id)
            if row is not None:
                await self._bury(session, row, reason)

    async def _bury(
        self, session: AsyncSession, row: OutboxMessage, reason: str, *, refused: bool = False
    ) -> None:
        row.state, row.lease_until, row.lease_owner = OutboxState.DEAD, None, None
        row.in_flight = False
        row.last_error = reason[:120]
        log.warning("a %s for %s is dead: %s", row.kind, row.destination, reason[:80])
        if (
            row.destination == Destination.MEMBER
            and row.kind in (OutboxKind.RELAY, OutboxKind.MEDIA)
            and row.referral_id is not None
            and not refused
        ):
            # Staff saw 👍 when they replied: tell the group the member never got it (L5).
            await OutboxRepo(session).enqueue(
                f"undelivered:{row.id}",
                referral_id=row.referral_id,
                destination=Destination.CARD,
                kind=OutboxKind.UNDELIVERED,
            )
            self.bell.ring()
        if row.destination == Destination.ADMIN:
            row.params = None  # never needed again (see _sent)
        if row.destination in (Destination.ADMIN, Destination.MEMBER):
            return  # an admin who never started the bot, a member who blocked it
        referral = await session.get(Referral, row.referral_id) if row.referral_id else None
        await self.alert(
            session,
            AlertReason.DEAD,
            f"o{row.id}",
            code=referral.code if referral else "",
            n=row.attempts,
            error=reason[:60],
        )

    async def _finished(self, plan: Plan, state: OutboxState, note: str) -> None:
        async with self.app.sessions.begin() as session:
            row = await OutboxRepo(session).get(plan.row_id)
            if row is not None:
                finish(row, state, note)

    async def _refused(self, plan: Plan, reason: str) -> _Outcome:
        """403 or chat not found: permanent for this chat (R9)."""
        async with self.app.sessions.begin() as session:
            row = await OutboxRepo(session).get(plan.row_id)
            if row is None:
                return _Outcome()
            if plan.destination in (Destination.MEMBER, Destination.ADMIN):
                await self._bury(session, row, reason, refused=True)
                return _Outcome()
            if plan.edit_message_id is not None:
                finish(row, OutboxState.SENT, reason)
                return _Outcome()
            networks = await GroupRepo(session).deactivate(plan.chat_id)
            row.in_flight = False
            row.attempts = max(0, row.attempts - 1)
            _unlease(row, self.clock())
            for network_id in networks:
                await self.alert(
                    session,
                    AlertReason.REFUSED,
                    f"{network_id}:{plan.chat_id}",
                    network=network_id,
                    error=reason[:60],
                )
        log.warning("a group refused the bot (%s): rerouting", reason[:60])
        return _Outcome(again=True)

    async def _migrated(self, plan: Plan, new_chat_id: int) -> None:
        async with self.app.sessions.begin() as session:
            await GroupRepo(session).migrate(plan.chat_id, new_chat_id)
            row = await OutboxRepo(session).get(plan.row_id)
            if row is not None:
                row.in_flight = False
                row.attempts = max(0, row.attempts - 1)
                _unlease(row, self.clock())
                if plan.edit_message_id is not None:
                    finish(row, OutboxState.SENT, "group migrated")
        log.info("a group became a supergroup; its binding follows it")

    # -- timers ------------------------------------------------------------------------------

    async def check_timers(self) -> int:
        """Remind and escalate unclaimed referrals; returns how many messages were queued."""
        settings = self.app.settings
        now = self.clock()
        timers = (
            # (after, the referral's stamp, what to queue, where it goes)
            (settings.referral_remind_after, "reminded_at", OutboxKind.REMINDER, Destination.CARD),
            (
                settings.referral_escalate_after,
                "escalated_at",
                OutboxKind.ESCALATION,
                Destination.FALLBACK,
            ),
        )
        queued = 0
        async with self.app.sessions.begin() as session:
            referrals = ReferralRepo(session)
            outbox = OutboxRepo(session)
            for after, stamp, kind, destination in timers:
                before = now - dt.timedelta(seconds=after)
                for referral in await referrals.unclaimed_since(before, stamp):
                    setattr(referral, stamp, now)
                    if kind == OutboxKind.ESCALATION and referral.group_network_id == GLOBAL:
                        continue  # already with the fallback group
                    if await outbox.enqueue(
                        f"{kind}:{referral.id}",
                        referral_id=referral.id,
                        destination=destination,
                        kind=kind,
                    ):
                        queued += 1
        if queued:
            self.bell.ring()
        return queued


def _unlease(row: OutboxMessage, due: dt.datetime) -> None:
    row.lease_until, row.lease_owner, row.next_attempt_at = None, None, due


async def stop_worker(task: asyncio.Task[None], grace: float = 5.0) -> None:
    """After `stop` is set: let the current sends finish, then cancel; leases go back (R12)."""
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=grace)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    except Exception:
        log.exception("the delivery worker failed")
