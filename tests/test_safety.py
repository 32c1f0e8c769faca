"""Member safety through the production dispatcher: safe exit, discreet mode, the PIN (R27, R30).

A fake clock drives the 48-hour window; FakeTelegram records what a member's phone would see.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.methods import SendMessage
from aiogram.types import MessageEntity
from sqlalchemy import func, select

from bot.app import App
from bot.devtools.localapi import FakeTelegram
from bot.safety.service import Prefs, Safety, _with_first_line
from bot.telegram.intake import Intake
from storage.models import MemberSafety, MessageSighting
from tests.fakes import Chat
from tests.referral_kit import Group, submit, worker

T0 = dt.datetime(2030, 3, 1, 12, 0)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock(app: App) -> Clock:
    fake = Clock(T0)
    app.safety.clock = fake
    return fake


@pytest.fixture
def group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake) -> Group:
    return Group(telegram, bot, dp, intake, title="ASWA staff")


def chat_ids(telegram: FakeTelegram, chat_id: int) -> set[int]:
    """Every message now in the chat, the member's and the bot's."""
    return {mid for (cid, mid) in telegram.messages if cid == chat_id}


def flag(params: dict[str, Any], key: str) -> bool:
    """A boolean parameter as it reached the Bot API (form fields arrive as text)."""
    return str(params.get(key)).lower() == "true"


def deleted_ids(telegram: FakeTelegram, chat_id: int) -> list[int]:
    return [
        int(i)
        for call in telegram.sent("deleteMessages", chat_id)
        for i in call.params["message_ids"]
    ]


async def open_guide(chat: Chat) -> None:
    await chat.say("/start g-digital-security")
    await chat.tap("Read")
    await chat.tap("▶")


# -- safe exit ---------------------------------------------------------------------------------


async def test_clear_this_chat_deletes_both_sides_of_the_last_48_hours_only(
    chat: Chat, group: Group, app: App, bot: Bot, telegram: FakeTelegram, clock: Clock
) -> None:
    """Acceptance (R27): after a guide, a request and a relayed reply, "Clear this chat" calls
    deleteMessages with every id of the last 48 hours, both directions, and nothing older."""
    clock.now = T0 - dt.timedelta(hours=50)
    await chat.say("/start")
    await chat.say("hello")
    older = chat_ids(telegram, chat.chat_id)
    assert len(older) == 4

    clock.now = T0
    await group.bind("aswa")
    await open_guide(chat)
    code = await submit(chat, "Police took my phone, what are my rights?")
    delivery = worker(app, bot)
    await delivery.drain()
    await group.say("We can help. Call us.", reply_to=group.card(code)["message_id"])
    await delivery.drain()  # the relayed reply is sent outside any update of the member
    await chat.say("/privacy")
    recent = chat_ids(telegram, chat.chat_id) - older
    incoming = {
        mid
        for (cid, mid), m in telegram.messages.items()
        if cid == chat.chat_id and not m["from"].get("is_bot")
    }
    assert recent & incoming and recent - incoming  # both directions are there

    replies = await chat.tap("Clear this chat")
    deleted = deleted_ids(telegram, chat.chat_id)
    assert set(deleted) == recent
    assert len(deleted) == len(set(deleted))
    assert not set(deleted) & older
    # One neutral message is left, honest about what a bot cannot delete.
    assert len(replies) == 1 and "Chat cleared" in replies[0] and "48 hours" in replies[0]
    assert chat_ids(telegram, chat.chat_id) == older | {chat.last_bot_message()["message_id"]}
    # The ids are gone from the log too; only the neutral message is recorded.
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(MessageSighting)) == 1


async def test_exit_works_mid_request_and_drops_the_draft(
    chat: Chat, telegram: FakeTelegram, clock: Clock
) -> None:
    """/exit while writing a request: the chat is cleared and the draft is not kept."""
    await chat.say("/ask")
    await chat.tap("Legal help")
    replies = await chat.say("Kenya")
    if any("remember" in r for r in replies):
        await chat.tap("No, just this time")
    await chat.say("A draft I regret.")
    before = chat_ids(telegram, chat.chat_id)
    (reply,) = await chat.say("/exit")
    assert "Chat cleared" in reply
    assert set(deleted_ids(telegram, chat.chat_id)) == before | {max(before) + 1}
    # The conversation state is gone: the next words are not taken as the request.
    (after,) = await chat.say("Some more words")
    assert "Check your request" not in after


@pytest.mark.settings(flood_limit=0)
async def test_deletes_in_batches_of_100(chat: Chat, telegram: FakeTelegram, clock: Clock) -> None:
    """230 messages: three deleteMessages calls of at most 100 ids each."""
    for _ in range(115):
        await chat.say("hi")
    await chat.say("/exit")
    calls = telegram.sent("deleteMessages", chat.chat_id)
    assert [len(c.params["message_ids"]) for c in calls] == [100, 100, 31]


async def test_a_refused_batch_does_not_stop_the_exit(
    chat: Chat, telegram: FakeTelegram, clock: Clock
) -> None:
    """If Telegram refuses to delete (too old, already gone), the member still gets the note."""
    from bot.devtools.localapi import error

    await chat.say("/start")
    telegram.faults.append(
        lambda method, params: (
            error(400, "Bad Request: message can't be deleted")
            if method == "deleteMessages"
            else None
        )
    )
    (reply,) = await chat.say("/exit")
    assert "Chat cleared" in reply


async def test_exit_in_a_group_does_nothing(
    group: Group, telegram: FakeTelegram, clock: Clock
) -> None:
    """Safe exit is for a member's private chat; a group's messages are never touched."""
    await group.say("/exit")
    assert not telegram.sent("deleteMessages")


async def test_clear_chat_button_is_offered_on_privacy_and_checkup(chat: Chat) -> None:
    """The button sits on /privacy and on the check-up page about leaving quickly."""
    await chat.say("/privacy")
    assert any("Clear this chat" in b for b in chat.buttons())
    await chat.say("/checkup")
    for _ in range(3):
        await chat.tap("Next")
    assert any("Clear this chat" in b for b in chat.buttons())


# -- discreet mode ------------------------------------------------------------------------------


async def test_discreet_mode_on_a_guide_page(
    chat: Chat, telegram: FakeTelegram, clock: Clock
) -> None:
    """Every message and edit starts with the neutral line; forwarding blocked when chosen."""
    (reply,) = await chat.say("/discreet")
    assert reply.startswith("Update\n\n") and "Discreet mode is on" in reply
    await chat.tap("Block forwarding and saving")
    await open_guide(chat)
    page = chat.last_bot_message()
    assert page["text"].startswith("Update\n\n")
    last = telegram.calls[-1]
    assert last.method == "editMessageText" and last.params["text"].startswith("Update\n\n")
    sends = telegram.sent("sendMessage", chat.chat_id)
    assert flag(sends[-1].params, "protect_content")
    # Answers to the member's own taps notify as usual.
    assert not any(flag(c.params, "disable_notification") for c in sends)


async def test_discreet_mode_on_a_relayed_reply(
    chat: Chat, group: Group, app: App, bot: Bot, telegram: FakeTelegram, clock: Clock
) -> None:
    """A relayed reply arrives silently, protected, with the neutral first line (R30)."""
    await group.bind("aswa")
    code = await submit(chat, "Where is a clinic?")
    await chat.say("/discreet")
    await chat.tap("Block forwarding and saving")
    delivery = worker(app, bot)
    await delivery.drain()
    await group.say("Try the clinic on Main Street.", reply_to=group.card(code)["message_id"])
    await delivery.drain()
    relay = telegram.sent("sendMessage", chat.chat_id)[-1]
    assert "Main Street" in relay.params["text"]
    assert relay.params["text"].startswith("Update\n\n")
    assert flag(relay.params, "disable_notification")
    assert flag(relay.params, "protect_content")
    # Staff group messages never get the member's neutral line.
    for call in telegram.sent("sendMessage", group.chat_id):
        assert not call.params["text"].startswith("Update")


async def test_discreet_line_is_in_the_members_language(new_chat: Any) -> None:
    """The neutral line follows the member's language (falls back to English untranslated)."""
    from aiogram.utils.i18n import I18n

    from bot.config import PROJECT_ROOT

    chat: Chat = new_chat("fr")
    (reply,) = await chat.say("/discreet")
    expected = I18n(path=PROJECT_ROOT / "locales").gettext("Update", locale="fr")
    assert reply.startswith(expected + "\n\n")


