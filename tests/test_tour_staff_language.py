"""Tour finding 24: staff cards in the group's language (`/bind <network> <lang>`, `/language`).

Through the production dispatcher, the delivery worker and the fake Bot API.
"""

from __future__ import annotations

import pytest
from aiogram import Bot, Dispatcher

from bot.app import App
from bot.devtools.localapi import FakeTelegram
from bot.telegram.intake import Intake
from tests.fakes import Chat
from tests.referral_kit import Group, submit, worker


@pytest.fixture
def group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake) -> Group:
    return Group(telegram, bot, dp, intake, title="PLAPERTS staff")


async def test_tour_24_bind_with_a_language_sends_cards_in_it(
    chat: Chat, group: Group, app: App, bot: Bot
) -> None:
    """PLAPERTS bound with `es`: a Mexican request's card, its buttons and the claim answer are
    in Spanish, and the card says the member's language."""
    await group.say("/bind plaperts es", user=group.admin)
    delivery = worker(app, bot)
    code = await submit(chat, "Necesito ayuda.", country="Mexico")
    await delivery.drain()
    card = group.card(code)
    assert "País: México" in card["text"], card["text"]
    assert "Idioma:" in card["text"] and "inglés" in card["text"], card["text"]
    assert "Need:" not in card["text"] and "Country:" not in card["text"]
    labels = [b["text"] for b in group.telegram.buttons(group.chat_id, card["message_id"])]
    assert any("Tomar" in label for label in labels), labels


async def test_tour_24_language_in_the_group_switches_cards(
    chat: Chat, group: Group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """`/language fr` by an admin in a bound group: later cards in French; others may not."""
    await group.bind("aswa")
    await group.say("/language fr")  # not an admin: refused, nothing changes
    assert "Only the bot's admins can do this." in group.bot_messages()[-1]["text"]
    await group.say("/language fr", user=group.admin)
    assert "Français" in group.bot_messages()[-1]["text"]
    delivery = worker(app, bot)
    code = await submit(chat, "I need a lawyer.")
    await delivery.drain()
    card = group.card(code)
    assert "Pays\u00a0: Kenya" in card["text"], card["text"]
    assert "Langue\u00a0:" in card["text"], card["text"]
