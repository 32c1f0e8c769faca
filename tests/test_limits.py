"""Limits in Telegram's own units (L5): UTF-16 code units, as Telegram counts message length."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from babel.numbers import format_decimal
from sqlalchemy import select

from bot.app import App
from bot.devtools.localapi import FakeTelegram, Params, Reply, error
from bot.telegram.intake import Intake
from storage.models import OutboxKind, OutboxMessage, OutboxState, Referral
from tests.fakes import Chat
from tests.referral_kit import Group, submit, worker

EMOJI = "😀"  # one code point, two UTF-16 code units


@pytest.fixture
def group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake) -> Group:
    return Group(telegram, bot, dp, intake, title="ASWA staff")


async def ask_until_writing(chat: Chat) -> None:
    await chat.say("/ask")
    await chat.tap("Legal help")
    replies = await chat.say("Kenya")
    if any("remember" in r for r in replies):
        await chat.tap("No, just this time")


@pytest.mark.parametrize("count", [2100, 2000])
async def test_l5_emoji_request_is_refused_clearly_not_an_error(
    chat: Chat, app: App, count: int
) -> None:
    """L5: 2,000 or 2,100 emoji are 4,000 or 4,200 UTF-16 units: a clear refusal with that
    count, never "something went wrong", and a shorter text then reaches the preview."""
    await ask_until_writing(chat)
    replies = await chat.say(EMOJI * count)
    assert any(f"{2 * count:,} characters" in r and "2,000" in r for r in replies), replies
    assert not any("went wrong" in r for r in replies), replies
    replies = await chat.say(EMOJI * 900)
    assert any("Check your request" in r for r in replies), replies
    assert not any("went wrong" in r for r in replies), replies
    async with app.sessions() as session:
        assert await session.scalar(select(Referral)) is None


@pytest.mark.parametrize("count", [2100, 1800])
async def test_l5_emoji_staff_reply_over_the_limit_is_refused_in_the_group(
    chat: Chat, group: Group, app: App, bot: Bot, telegram: FakeTelegram, count: int
) -> None:
    """L5: a staff reply of 1,800 or 2,100 emoji (3,600 or 4,200 units, over 3,500) is refused
    in the group with its count; nothing is queued and no 👍 is given."""
    await group.bind("aswa")
    delivery = worker(app, bot)
    code = await submit(chat, "Where is a lawyer?")
    await delivery.drain()
    card = group.card(code)
    await group.say(EMOJI * count, reply_to=card["message_id"])
    await delivery.drain()
    refusal = [m["text"] for m in group.bot_messages() if "split it" in m["text"]]
    shown = format_decimal(2 * count, locale="en")  # 4,200: through Babel (issue 14 item 7)
    assert refusal and f"{shown} characters" in refusal[0], group.bot_messages()
    assert not telegram.sent("setMessageReaction")
    assert not any(EMOJI * 10 in t for t in chat.new_texts())
    async with app.sessions() as session:
        kinds = (await session.scalars(select(OutboxMessage.kind))).all()
    assert OutboxKind.RELAY not in kinds


async def test_l5_relay_that_dies_is_reported_to_the_group(
    chat: Chat, group: Group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """L5: when Telegram refuses a relayed staff reply for good ("message is too long"), the
    row is dead and the group is told, as a reply to the card."""
    await group.bind("aswa")
    delivery = worker(app, bot)
    code = await submit(chat, "Where is a lawyer?")
    await delivery.drain()
    card = group.card(code)

    def too_long(method: str, params: Params) -> Reply | None:
        if method == "sendMessage" and int(params.get("chat_id") or 0) == chat.chat_id:
            return error(400, "Bad Request: message is too long")
        return None

    telegram.faults.append(too_long)
    await group.say("A reply the member will never get.", reply_to=card["message_id"])
    await delivery.drain()
    async with app.sessions() as session:
        relay = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.RELAY)
        )
        assert relay is not None and relay.state == OutboxState.DEAD
    notices: list[dict[str, Any]] = [
        m for m in group.bot_messages() if "could not be delivered" in m["text"]
    ]
    assert len(notices) == 1 and code in notices[0]["text"]
    assert notices[0]["reply_to_message"]["message_id"] == card["message_id"]
    await delivery.drain()  # told once
    assert len([m for m in group.bot_messages() if "could not be delivered" in m["text"]]) == 1


async def test_blocked_member_is_not_reported_as_a_refused_reply(
    chat: Chat, group: Group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """A member who blocked the bot (403) is not a refused text: the group gets no notice."""
    await group.bind("aswa")
    delivery = worker(app, bot)
    code = await submit(chat, "Where is a lawyer?")
    await delivery.drain()
    card = group.card(code)

    def blocked(method: str, params: Params) -> Reply | None:
        if method == "sendMessage" and int(params.get("chat_id") or 0) == chat.chat_id:
            return error(403, "Forbidden: bot was blocked by the user")
        return None

    telegram.faults.append(blocked)
    await group.say("Hello?", reply_to=card["message_id"])
    await delivery.drain()
    assert not [m for m in group.bot_messages() if "could not be delivered" in m["text"]]
