"""Intake under faults (review findings H2, M6, M1, M2, M4, L3, L8): nothing lost or stuck."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bot.app import App
from bot.devtools.localapi import FakeTelegram, Params, Reply, error
from bot.dispatcher import build_dispatcher
from bot.telegram.intake import Intake
from bot.telegram.webhook import PATH, SECRET_HEADER, WebhookServer
from storage.models import InboxUpdate, OutboxMessage, Relay, utcnow
from tests.conftest import ADMIN_ID
from tests.fakes import Chat, user
from tests.referral_kit import Group, submit, worker

SECRET = "s3cret_Token-1"


class Clock:
    """Wall time plus an offset a test can move forward, for the intake's retry times."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return utcnow() + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += dt.timedelta(**delta)


class Outage:
    """sendMessage to some chats fails with `reply` while `on` is set; every call is counted."""

    def __init__(self, reply: Reply, chats: set[int] | None = None) -> None:
        self.reply, self.chats, self.on, self.calls = reply, chats, True, 0

    def __call__(self, method: str, params: Params) -> Reply | None:
        if method != "sendMessage":
            return None
        if self.chats is not None and int(params["chat_id"]) not in self.chats:
            return None
        self.calls += 1
        return self.reply if self.on else None


async def pending_count(app: App) -> int:
    async with app.sessions() as session:
        query = select(func.count()).select_from(InboxUpdate)
        return int(await session.scalar(query.where(InboxUpdate.handled_at.is_(None))) or 0)


def answers(telegram: FakeTelegram, chat_id: int) -> list[str]:
    return [
        str(e.message["text"])
        for e in telegram.events
        if e.kind == "sent" and e.chat_id == chat_id and e.message is not None
    ]


@pytest.fixture
def group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake) -> Group:
    return Group(telegram, bot, dp, intake, title="ASWA staff")


async def test_h2_blip_keeps_the_relay_and_the_update(
    chat: Chat, group: Group, app: App, bot: Bot, telegram: FakeTelegram, intake: Intake
) -> None:
    """A 502 blip while a member's answer is handled: the relay is kept, the update is retried
    after the blip (not spent in milliseconds), and the group gets the answer once."""
    clock = Clock()
    intake.clock = clock  # type: ignore[method-assign]
    await group.bind("aswa")
    delivery = worker(app, bot)
    code = await submit(chat, "Where can I get PrEP?", need="HIV")
    await delivery.drain()
    await group.say("Try the clinic on Main Street.", reply_to=group.card(code)["message_id"])
    await delivery.drain()
    relayed = chat.last_bot_message()
    blip = Outage(error(502, "Bad Gateway"), {chat.chat_id})
    telegram.faults.append(blip)
    await chat.say("BLIP-ANSWER Nairobi", reply_to=relayed["message_id"])
    # The member's words are on their way to the group although the confirmation failed.
    async with app.sessions() as session:
        relays = (await session.scalars(select(Relay).where(Relay.direction == "to_group"))).all()
    assert len(relays) == 1
    assert blip.calls <= 2, "retried in a tight loop instead of after a delay"
    assert await pending_count(app) == 1
    blip.on = False
    clock.advance(seconds=5)
    await intake.drain()
    await delivery.drain()
    assert await pending_count(app) == 0
    (answer,) = [m for m in group.bot_messages() if "BLIP-ANSWER Nairobi" in m["text"]]
    assert answer["reply_to_message"]["message_id"] == group.card(code)["message_id"]


