"""R11 as a Hypothesis state machine: requests, staff replies (sometimes delivered twice by
Telegram), lost responses, worker restarts. Every reply reaches its member; a second copy only
ever comes marked "(repeat)"."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramNetworkError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bot.app import create_app
from bot.devtools.localapi import FakeTelegram, LocalSession
from bot.dispatcher import build_dispatcher
from bot.referrals.outbox import Delivery
from bot.telegram.intake import Intake
from tests.conftest import TOKEN, make_settings
from tests.fakes import Chat, user
from tests.referral_kit import Clock, Group, submit, worker


class ReferralRelays(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.expected: list[tuple[Chat, str]] = []
        self.replies = 0
        self.lose_next = False
        self.loop = asyncio.new_event_loop()
        self.tmp = tempfile.TemporaryDirectory()
        self.run(self._setup())

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def _setup(self) -> None:
        self.app = await create_app(make_settings(Path(self.tmp.name)))
        self.telegram = FakeTelegram()
        self.telegram.faults.append(self._lose)
        self.bot = Bot(
            TOKEN,
            session=LocalSession(self.telegram),
            default=DefaultBotProperties(parse_mode=ParseMode.HTML),
        )
        self.dp = build_dispatcher(self.app)
        self.intake = Intake(self.app, self.bot, self.dp)
        self.group = Group(self.telegram, self.bot, self.dp, self.intake, title="ASWA")
        await self.group.bind("aswa")
        self.clock = Clock()
        self.delivery: Delivery = worker(self.app, self.bot, clock=self.clock)
        self.members: list[tuple[Chat, str]] = []

    async def _lose(self, method: str, params: dict[str, Any]) -> None:
        """The message arrives, the answer is lost: the bot cannot know it was sent (R6)."""
        relay = method == "sendMessage" and "Reply from" in str(params.get("text"))
        if self.lose_next and relay:
            self.lose_next = False
            await self.telegram.api_sendmessage(params)
            raise TelegramNetworkError(method=None, message="connection lost")  # type: ignore[arg-type]

    @rule()
    def refer(self) -> None:
        chat = Chat(self.telegram, self.bot, self.dp, self.intake, user("en"))
        code = self.run(submit(chat, f"Request {len(self.members)}"))
        self.run(self.delivery.drain())
        self.members.append((chat, code))

    @precondition(lambda self: self.members)
    @rule(data=st.data(), copies=st.integers(min_value=1, max_value=3), lost=st.booleans())
    def staff_reply(self, data: st.DataObject, copies: int, lost: bool) -> None:
        """`lost`: the relay's first send arrives but its answer is lost."""
        chat, code = data.draw(st.sampled_from(self.members))
        self.lose_next = self.lose_next or lost
        card = self.group.card(code)
        self.replies += 1
        text = f"Staff reply {self.replies} for {code}"
        raw = self.telegram.user_message(
            self.group.person, text, chat_id=self.group.chat_id, reply_to=card["message_id"]
        )
        for _ in range(copies):  # Telegram may deliver an update more than once
            self.run(self.group.feed(raw))
        self.expected.append((chat, text))

    @rule()
    def restart_worker(self) -> None:
        """A new process: a fresh worker takes back every lease left behind."""
        self.delivery = worker(self.app, self.bot, clock=self.clock)
        self.run(self.delivery.recover())

    @rule()
    def deliver(self) -> None:
        for _ in range(2):
            self.run(self.delivery.drain())
            self.clock.advance(seconds=1)  # past any backoff

    @invariant()
    def never_two_unflagged_copies(self) -> None:
        for chat, text in self.expected:
            copies = [t for t in self.texts(chat) if text in t]
            assert len([c for c in copies if "(repeat)" not in c]) <= 1, text

    def texts(self, chat: Chat) -> list[str]:
        return [
            e.message["text"]
            for e in self.telegram.events
            if e.kind == "sent" and e.chat_id == chat.chat_id and e.message
        ]

    def teardown(self) -> None:
        try:
            self.lose_next = False
            self.run(self.delivery.recover())
            for _ in range(3):  # retries of lost responses come after a short backoff
                self.clock.advance(seconds=1)
                self.run(self.delivery.drain())
            for chat, text in self.expected:
                assert any(text in t for t in self.texts(chat)), text
        finally:
            self.run(self.bot.session.close())
            self.run(self.app.close())
            self.loop.close()
            self.tmp.cleanup()


ReferralRelays.TestCase.settings = settings(
    max_examples=10,
    stateful_step_count=10,
    deadline=None,
    # The same examples on every run: CI stays reproducible and never spends minutes shrinking.
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TestReferralRelays = ReferralRelays.TestCase
