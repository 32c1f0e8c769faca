"""Delivery over real HTTP while the Bot API misbehaves, and across a kill -9 of the process."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from sqlalchemy import func, select

from bot.app import App
from bot.devtools.localapi import FakeTelegram
from bot.referrals.outbox import DeliveryConfig
from bot.referrals.pacing import Rate
from bot.referrals.service import Referrals
from storage.models import OutboxMessage, Referral
from storage.repositories import MemberRepo
from tests.conftest import ADMIN_ID, TOKEN
from tests.fake_api import FakeBotAPI
from tests.fakes import user
from tests.faults import DROP_AFTER, Faults, FaultyBotAPI
from tests.process import PROCESS_TIMEOUT, start_bot, stop, wait_for
from tests.referral_kit import CODE_RE, worker

GROUPS = {"aswa": -1001, "apnsw": -1002, "eswa": -1003, "global": -1009}
# Country -> the group its card must end in: ESWA's group has kicked the bot (403).
ROUTES = {"KE": "aswa", "IN": "apnsw", "FR": "global", "US": "global"}


@pytest.fixture
async def http_bot(fake_api_url: str) -> AsyncIterator[Bot]:
    b = Bot(
        TOKEN,
        session=AiohttpSession(api=TelegramAPIServer.from_base(fake_api_url)),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
    yield b
    await b.session.close()


@pytest.fixture
def faults() -> Faults:
    return Faults(
        seed=5,
        p429=0.03,
        p500=0.05,
        p_drop_before=0.03,
        p_drop_after=0.03,
        retry_after=1,
        max_429=3,
        forbidden={GROUPS["eswa"]},
        only=set(GROUPS.values()),
    )


@pytest.fixture
async def faulty_api(faults: Faults) -> AsyncIterator[FaultyBotAPI]:
    server = FaultyBotAPI(faults, token=TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def fake_api_url(faulty_api: FaultyBotAPI) -> str:
    return faulty_api.url


async def seed(app: App, count: int) -> dict[str, str]:
    """Bind the groups and store `count` referrals; returns code -> expected network."""
    expected: dict[str, str] = {}
    countries = itertools.cycle(ROUTES)
    async with app.sessions.begin() as session:
        service = Referrals(session, app)
        for network_id, chat_id in GROUPS.items():
            await service.bind(network_id, chat_id)
        members = MemberRepo(session)
        for i in range(count):
            member, _ = await members.get_or_create(700_000 + i)
            country = next(countries)
            referral = await service.submit(
                member,
                need="legal-help",
                country=country,
                language="en",
                text=f"Request number {i}",
                username=None,
                update_id=None,
            )
            expected[referral.code] = ROUTES[country]
    return expected


async def pending(app: App) -> int:
    async with app.sessions() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.state.in_(("pending", "waiting")))
            )
            or 0
        )


async def test_batch_of_200_arrives_despite_429_500_drops_and_403(
    app: App, http_bot: Bot, faulty_api: FaultyBotAPI, faults: Faults
) -> None:
    """Every card reaches its group once (a lost response may add one copy, marked "(repeat)");
    the 403 group's cards go to the fallback; a 429 holds its chat back for retry_after
    (R5-R9)."""
    expected = await seed(app, 200)
    # Telegram's group limit and the worker's pacing, both scaled 100 times faster (R20).
    faulty_api.telegram.group_window = 0.6
    config = DeliveryConfig(
        base_delay=0.05,
        max_delay=0.4,
        max_failures=30,
        request_timeout=5,
        group_rate=Rate(window=0.6),
    )
    delivery = worker(app, http_bot, config=config)
    stop_ = asyncio.Event()
    task = asyncio.create_task(delivery.run(stop_))
    try:
        deadline = asyncio.get_running_loop().time() + 60  # generous: CI machines are slow
        while await pending(app):
            assert asyncio.get_running_loop().time() < deadline, "cards still pending"
            await asyncio.sleep(0.1)
    finally:
        stop_.set()
        await asyncio.wait_for(task, timeout=10)

    tg = faulty_api.telegram
    for code, network in expected.items():
        posts = [
            e.message["text"]
            for e in tg.events
            if e.kind == "sent"
            and e.message
            and code in e.message["text"]
            and "📨" in e.message["text"]
        ]
        chats = {e.chat_id for e in tg.events if e.message and code in e.message["text"]}
        assert chats == {GROUPS[network]}, code
        originals = [p for p in posts if "(repeat)" not in p]
        assert len(originals) <= 1 and posts, (code, posts)
    assert all(f > 0 for f in (faults.counts["429"], faults.counts["500"], faults.counts["403"]))
    assert faults.counts["drop-before"] and faults.counts[DROP_AFTER]
    duplicates = sum(
        1
        for code in expected
        if sum(1 for e in tg.events if e.message and code in e.message["text"]) > 1
    )
    assert duplicates <= faults.counts[DROP_AFTER]
    async with app.sessions() as session:
        dead = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == "dead")
        )
        delivered = await session.scalar(
            select(func.count()).select_from(Referral).where(Referral.state == "delivered")
        )
    assert dead == 0 and delivered == 200
    assert any(
        "cannot post" in (e.message or {}).get("text", "")
        for e in tg.events
        if e.chat_id == ADMIN_ID
    )
    # R7: after a 429 (retry_after=1) that chat hears nothing for a second. (That other chats
    # go on meanwhile is shown with a fake clock in test_delivery.py.)
    for i, (chat, fault, at) in enumerate(faults.log):
        if fault == "429":
            same = [t for c, _f, t in faults.log[i + 1 :] if c == chat]
            assert not same or same[0] >= at + 0.95


async def test_lost_response_gives_one_flagged_repeat(
    app: App, http_bot: Bot, faulty_api: FaultyBotAPI, faults: Faults
) -> None:
    """The card arrives but the answer is lost: sent again, marked "(repeat)", once (R6)."""
    faults.p429 = faults.p500 = faults.p_drop_before = 0.0
    faults.p_drop_after = 1.0
    expected = await seed(app, 1)
    (code,) = expected
    delivery = worker(app, http_bot)
    await delivery.run_once()
    faults.p_drop_after = 0.0
    await asyncio.sleep(0.05)
    await delivery.drain()
    posts = [
        e.message["text"]
        for e in faulty_api.telegram.events
        if e.kind == "sent" and e.message and code in e.message["text"]
    ]
    assert len(posts) == 2
    assert "(repeat)" not in posts[0] and "(repeat)" in posts[1]


# -- kill -9 of the real process -----------------------------------------------------------------


class Member:
    """A member driving the real bot process through FakeTG's update queue."""

    def __init__(self, tg: FakeTelegram) -> None:
        self.tg = tg
        self.person = user("en")
        self.chat_id = int(self.person["id"])

    def seen(self) -> int:
        return sum(1 for e in self.tg.events if e.chat_id == self.chat_id)

    async def act(self, raw: dict[str, Any]) -> None:
        before = self.seen()
        await self.tg.updates.put(raw)
        await wait_for(lambda: self.seen() > before)
        await asyncio.sleep(0.2)

    async def say(self, text: str) -> None:
        await self.act(self.tg.user_message(self.person, text))

    async def tap(self, label: str) -> None:
        ids = sorted(mid for (cid, mid) in self.tg.messages if cid == self.chat_id)
        for mid in reversed(ids):
            for button in self.tg.buttons(self.chat_id, mid):
                if label in button["text"] and "callback_data" in button:
                    await self.act(
                        self.tg.user_tap(self.person, self.chat_id, mid, button["callback_data"])
                    )
                    return
        raise AssertionError(f"no button {label!r}")

    def texts(self) -> str:
        return " ".join(
            e.message.get("text", "")
            for e in self.tg.events
            if e.chat_id == self.chat_id and e.message
        )