async def test_h2_outage_of_several_minutes_is_waited_out(
    chat: Chat, app: App, telegram: FakeTelegram, intake: Intake
) -> None:
    """Telegram answers 502 for ten minutes: the update waits with growing pauses, then is
    answered; it is never given up after a handful of quick tries."""
    clock = Clock()
    intake.clock = clock  # type: ignore[method-assign]
    outage = Outage(error(502, "Bad Gateway"), {chat.chat_id})
    telegram.faults.append(outage)
    await chat.say("/menu")
    for _ in range(20):  # ten minutes in 30 s steps
        clock.advance(seconds=30)
        await intake.drain()
    assert await pending_count(app) == 1
    assert 3 <= outage.calls <= 20
    outage.on = False
    clock.advance(seconds=120)
    await intake.drain()
    assert len(answers(telegram, chat.chat_id)) == 1
    assert await pending_count(app) == 0


async def test_m6_429_is_honoured_for_that_chat_only(
    new_chat: Any, app: App, telegram: FakeTelegram, intake: Intake
) -> None:
    """429 retry_after=30 for one member: one attempt, then nothing until 30 s have passed;
    another member is answered at once."""
    clock = Clock()
    intake.clock = clock  # type: ignore[method-assign]
    slowed, other = new_chat("en"), new_chat("en")
    limit = Outage(
        error(429, "Too Many Requests: retry after 30", retry_after=30), {slowed.chat_id}
    )
    telegram.faults.append(limit)
    await slowed.say("/menu")
    assert limit.calls == 1
    assert await other.say("/menu")
    clock.advance(seconds=10)
    await intake.drain()
    assert limit.calls == 1, "sent again before retry_after"
    limit.on = False
    clock.advance(seconds=25)
    await intake.drain()
    assert limit.calls == 2
    assert len(answers(telegram, slowed.chat_id)) == 1


async def test_m1_poison_update_does_not_stop_polling(
    app: App, bot: Bot, dp: Dispatcher, telegram: FakeTelegram
) -> None:
    """An update that cannot be re-serialised (a lone surrogate) is stored as received or set
    aside; polling goes on and the next member is answered."""
    poison = telegram.user_message(user("en"), "\ud800 hello")
    member = user("en")
    await telegram.updates.put(poison)
    await telegram.updates.put(telegram.user_message(member, "/start"))
    intake = Intake(app, bot, dp)
    stop = asyncio.Event()
    poller = asyncio.create_task(intake.poll(stop, long_poll=0))
    try:
        for _ in range(600):  # generous: the suite runs on busy machines
            if answers(telegram, member["id"]) or poller.done():
                break
            await asyncio.sleep(0.05)
        assert not poller.done(), poller.exception()
        assert answers(telegram, member["id"])
    finally:
        stop.set()
        await asyncio.wait_for(poller, 30)
    assert telegram.confirmed_offset > poison["update_id"]


@pytest.fixture
async def client(app: App, bot: Bot, dp: Dispatcher) -> Any:
    server = WebhookServer(app, bot, dp, Intake(app, bot, dp))
    server.secret = SECRET.encode()
    async with TestClient(TestServer(server.web_app())) as c:
        c.server.webhook = server  # type: ignore[attr-defined]
        yield c


async def test_m1_unstorable_webhook_update_is_quarantined_and_admins_told_once(
    client: Any, app: App, telegram: FakeTelegram
) -> None:
    """An update_id past 2^63 cannot be stored: 200 (Telegram must not retry it for ever), the
    raw body is set aside, and admins are told once, without its content."""
    headers = {SECRET_HEADER: SECRET}
    for n in range(2):
        raw = telegram.user_message(user("en"), f"SECRET-WORDS {n}")
        raw["update_id"] = 2**70 + n
        resp = await client.post(PATH, json=raw, headers=headers)
        assert resp.status == 200
    async with app.sessions() as session:
        alerts = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "alert"))
        ).all()
    assert [a.chat_id for a in alerts] == [ADMIN_ID]
    assert "SECRET-WORDS" not in (alerts[0].params or "")
    # The next update is not blocked.
    member = user("en")
    resp = await client.post(PATH, json=telegram.user_message(member, "/menu"), headers=headers)
    assert resp.status == 200


