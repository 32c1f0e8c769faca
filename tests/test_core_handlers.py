"""The core conversation: welcome, menu, help, language, privacy, and whatever else arrives."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from bot.app import App
from bot.devtools.localapi import FakeTelegram
from bot.i18n import language_name
from storage.models import Member
from tests.fakes import Chat

MENU = ["Guides", "Services", "Ask a network", "Language", "Privacy"]


async def test_start_shows_welcome_and_main_menu(chat: Chat) -> None:
    """/start greets with the organisation's name and offers the five sections."""
    replies = await chat.say("/start")
    assert len(replies) == 1
    assert "Community Guide Bot" in replies[0]
    assert "real name" in replies[0]
    labels = chat.buttons()
    for section in MENU:
        assert any(section in label for label in labels), section


@pytest.mark.settings(org_name="Health & Rights <Info>")
async def test_org_name_comes_from_settings(chat: Chat) -> None:
    """A deployment under a neutral name never shows the default name, and it is escaped."""
    (reply,) = await chat.say("/start")
    assert "Health & Rights <Info>" in reply
    assert "Community Guide Bot" not in reply


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("fr", "fr"),
        ("fr-CA", "fr"),
        ("zh-hans", "zh"),
        ("ru", "ru"),
        ("pt-br", "en"),
        (None, "en"),
    ],
)
async def test_language_follows_telegram_code(new_chat, code: str | None, expected: str) -> None:  # type: ignore[no-untyped-def]
    """Regional variants map to their language; unsupported ones fall back to English."""
    from aiogram.utils.i18n import I18n

    from bot.config import PROJECT_ROOT

    chat = new_chat(code)
    (reply,) = await chat.say("/menu")
    i18n = I18n(path=PROJECT_ROOT / "locales")
    assert reply == i18n.gettext("What would you like to do?", locale=expected)


async def test_choosing_russian_turns_the_menu_russian(chat: Chat, app: App) -> None:
    """/language lists languages in their own names and the choice sticks."""
    await chat.say("/language")
    labels = chat.buttons()
    for code in ("en", "fr", "es", "ru", "zh", "ar"):
        assert any(language_name(code) in label for label in labels)
    replies = await chat.tap("Русский")
    assert "Русский" in replies[0]
    assert "Что вы хотите сделать?" in replies[0]
    (menu,) = await chat.say("/menu")
    assert menu == "Что вы хотите сделать?"
    async with app.sessions() as session:
        member = await session.scalar(select(Member))
    assert member is not None and member.language == "ru"


async def test_forged_language_code_is_refused(chat: Chat) -> None:
    """A callback naming an unsupported language changes nothing."""
    await chat.say("/language")
    replies = await chat.tap_data("lang:xx")
    assert replies == ["This language is not available."]


@pytest.mark.parametrize(
    "data", ["", "garbage", "m", "gp:../../etc", "x" * 64, "lang:" + "é" * 20, "m:guides:extra"]
)
async def test_unknown_callback_data_leads_back_to_menu(chat: Chat, data: str) -> None:
    """Stale or forged buttons get a kind message and the menu, never an error."""
    await chat.say("/start")
    replies = await chat.tap_data(data or " ")
    assert replies, data
    assert not any("went wrong" in r for r in replies)


@pytest.mark.parametrize(
    "text",
    ["/doesnotexist", "hello there", "x" * 4096, "<b>not html</b> & stuff", "🙂" * 100],
)
async def test_anything_unexpected_gets_a_helpful_reply(
    chat: Chat, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Unknown commands, chatter and very long text get a short answer and the menu."""
    caplog.set_level(logging.WARNING)
    replies = await chat.say(text)
    assert len(replies) == 1
    assert "/help" in replies[0]
    assert chat.buttons()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_sticker_and_photo_are_not_kept(chat: Chat, telegram: FakeTelegram) -> None:
    """Media gets a short explanation; nothing is forwarded anywhere."""
    sticker = {
        "file_id": "S1",
        "file_unique_id": "u1",
        "type": "regular",
        "width": 1,
        "height": 1,
        "is_animated": False,
        "is_video": False,
    }
    photo = [{"file_id": "P1", "file_unique_id": "u2", "width": 1, "height": 1}]
    for content in ({"sticker": sticker}, {"photo": photo}):
        (reply,) = await chat.send(**content)
        assert "only read text" in reply
    assert not telegram.sent("forwardMessage") and not telegram.sent("copyMessage")


async def test_help_and_privacy(chat: Chat) -> None:
    """/help lists commands; /privacy says what is stored and how to delete it."""
    (help_text,) = await chat.say("/help")
    assert "/language" in help_text and "/privacy" in help_text
    (privacy,) = await chat.say("/privacy")
    assert "member code" in privacy and "/forget" in privacy
    assert any("Delete my data" in b for b in chat.buttons())


async def test_forget_deletes_the_member(chat: Chat, app: App) -> None:
    """/forget asks first, then deletes the member row."""
    await chat.say("/start")
    await chat.say("/forget")
    await chat.tap("Yes")
    async with app.sessions() as session:
        assert await session.scalar(select(Member)) is None


async def test_unbuilt_sections_say_coming_soon(chat: Chat) -> None:
    """Menu buttons of features not built yet answer, in the member's language."""
    await chat.say("/start")
    for label in MENU[:3]:
        # A built section replaces the menu with its own screen: start each tap from the menu.
        await chat.say("/menu")
        replies = await chat.tap(label, chat.last_bot_message())
        assert replies


async def test_start_with_unknown_link_payload(chat: Chat) -> None:
    """A deep link the bot does not know gets a friendly message and the menu."""
    replies = await chat.say("/start zz-unknown")
    assert "link" in replies[0]
    assert len(replies) == 2


async def test_repeated_update_is_handled_once(chat: Chat, telegram: FakeTelegram) -> None:
    """The inbox drops an update_id it has already seen."""
    raw = telegram.user_message(chat.person, "/menu")
    for _ in range(3):
        await chat.feed(raw)
    assert len(telegram.sent("sendMessage", chat.chat_id)) == 1


async def test_inline_query_from_a_stranger_leaves_no_member_row(
    chat: Chat, telegram: FakeTelegram, app: App
) -> None:
    """Searching guides inline from another chat does not make a person a member."""
    query = {"id": "q1", "from": chat.person, "query": "health", "offset": ""}
    await chat.feed(telegram.update(inline_query=query))
    assert telegram.sent("answerInlineQuery")
    async with app.sessions() as session:
        assert await session.scalar(select(Member)) is None
