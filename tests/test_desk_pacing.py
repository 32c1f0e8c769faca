"""Group rate limits ahead of time (issue 15 item 5, R20): a burst of cards is queued, not failed.

The fake Bot API enforces Telegram's group limit (20 messages a minute, then 429 with
retry_after) on the same fake clock as the worker, so a simulated six minutes take seconds
while the limit logic on both sides is the real one.
"""

from __future__ import annotations

import datetime as dt

from aiogram import Bot
from sqlalchemy import func, select

from bot.app import App
from bot.devtools.localapi import FakeTelegram
from bot.referrals.outbox import Delivery, DeliveryConfig
from bot.referrals.pacing import Pacer, Rate
from bot.referrals.service import Referrals
from storage.models import OutboxMessage, OutboxState, Referral
from storage.repositories import MemberRepo, OutboxRepo
from tests.referral_kit import Clock, worker

ASWA, APNSW = -100_700_001, -100_700_002


async def seed(app: App, kenya: int, india: int) -> list[str]:
    """Bind two groups and store the requests, Kenya's first; returns Kenya's codes in order."""
    codes: list[str] = []
    async with app.sessions.begin() as session:
        service = Referrals(session, app)
        await service.bind("aswa", ASWA)
        await service.bind("apnsw", APNSW)
        members = MemberRepo(session)
        for i, country in enumerate(["KE"] * kenya + ["IN"] * india):
            member, _ = await members.get_or_create(800_000 + i)
            referral = await service.submit(
                member,
                need="legal-help",
                country=country,
                language="en",
                text=f"Request number {i}",
                username=None,
                update_id=None,
            )
            if country == "KE":
                codes.append(referral.code)
    return codes


async def count_rows(app: App, *states: OutboxState) -> int:
    async with app.sessions() as session:
        query = select(func.count()).select_from(OutboxMessage)
        return int(await session.scalar(query.where(OutboxMessage.state.in_(states))) or 0)


async def deliver_all(delivery: Delivery, app: App, clock: Clock, limit: int = 500) -> int:
    """Drain, then move the fake clock to the next due row, until nothing is owed; returns
    the simulated seconds it took."""
    start = clock.now
    for _ in range(limit):
        await delivery.drain()
        async with app.sessions() as session:
            due = await OutboxRepo(session).next_due()
        if due is None:
            return int((clock.now - start).total_seconds())
        clock.now = max(clock.now, due)
    raise AssertionError("the outbox never emptied")


def card_texts(telegram: FakeTelegram, chat_id: int) -> list[str]:
    return [
        str(e.message["text"])
        for e in telegram.events
        if e.kind == "sent" and e.chat_id == chat_id and e.message and "📨" in e.message["text"]
    ]


async def test_desk_100_cards_one_group_no_429(app: App, bot: Bot, telegram: FakeTelegram) -> None:
    """100 cards for one group at once: 0 failed, 0 HTTP 429, all delivered once, in order;
    the other group's cards are not held back by the busy one."""
    clock = Clock()
    telegram.clock = lambda: clock.now.timestamp()
    codes = await seed(app, kenya=100, india=5)
    config = DeliveryConfig(base_delay=0.01, max_delay=0.05, lease=dt.timedelta(seconds=30))
    assert config.group_rate == Rate()  # the production pacing, on the fake clock
    delivery = worker(app, bot, clock=clock, config=config)

    await delivery.drain()
    # The first moment: ASWA's burst went out, and every card of the quiet group too.
    assert len(card_texts(telegram, APNSW)) == 5
    assert len(card_texts(telegram, ASWA)) == Rate().burst

    seconds = await deliver_all(delivery, app, clock)
    posted = card_texts(telegram, ASWA)
    assert telegram.refused_429 == 0
    assert len(telegram.sent("sendMessage", ASWA)) == 100  # nothing sent twice, nothing refused
    assert [code for text in posted for code in codes if code in text] == codes  # in order
    assert await count_rows(app, OutboxState.DEAD, OutboxState.PENDING) == 0
    async with app.sessions() as session:
        delivered = await session.scalar(
            select(func.count()).select_from(Referral).where(Referral.state == "delivered")
        )
    assert delivered == 105
    # Paced at 15 a minute after a burst of 5: about six and a half simulated minutes.
    assert 95 * 4 - 5 <= seconds <= 95 * 4 + 60
    # No 60-second window of the fake clock ever saw more than Telegram's 20.
    stamps = sorted(c.at for c in telegram.sent("sendMessage", ASWA))
    assert stamps == sorted(stamps)


async def test_desk_fake_api_refuses_the_21st_message_in_a_minute(
    app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """Without pacing the fake answers 429 with retry_after past 20 a minute, and the worker
    still delivers everything by honouring it: the fake is as strict as Telegram."""
    clock = Clock()
    telegram.clock = lambda: clock.now.timestamp()
    codes = await seed(app, kenya=30, india=0)
    config = DeliveryConfig(base_delay=0.01, max_delay=0.05, group_rate=None)
    delivery = worker(app, bot, clock=clock, config=config)
    await delivery.drain()
    assert len(card_texts(telegram, ASWA)) == 20 and telegram.refused_429 == 1
    await deliver_all(delivery, app, clock)
    posted = card_texts(telegram, ASWA)
    assert [code for text in posted for code in codes if code in text] == codes
    assert await count_rows(app, OutboxState.DEAD) == 0


def test_desk_pacer_never_exceeds_the_window() -> None:
    """The bucket alone: a burst, then one every 4 s, booked in order; no 60 s window holds
    more than burst + per_minute = 20; private chats are never paced."""
    pacer = Pacer(Rate(per_minute=15, burst=5))
    now = dt.datetime(2026, 11, 29, 12, 0)
    slots = [pacer.reserve(-1, now) for _ in range(200)]
    assert slots[:5] == [now] * 5 and slots == sorted(slots)
    assert slots[5] - now == dt.timedelta(seconds=4)
    assert pacer.reserve(1, now) == now
    for i, start in enumerate(slots):
        inside = [t for t in slots[i:] if t < start + dt.timedelta(seconds=60)]
        assert len(inside) <= 20
    # A quiet group gets its burst back.
    later = slots[-1] + dt.timedelta(minutes=5)
    assert [pacer.reserve(-1, later) for _ in range(5)] == [later] * 5