async def test_turning_discreet_mode_off(chat: Chat, app: App) -> None:
    """/discreet twice: off again, stored, and messages are plain."""
    await chat.say("/discreet")
    (reply,) = await chat.say("/discreet")
    assert not reply.startswith("Update") and "Discreet mode is off" in reply
    async with app.sessions() as session:
        row = await session.scalar(select(MemberSafety))
    assert row is not None and not row.discreet


async def test_discreet_setting_reaches_another_instance(
    chat: Chat, app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """The setting lives in the database: a fresh process (no cache) applies it too."""
    await chat.say("/discreet")
    fresh = Safety(app)
    prefs = await fresh.prefs(chat.chat_id)
    assert prefs == Prefs("en" if prefs.language else None, True, False)


def test_first_line_shifts_entities_and_respects_the_limit() -> None:
    """With entities the offsets move by the line's UTF-16 length; an overlong text is left."""
    from aiogram.client.default import DefaultBotProperties

    bot = Bot("1:x", default=DefaultBotProperties(parse_mode="HTML"))
    bold = MessageEntity(type="bold", offset=0, length=3)
    method = SendMessage(chat_id=1, text="Hi 🙂", entities=[bold], parse_mode=None)
    changes = _with_first_line(bot, method, "text", "entities", "Mise à jour", 4096)
    assert changes["text"] == "Mise à jour\n\nHi 🙂"
    assert changes["entities"][0].offset == len("Mise à jour\n\n")
    html_method = SendMessage(chat_id=1, text="<b>a</b> &amp; b")
    assert _with_first_line(bot, html_method, "text", "entities", "A & B", 4096) == {
        "text": "A &amp; B\n\n<b>a</b> &amp; b"
    }
    full = SendMessage(chat_id=1, text="x" * 4090)
    assert _with_first_line(bot, full, "text", "entities", "Update", 4096) == {}
    again = SendMessage(chat_id=1, text="Update\n\nalready")
    assert _with_first_line(bot, again, "text", "entities", "Update", 4096) == {}


async def test_forged_discreet_button_is_refused_kindly(chat: Chat) -> None:
    """Unknown operations on the discreet and PIN buttons lead back to the menu."""
    for data in ("dm:zz", "pn:zz", "cu:99", "cu:-5"):
        await chat.say("/menu")
        replies = await chat.tap_data(data)
        assert any("does not work any more" in r for r in replies), data


# -- PIN ----------------------------------------------------------------------------------------


async def set_pin(chat: Chat, pin: str) -> list[str]:
    await chat.say("/privacy")
    await chat.tap("PIN for")
    await chat.tap("Set a PIN")
    await chat.say(pin)
    return await chat.say(pin)


async def test_pin_guards_my_requests_and_messages_are_deleted(
    chat: Chat, group: Group, app: App, telegram: FakeTelegram, clock: Clock
) -> None:
    """Set 4–8 digits (both entries deleted at once); /requests then asks; the right PIN opens."""
    await group.bind("aswa")
    code = await submit(chat, "Private words.")
    replies = await set_pin(chat, "482913")
    assert any("PIN set" in r for r in replies)
    pin_messages = [
        mid
        for (cid, mid), m in telegram.messages.items()
        if cid == chat.chat_id and m.get("text") == "482913"
    ]
    assert not pin_messages  # deleted from the chat
    assert len(telegram.sent("deleteMessage", chat.chat_id)) == 2
    async with app.sessions() as session:
        row = await session.scalar(select(MemberSafety))
    assert row is not None and row.pin is not None and b"482913" not in row.pin

    (prompt,) = await chat.say("/requests")
    assert "locked" in prompt and code not in prompt
    (unlocked,) = await chat.say("482913")
    assert "Unlocked" in unlocked and code in unlocked  # "My requests" at once (tour [25])
    # Within ten minutes it stays open; after that, locked again.
    (listing,) = await chat.say("/requests")
    assert code in listing
    clock.now += dt.timedelta(minutes=11)
    (prompt,) = await chat.say("/requests")
    assert "locked" in prompt


@pytest.mark.settings(flood_limit=0)  # more than 20 updates in a real minute
async def test_five_wrong_pins_lock_for_an_hour(chat: Chat, group: Group, clock: Clock) -> None:
    """Wrong tries count down; the fifth locks "My requests" for an hour, even the right PIN."""
    await group.bind("aswa")
    code = await submit(chat, "Private words.")
    await set_pin(chat, "1234")
    await chat.say("/requests")
    for left in (4, 3, 2, 1):
        (reply,) = await chat.say("9999")
        assert f"{left} tr" in reply
    (reply,) = await chat.say("9999")
    assert "locked for 60 more minutes" in reply
    (reply,) = await chat.say("/requests")
    assert "locked" in reply
    (reply,) = await chat.say("1234")  # not taken as a PIN while locked
    assert code not in reply
    replies = await chat.tap_data(f"rq:o:{code}")
    assert not any("Private words." in r for r in replies)
    clock.now += dt.timedelta(hours=1, minutes=1)
    await chat.say("/requests")
    (reply,) = await chat.say("1234")
    assert "Unlocked" in reply


async def test_pin_buttons_in_the_chat_history_are_guarded_too(
    chat: Chat, group: Group, clock: Clock
) -> None:
    """An old "open request" button asks for the PIN instead of showing the text."""
    await group.bind("aswa")
    code = await submit(chat, "Private words.")
    await set_pin(chat, "2468")
    replies = await chat.tap_data(f"rq:o:{code}")
    assert not any("Private words." in r for r in replies)
    assert any("locked" in r for r in replies)


@pytest.mark.parametrize("bad", ["123", "123456789", "12a4", "１２３４", "12 34"])
async def test_bad_pins_are_refused_and_deleted(
    chat: Chat, telegram: FakeTelegram, bad: str
) -> None:
    """Not 4–8 ASCII digits: a clear message, the entry deleted, the step stays open."""
    await chat.say("/privacy")
    await chat.tap("PIN for")
    await chat.tap("Set a PIN")
    (reply,) = await chat.say(bad)
    assert "4 to 8 digits" in reply
    assert not any(m.get("text") == bad for m in telegram.messages.values())
    (reply,) = await chat.say("5555")
    assert "same PIN again" in reply


async def test_different_repeat_starts_over_and_commands_leave(chat: Chat) -> None:
    """A different second entry asks again; a command ends the PIN entry and runs."""
    await chat.say("/privacy")
    await chat.tap("PIN for")
    await chat.tap("Set a PIN")
    await chat.say("1111")
    (reply,) = await chat.say("2222")
    assert "different" in reply
    (menu,) = await chat.say("/menu")
    assert menu == "What would you like to do?"
    (reply,) = await chat.say("3333")  # no longer a PIN entry
    assert "PIN" not in reply


async def test_removing_the_pin_needs_the_pin(chat: Chat, app: App, clock: Clock) -> None:
    """Remove asks for the current PIN; a wrong one counts as a try."""
    await set_pin(chat, "7777")
    await chat.tap("Remove the PIN")
    (reply,) = await chat.say("7778")
    assert "not right" in reply
    await chat.say("/privacy")
    await chat.tap("PIN for")
    await chat.tap("Remove the PIN")
    (reply,) = await chat.say("7777")
    assert "PIN removed" in reply
    async with app.sessions() as session:
        row = await session.scalar(select(MemberSafety))
    assert row is not None and row.pin is None


async def test_without_a_pin_my_requests_opens_directly(
    chat: Chat, group: Group, clock: Clock
) -> None:
    """No PIN: the guard steps aside."""
    await group.bind("aswa")
    code = await submit(chat, "Words.")
    (listing,) = await chat.say("/requests")
    assert code in listing


async def test_ids_wait_in_memory_while_the_database_is_away(
    chat: Chat, app: App, bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed background flush keeps the ids (and logs only a count); the next one stores."""
    await chat.say("/start")
    safety = app.safety
    sessions = safety.sessions

    class Down:
        def begin(self) -> Any:
            raise ConnectionError("database is away")

    safety.sessions = Down()  # type: ignore[assignment]
    await bot.send_message(chat.chat_id, "sent by a worker, outside any update")
    await safety.close()
    assert len(safety.pending) == 1
    assert any("could not store 1 message ids" in r.getMessage() for r in caplog.records)
    safety.sessions = sessions
    await safety.close()
    assert safety.pending == []
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(MessageSighting)) == 3


async def test_i1_exit_leaves_no_trace(
    chat: Chat, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After /exit the "Chat cleared" note deletes itself: an inspected phone shows nothing."""
    import asyncio

    from bot.safety import handlers

    monkeypatch.setattr(handlers, "EXIT_NOTICE_SECONDS", 0.05)
    await chat.say("/start")
    (reply,) = await chat.say("/exit")
    assert "Chat cleared" in reply
    await asyncio.sleep(0.3)
    assert len(telegram.sent("deleteMessage", chat.chat_id)) == 1
    left = [m.get("text", "") for (c, _), m in telegram.messages.items() if c == chat.chat_id]
    assert not [t for t in left if "Chat cleared" in t]


async def test_hang_exit_note_vanishing_gives_back_the_write_turn(
    app: App, chat: Chat, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The six-language tour hung under load: the "Chat cleared" note is deleted by a task
    started inside the /exit update, which inherited that update's hold on SQLite's write
    turn; its Bot API call took the turn back "for the update" after the update had ended, and
    nobody gave it up again, so every later update and store waited for it for ever. The tour
    only reached the deletion (six seconds after /exit) when the machine was slow."""
    import asyncio

    from bot.middlewares.db import write_turn
    from bot.safety import handlers

    monkeypatch.setattr(handlers, "EXIT_NOTICE_SECONDS", 0.05)
    await chat.say("/start")
    await chat.say("/exit")
    await asyncio.sleep(0.3)
    assert len(telegram.sent("deleteMessage", chat.chat_id)) == 1  # the note vanished
    lock = write_turn(app.sessions)
    assert lock is not None and not lock.locked(), "the write turn was kept by a finished task"
    replies = await asyncio.wait_for(chat.say("/help"), timeout=30)
    assert replies, "no answer after the note vanished"


@pytest.mark.settings(exit_leaves_no_trace=False)
async def test_exit_note_can_stay(
    chat: Chat, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EXIT_LEAVES_NO_TRACE=false keeps the note, for those who want to see it worked."""
    import asyncio

    from bot.safety import handlers

    monkeypatch.setattr(handlers, "EXIT_NOTICE_SECONDS", 0.05)
    await chat.say("/exit")
    await asyncio.sleep(0.3)
    assert telegram.sent("deleteMessage", chat.chat_id) == []
    assert "Chat cleared" in chat.last_bot_message()["text"]
