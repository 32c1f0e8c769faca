"""Bad-date reports (issue 16, items 1 and 2), end to end: the member's form, the card in the
network's group, Approve / Edit / Reject, deletion, /forget and retention."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy import select

from bot.app import App
from bot.baddates.service import ALERT_TEXT_LIMIT, AREA_LIMIT, DESCRIPTION_LIMIT
from bot.devtools.localapi import FakeTelegram
from bot.safety.retention import purge
from bot.telegram.html import TEXT_LIMIT, parse_html, utf16_len
from bot.telegram.intake import Intake
from storage.models import BadDateReport, BadDateState, utcnow
from tests.fakes import Chat
from tests.referral_kit import Group, worker

REPORT_RE = re.compile(r"B-[0-9A-Z]{5}")
DESCRIPTION = "Tall man, grey Toyota, calls from +254 700 000 000, says his name is Tom."


@pytest.fixture
def group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake) -> Group:
    return Group(telegram, bot, dp, intake, title="ASWA staff")


async def open_form(chat: Chat) -> list[str]:
    await chat.say("/menu")
    return await chat.tap("Report a bad date")


async def fill(
    chat: Chat,
    country: str = "Kenya",
    area: str = "Westlands, Nairobi",
    harms: tuple[str, ...] = ("Violence", "Robbery"),
    description: str = DESCRIPTION,
    support: bool = False,
) -> list[str]:
    """Go through the form up to the preview; returns what the member saw last."""
    await open_form(chat)
    replies = await chat.say(country)
    assert any("In which town" in r for r in replies), replies
    replies = await chat.say(area)
    assert any("When did it happen" in r for r in replies), replies
    await chat.tap("Yesterday")
    for harm in harms:
        await chat.tap(harm)
    replies = await chat.tap("Next")
    assert any("Describe the person" in r for r in replies), replies
    await chat.say(description)
    return await chat.tap("Yes, please" if support else "No, thank you")


async def report(chat: Chat, **kwargs: object) -> str:
    """Fill the form and send it; returns the report number."""
    replies = await fill(chat, **kwargs)  # type: ignore[arg-type]
    assert any("Check your report" in r for r in replies), replies
    replies = await chat.tap("Send the report")
    found = REPORT_RE.search(" ".join(replies))
    assert found, replies
    return found.group(0)


def report_card(group: Group, code: str) -> dict[str, object]:
    cards = [m for m in group.bot_messages() if m.get("text", "").startswith(f"📝 Report {code}")]
    assert len(cards) == 1, [m.get("text") for m in group.bot_messages()]
    return cards[0]


async def stored(app: App, code: str) -> BadDateReport:
    async with app.sessions() as session:
        found = await session.scalar(select(BadDateReport).where(BadDateReport.code == code))
    assert found is not None
    return found


async def test_report_reaches_the_group_as_a_card_with_approve_edit_reject(
    chat: Chat, group: Group, app: App, bot: Bot
) -> None:
    """Menu → form → exact preview → send: the card in the network's group shows the report,
    a member code, the alert draft, and Approve, Edit and Reject."""
    await group.bind("aswa")
    replies = await fill(chat)
    preview = replies[-1]
    assert "It goes to: African Sex Workers Alliance" in preview
    assert "Westlands, Nairobi" in preview and DESCRIPTION in preview
    replies = await chat.tap("Send the report")
    code = REPORT_RE.search(" ".join(replies))
    assert code, replies
    await worker(app, bot).drain()
    card = report_card(group, code.group(0))
    text = str(card["text"])
    assert "Kenya" in text and "Westlands, Nairobi" in text
    assert "Violence, Robbery" in text and DESCRIPTION in text
    assert re.search(r"From: Member [0-9A-Z]{6}", text)
    labels = [b["text"] for b in group.telegram.buttons(group.chat_id, int(card["message_id"]))]
    assert labels == ["✅ Approve", "✏️ Edit", "✖️ Reject"]
    # The preview showed exactly the report lines the card shows.
    for line in preview.split("\n")[4:-2]:
        assert line in text, line
    row = await stored(app, code.group(0))
    assert row.state == BadDateState.DELIVERED
    assert b"Westlands" not in (row.body or b"") and b"Toyota" not in (row.body or b"")