@pytest.mark.process
async def test_kill_9_between_commit_and_delivery(fake_api: FakeBotAPI, tmp_path: Path) -> None:
    """The card's send hangs, the process is killed: after a restart the card arrives (R4, R6)."""
    tg = fake_api.telegram
    group_id = -100_777
    tg.chat(group_id, "supergroup", title="ASWA staff")
    admin = {"id": ADMIN_ID, "is_bot": False, "first_name": "Ada", "language_code": "en"}
    original = tg.api_sendmessage
    gate, release = asyncio.Event(), asyncio.Event()

    async def hang_cards(params: dict[str, Any]) -> Any:
        if int(params["chat_id"]) == group_id and "📨" in str(params.get("text")):
            gate.set()
            await release.wait()
            return True
        return await original(params)

    tg.api_sendmessage = hang_cards  # type: ignore[method-assign]
    env = {"ADMIN_IDS": str(ADMIN_ID)}
    proc = await start_bot(fake_api, tmp_path, **env)
    try:
        await tg.updates.put(tg.user_message(admin, "/bind aswa", chat_id=group_id))
        await wait_for(lambda: any(e.chat_id == group_id for e in tg.events))
        member = Member(tg)
        await member.say("/ask")
        await member.tap("Legal help")
        await member.say("Kenya")
        if "remember" in member.texts():
            await member.tap("No, just this time")
        await member.say("Please help, I was robbed.")
        await member.tap("Send to the network")
        await asyncio.wait_for(gate.wait(), timeout=PROCESS_TIMEOUT)
        found = CODE_RE.search(member.texts())
        assert found, member.texts()
        code = found.group(0)
    finally:
        proc.kill()
        await proc.wait()
    release.set()
    tg.api_sendmessage = original  # type: ignore[method-assign]
    proc = await start_bot(fake_api, tmp_path, **env)
    try:
        await wait_for(
            lambda: any(
                e.chat_id == group_id and e.message and code in e.message.get("text", "")
                for e in tg.events
            )
        )
    finally:
        returncode, err = await stop(proc)
    assert returncode == 0, err
    cards = [
        e.message["text"]
        for e in tg.events
        if e.chat_id == group_id and e.message and code in e.message.get("text", "")
    ]
    assert len(cards) == 1 and "(repeat)" in cards[0]
    assert "Please help, I was robbed." in cards[0]
    assert not re.search(r"robbed", err)