async def test_m2_database_error_pauses_polling_instead_of_exiting(
    app: App, bot: Bot, dp: Dispatcher, telegram: FakeTelegram, tmp_path: Any
) -> None:
    """With the inbox unreachable, polling waits (the offset does not move); once the database
    is back the update is handled."""
    member = user("en")
    await telegram.updates.put(telegram.user_message(member, "/help"))
    healthy = app.sessions
    (tmp_path / "no").write_text("not a folder")
    broken = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/no/x.sqlite3")
    app.sessions = async_sessionmaker(broken)
    intake = Intake(app, bot, dp)
    stop = asyncio.Event()
    poller = asyncio.create_task(intake.poll(stop, long_poll=0))
    try:
        await asyncio.sleep(1.0)
        assert not poller.done(), poller.exception()
        assert telegram.confirmed_offset == 0
        app.sessions = healthy
        for _ in range(600):
            if answers(telegram, member["id"]):
                break
            await asyncio.sleep(0.05)
        assert answers(telegram, member["id"])
    finally:
        stop.set()
        await asyncio.wait_for(poller, 30)
        await broken.dispose()


async def test_m4_claim_is_renewed_while_a_handler_waits_on_telegram(
    app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """Two instances share the inbox with a 1 s claim; one answer takes 3 s. The other instance
    must not handle the same update again, and the member's next update comes after it."""
    servers = []
    for _ in range(2):
        dp = build_dispatcher(app)
        intake = Intake(app, bot, dp)
        intake.config = intake.config.with_claim(seconds=1.0)  # type: ignore[attr-defined]
        servers.append(WebhookServer(app, bot, dp, intake))
    member = user("en")
    slow = asyncio.Event()

    async def three_seconds(method: str, params: Params) -> Reply | None:
        if method == "sendMessage" and not slow.is_set():
            slow.set()
            await asyncio.sleep(3)
        return None

    telegram.faults.append(three_seconds)
    await servers[0].intake.store_updates([telegram.user_message(member, "/menu")])
    await servers[0].intake.store_updates([telegram.user_message(member, "/help")])
    stop = asyncio.Event()
    drainers = [asyncio.create_task(s.drain_forever(stop)) for s in servers]
    try:
        for _ in range(200):
            if len(answers(telegram, member["id"])) >= 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.5)
    finally:
        stop.set()
        await asyncio.gather(*drainers)
    texts = answers(telegram, member["id"])
    assert len(texts) == 2, texts
    assert "How to use" not in texts[0] and "How to use" in texts[1]


async def test_l3_concurrent_duplicate_posts_all_get_200(
    client: Any, app: App, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    """The same update POSTed 30 times at once, for five updates: every answer 200, one inbox
    row each, no ERROR logged. (Ten posts of one update, as first written, passed on the code
    before the fix two runs in three: the race needs more tries to show every time.)"""
    headers = {SECRET_HEADER: SECRET}
    statuses: list[int] = []
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            raw = telegram.user_message(user("en"), "/menu")
            replies = await asyncio.gather(
                *(client.post(PATH, json=raw, headers=headers) for _ in range(30))
            )
            statuses += [r.status for r in replies]
    assert statuses == [200] * 150
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(InboxUpdate)) == 5
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_l8_memory_fsm_state_and_locks_expire(new_chat: Any, dp: Dispatcher) -> None:
    """Without Redis, per-member locks are freed after each update and FSM state expires."""
    chats = [new_chat("en") for _ in range(30)]
    for chat in chats:
        await chat.say("/ask")
        await chat.tap("Legal help")  # a conversation under way: state and data are kept
    isolation: Any = dp.fsm.events_isolation
    storage: Any = dp.fsm.storage
    assert len(isolation._locks) == 0
    assert len(storage.storage) > 0
    storage.clock = lambda: 10**12  # far past every entry's time to live
    await chats[0].say("/menu")
    assert len(storage.storage) <= 1
