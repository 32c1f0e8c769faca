"""/forget and the retention job: what the bot keeps, and for how long (R26)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import time
from typing import TYPE_CHECKING

from aiogram import Bot
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import checkpoint
from storage.models import OutboxState, ReferralState, utcnow
from storage.repositories import (
    BadDateRepo,
    BroadcastRepo,
    InboxRepo,
    LeaseRepo,
    MemberRepo,
    OutboxRepo,
    ReferralRepo,
    SafetyRepo,
    SubscriptionRepo,
)

if TYPE_CHECKING:
    from bot.app import App
    from storage.models import Member

from bot.safety.service import WINDOW

log = logging.getLogger(__name__)


# -- /forget ---------------------------------------------------------------------------------


async def forget_member(
    app: App, session: AsyncSession, bot: Bot, member: Member, chat_id: int
) -> None:
    """Erase a member in the update's transaction: what it keeps, their key, their chat.

    Their referrals stay as tombstones (code, need, country; no member, no text) so networks
    are told "withdrawn by the member"; destroying the data key shreds every text sealed
    with it, including copies in backups of the main database (see storage/keystore.py).
    """
    from bot.baddates.service import BadDates
    from bot.referrals.service import Referrals, ring_after_commit

    safety = app.safety
    await safety.clear_chat(bot, session, member.id, chat_id)
    # Their bad-date reports: erased, and cards still waiting for a decision say so.
    if await BadDates(session, app).forget_member(member.id):
        ring_after_commit(session, app)
    # Withdraws and erases their referrals (networks are told), and destroys their data key.
    if await Referrals(session, app).forget_member(member.id):
        ring_after_commit(session, app)
    # Delivered messages remember the chat they went to: for a member, their Telegram id.
    await OutboxRepo(session).forget_chat(member.telegram_id, OWED)
    # Their updates still waiting or failed in the inbox: name, @username, words (M5).
    await InboxRepo(session).forget_sender(member.telegram_id)
    repo = SafetyRepo(session)
    await repo.drop_sightings(member.id)
    await repo.drop_settings(member.id)
    # Alerts and news: what they asked for, and their place in broadcasts (issue 16).
    await SubscriptionRepo(session).forget_member(member.id)
    await MemberRepo(session).delete(member)
    safety.forget(chat_id)

    # Again once committed: until then the prefs cache refills from the rows still committed,
    # and a stale "discreet" would outlive the member by up to PREFS_TTL (tour [10]).
    def again(_session: object) -> None:
        safety.forget(chat_id)

    event.listen(session.sync_session, "after_commit", again, once=True)
    safety.checkpoint_soon(session)
    if app.settings.redis_url:
        await forget_flood_counter(app, chat_id)


async def forget_flood_counter(app: App, user_id: int) -> None:
    """The flood guard's counter names the member (by keyed hash) for up to a minute (L10)."""
    from redis.asyncio import Redis

    from bot.middlewares.throttle import counter_name

    assert app.settings.redis_url is not None
    client = Redis.from_url(app.settings.redis_url)
    try:
        await client.delete(counter_name(app.identity, user_id))
    finally:
        await client.aclose()


# -- retention ---------------------------------------------------------------------------------

PURGE_EVERY = dt.timedelta(days=1)
PURGE_LEASE = "retention"
# Handled updates keep only a bare update_id, one day, to drop repeats (their payload is cleared
# the moment they are handled); anything never handled goes after a week (R26).
INBOX_REPEATS = dt.timedelta(days=1)
INBOX_MAX = dt.timedelta(days=7)
# A key younger than this may belong to a member whose first transaction is still running.
ORPHAN_KEY_AGE = dt.timedelta(days=1)
TERMINAL_STATES = (ReferralState.CLOSED, ReferralState.WITHDRAWN, ReferralState.DELETED)
OWED = (OutboxState.PENDING, OutboxState.WAITING)


async def purge(app: App, now: dt.datetime | None = None) -> dict[str, int]:
    """One retention pass; safe to repeat and to run on several instances at once."""
    now = now or utcnow()
    counts: dict[str, int] = {}
    async with app.sessions.begin() as session:
        counts["message_ids"] = await SafetyRepo(session).purge_sightings(now - WINDOW)
        counts["inbox"] = await InboxRepo(session).purge(now - INBOX_REPEATS, now - INBOX_MAX)
        referrals = ReferralRepo(session)
        # Withdrawn and deleted requests carry no closing date: their clock starts now.
        await referrals.stamp_closed(TERMINAL_STATES, now)
        counts["referrals"] = await referrals.purge_closed(
            TERMINAL_STATES, now - dt.timedelta(days=app.settings.retention_days)
        )
        counts["bad_date_reports"] = await BadDateRepo(session).purge_closed(
            now - dt.timedelta(days=app.settings.retention_days)
        )
        counts["relay_texts"] = await referrals.drop_delivered_relay_texts(
            (OutboxState.SENT, OutboxState.DEAD, OutboxState.CANCELLED)
        )
        counts["alerts"] = await expire_broadcasts(app, session, now)
        known = await MemberRepo(session).all_ids()
    if app.settings.is_sqlite:
        async with app.sessions() as session:
            await checkpoint(session)
    counts["orphan_keys"] = 0
    if app.keystore is not None:
        for member_id in await app.keystore.members(created_before=now - ORPHAN_KEY_AGE):
            if member_id not in known:
                await app.keystore.destroy(member_id)
                counts["orphan_keys"] += 1
    return counts


async def expire_broadcasts(app: App, session: AsyncSession, now: dt.datetime) -> int:
    """Alerts past ALERT_RETENTION_DAYS and news past RETENTION_DAYS: rows deleted (the
    broadcast worker first deletes the messages still young enough to delete in chats)."""
    repo = BroadcastRepo(session)
    settings = app.settings
    expired = await repo.expired(
        now - dt.timedelta(days=settings.alert_retention_days),
        now - dt.timedelta(days=settings.retention_days),
    )
    for broadcast in expired:
        await repo.drop(broadcast)
    await repo.drop_old_alerts(now - dt.timedelta(days=settings.alert_retention_days))
    return len(expired)


async def purge_if_due(
    app: App, holder: str, now: dt.datetime | None = None
) -> dict[str, int] | None:
    """Run the daily pass unless some instance has run it in the last day (a lease row)."""
    async with app.sessions.begin() as session:
        if not await LeaseRepo(session).acquire(PURGE_LEASE, holder, PURGE_EVERY):
            return None
    counts = await purge(app, now)
    # Counts only: nothing here names a member.
    log.info("retention pass: %s", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return counts


def instance_name() -> str:
    return f"{os.getpid()}-{secrets.token_hex(4)}"


async def retention_loop(app: App, stop: asyncio.Event, check_every: float = 3600.0) -> None:
    """In the bot process: try every hour; the lease lets one instance a day do the work."""
    holder = instance_name()
    last_run = -float("inf")
    while not stop.is_set():
        # The lease is ours again at once after our own run: only our clock holds us back.
        if time.monotonic() - last_run >= PURGE_EVERY.total_seconds():
            try:
                if await purge_if_due(app, holder) is not None:
                    last_run = time.monotonic()
            except Exception as exc:
                log.warning("retention pass failed (%s); trying again later", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=check_every)
