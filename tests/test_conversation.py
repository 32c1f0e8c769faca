"""Conversation findings of the new-user tour (issue 12, part A), through the production
dispatcher and the fake Bot API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiogram import Bot, Dispatcher

from bot.app import App
from bot.devtools.localapi import FakeTelegram
from bot.telegram.intake import Intake
from bot.ui.keyboards import ClearChat
from tests.fakes import Chat
from tests.referral_kit import CODE_RE, Group, submit, worker

WORDS = Path(__file__).parent / "data" / "sensitive-words.yaml"
LETTER = "a-zа-яё"


@pytest.fixture
def group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake) -> Group:
    return Group(telegram, bot, dp, intake, title="ASWA staff")


def messages_in(telegram: FakeTelegram, chat_id: int) -> list[int]:
    return [mid for (cid, mid) in telegram.messages if cid == chat_id]


# -- [1] + L9: safety never waits ----------------------------------------------------------------


async def test_tour_1_exit_after_60_taps_clears_the_chat(
    chat: Chat, telegram: FakeTelegram
) -> None:
    """60 button taps in a minute, then /exit: the chat is cleared all the same."""
    await chat.say("/menu")
    for i in range(60):
        await chat.tap_data("m:home" if i % 2 else "m:privacy")
    before = messages_in(telegram, chat.chat_id)
    replies = await chat.say("/exit")
    assert any("Chat cleared" in r for r in replies), replies
    after = messages_in(telegram, chat.chat_id)
    assert not set(before) & set(after)  # every earlier message is gone


async def test_tour_1_reading_a_guide_is_not_flooding(chat: Chat) -> None:
    """Paging 40 times in a minute is reading: every tap is answered by the screen it asks for."""
    await chat.say("/menu")
    for i in range(40):
        replies = await chat.tap_data("m:home" if i % 2 else "m:privacy")
        assert replies and "very fast" not in " ".join(replies), (i, replies)


async def test_tour_1_safety_commands_pass_a_flood(chat: Chat) -> None:
    """After a burst of messages, /exit, /forget and /cancel still work, every time."""
    for _ in range(30):
        await chat.say("/menu")
    for _ in range(2):
        assert any("Chat cleared" in r for r in await chat.say("/exit"))
    assert any("Delete everything" in r for r in await chat.say("/forget"))
    # "Clear this chat" as tapped under an older screen (its callback data).
    assert any("Chat cleared" in r for r in await chat.tap_data(ClearChat().pack()))


async def test_tour_1_one_notice_says_when_to_go_on(chat: Chat) -> None:
    """Over the limit: one notice saying when to go on; a later tap is answered too."""
    replies: list[str] = []
    for _ in range(25):
        replies += await chat.say("/menu")
    notices = [r for r in replies if "very fast" in r]
    assert len(notices) == 1 and "You can go on in" in notices[0], notices
    assert len(replies) == 21
    toast = await chat.tap_data("m:privacy")
    assert len(toast) == 1 and "You can go on in" in toast[0]


async def test_l9_a_strangers_group_gets_a_few_answers(
    group: Group, telegram: FakeTelegram
) -> None:
    """100 non-admin /bind from a group: at most a few answers, not 100 refusals."""
    for _ in range(100):
        await group.say("/bind aswa")
    assert 1 <= len(group.bot_messages()) <= 6


async def test_staff_replies_in_a_group_are_not_limited(
    group: Group, telegram: FakeTelegram
) -> None:
    """Plain messages in a group (staff chatter, replies to cards) are never counted. (A guard
    for the L9 fix, not named after L9: it passes on the code before the fix too.)"""
    await group.bind("aswa")
    for _ in range(40):
        await group.say("chatting")
    await group.say("/bind aswa", user=group.admin)
    last = group.bot_messages()[-1]["text"]
    assert "very fast" not in last, last


# -- [13] double-tapped Send ------------------------------------------------------------------


async def test_tour_13_double_tapped_send_keeps_the_confirmation(chat: Chat) -> None:
    """A second tap on Send (or a late tap on Change or Cancel) keeps the request number."""
    await chat.say("/ask")
    await chat.tap("Legal help")
    replies = await chat.say("Kenya")
    if any("remember" in r for r in replies):
        await chat.tap("No, just this time")
    await chat.say("Twice?")
    preview = chat.last_bot_message()
    buttons = {
        b["text"]: b["callback_data"]
        for b in chat.telegram.buttons(chat.chat_id, preview["message_id"])
    }
    send = next(v for k, v in buttons.items() if "Send" in k)
    (sent,) = await chat.tap_data(send, preview["message_id"])
    code = CODE_RE.search(sent)
    assert code is not None
    for label in ("Send", "Change", "Cancel"):
        data = next(v for k, v in buttons.items() if label in k)
        replies = await chat.tap_data(data, preview["message_id"])
        assert not any("expired" in r or "Cancelled" in r for r in replies), replies
        shown = chat.telegram.messages[(chat.chat_id, preview["message_id"])]["text"]
        assert code.group(0) in shown and "Sent" in shown


# -- [2], [3], [8], [10]: nothing on a lock screen says what this is ------------------------------


def sensitive(app: App) -> tuple[set[str], set[str]]:
    """(substrings, words) of every language, plus every network's name and ORG_NAME."""
    data = yaml.safe_load(WORDS.read_text(encoding="utf-8"))
    subs: set[str] = set()
    words: set[str] = set()
    for lists in data.values():
        subs |= {w.lower() for w in lists.get("substrings") or []}
        words |= {w.lower() for w in lists.get("words") or []}
    for network in app.directory.networks:
        subs.add(network.name.lower())
        acronym = re.search(r"\(([^)]+)\)$", network.name)
        if acronym:
            words.add(acronym.group(1).lower())
    return subs, words


def lock_screen_problems(app: App, text: str) -> list[str]:
    """What the first two lines (a lock screen, a notification) give away."""
    subs, words = sensitive(app)
    head = "\n".join(re.sub(r"<[^>]+>", "", text).split("\n")[:2]).lower()
    found = [w for w in subs if w in head]
    found += [w for w in words if re.search(f"(?<![{LETTER}]){re.escape(w)}(?![{LETTER}])", head)]
    return found


@pytest.mark.settings(flood_limit=0)
async def test_tour_2_unprompted_messages_say_nothing_on_a_lock_screen(
    chat: Chat, group: Group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """Relays, card-status notices, reminders, cards and admin alerts: the first two lines name
    no network and hold no sensitive word, in plain and in discreet mode."""
    from tests.conftest import ADMIN_ID

    delivery = worker(app, bot)
    waiting = await submit(chat, "Nobody is bound yet.", need="HIV")
    await delivery.drain()  # no group at all: the admins are alerted
    await group.bind("aswa")
    code = await submit(chat, "I need a lawyer.")
    await delivery.drain()
    card = group.card(code)
    await group.say("We can help. Which city?", reply_to=card["message_id"])
    await delivery.drain()
    await chat.say("/discreet")
    await group.say("Still there?", reply_to=card["message_id"])
    await delivery.drain()
    await group.tap(card["message_id"], group.button(card, "Close"))
    await delivery.drain()
    assert waiting
    unprompted = [
        e.message["text"]
        for e in telegram.events
        if e.kind == "sent"
        and e.message is not None
        and e.message.get("text")
        and (e.chat_id in (group.chat_id, ADMIN_ID) or "New message" in e.message["text"])
        # /bind's answer is prompted by the admin who sent it.
        and not e.message["text"].startswith("This group now receives")
    ]
    relays = [t for t in unprompted if "Which city?" in t or "Still there?" in t]
    assert len(relays) == 2 and any("closed" in t for t in unprompted)
    assert any(e.chat_id == ADMIN_ID for e in telegram.events if e.kind == "sent")
    for text in unprompted:
        assert lock_screen_problems(app, text) == [], text


@pytest.mark.settings(flood_limit=0)
async def test_tour_2_alerts_and_news_say_nothing_on_a_lock_screen(
    chat: Chat, app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """Alerts and news (issue 16), in every language, plain and discreet: the first two lines
    name no network and hold no sensitive word, whatever the approved text says."""
    from bot.alerts.service import publish_news
    from storage.models import SubscriptionKind
    from tests.alerts_kit import approve, broadcaster, subscribers

    members: list[int] = []
    for lang in ("en", "fr", "es", "ru", "zh", "ar"):
        members += await subscribers(app, 1, language=lang)
        members += await subscribers(app, 1, language=lang, kind=SubscriptionKind.NEWS)
    await chat.say("/discreet")
    await chat.say("/alerts")
    await chat.tap("Get alerts")
    if any("remember" in r for r in await chat.say("Kenya")):
        await chat.tap("No, just this time")
    members.append(chat.chat_id)
    await approve(app, text="Sex workers: a client refused a condom near the brothel (ASWA).")
    async with app.sessions.begin() as session:
        await publish_news(
            session,
            network_id="aswa",
            text="African Sex Workers Alliance (ASWA) news for sex workers.",
            language="en",
            audience={},
        )
    before = len(telegram.events)
    await broadcaster(app, bot).drain()
    sent = [
        e.message["html"]
        for e in telegram.events[before:]
        if e.kind == "sent" and e.chat_id in members and e.message is not None
    ]
    assert len(sent) == 13
    assert any(t.startswith("Update\n\n") for t in sent)  # the discreet member's line
    for text in sent:
        assert lock_screen_problems(app, text) == [], text


async def test_tour_3_over_long_echo_keeps_the_discreet_line(
    chat: Chat, telegram: FakeTelegram
) -> None:
    """A 4,096-character request is given back in parts that each start with the neutral line."""
    await chat.say("/discreet")
    await chat.say("/ask")
    await chat.tap("Legal help")
    replies = await chat.say("Kenya")
    if any("remember" in r for r in replies):
        await chat.tap("No, just this time")
    long = ("Police took my papers. " * 200)[:4096]
    replies = await chat.say(long)
    echoed = [r for r in replies if "Police took" in r]
    assert echoed and all(r.startswith("Update\n\n") for r in replies), replies
    assert "".join(r.removeprefix("Update\n\n") for r in echoed) == long


@pytest.mark.settings(org_name="Health Guide")
async def test_tour_8_public_descriptions_follow_a_neutral_org_name(app: App) -> None:
    """With a neutral ORG_NAME, the public descriptions say nothing about sex work."""
    from bot.dispatcher import build_i18n
    from bot.telegram.commands import description, short_description

    i18n = build_i18n(app)
    for lang in ("en", "fr", "es", "ru", "zh", "ar"):
        with i18n.context(), i18n.use_locale(lang):
            for text in (description(app.settings), short_description(app.settings)):
                assert "Health Guide" in text
                assert lock_screen_problems(app, text.replace("\n", " ")) == [], (lang, text)


async def test_tour_2_status_notices_keep_the_network_off_the_lock_screen(app: App) -> None:
    """ "Closed by", "now with" and relayed replies: the network's name starts at line 3 at the
    earliest, in every language (the closed notice once put it on line 2)."""
    from bot.dispatcher import build_i18n
    from bot.referrals.texts import closed_text, relay_to_member_text, transferred_text

    i18n = build_i18n(app)
    network = "African Sex Workers Alliance"
    for lang in ("en", "fr", "es", "ru", "zh", "ar"):
        with i18n.context(), i18n.use_locale(lang):
            for text in (
                closed_text(network, "R-ABCDE"),
                transferred_text(network, "R-ABCDE"),
                relay_to_member_text(network, "R-ABCDE", "Hello", repeat=False),
            ):
                head = "\n".join(text.split("\n")[:2])
                assert "Alliance" not in head, (lang, text)
                assert lock_screen_problems(app, text) == [], (lang, text)


async def test_tour_10_forget_ends_discreet_mode_at_once(chat: Chat) -> None:
    """After /forget, the next screen has no discreet line (no 10-second leftover)."""
    await chat.say("/discreet")
    await chat.say("/forget")
    await chat.tap("Yes, delete everything")
    replies = await chat.tap("Menu")
    assert replies and not replies[-1].startswith("Update"), replies


def sensitive_words_in(app: App, text: str) -> list[str]:
    """Sensitive words anywhere in `text` (not only on the first two lines)."""
    subs, words = sensitive(app)
    plain = re.sub(r"<[^>]+>", "", text).lower()
    found = [w for w in subs if w in plain]
    found += [w for w in words if re.search(f"(?<![{LETTER}]){re.escape(w)}(?![{LETTER}])", plain)]
    return found


@pytest.mark.settings(org_name="Health Guide")
@pytest.mark.parametrize("lang", ["en", "fr", "es", "ru", "zh", "ar"])
async def test_tour_8_welcome_and_ask_intro_follow_a_neutral_org_name(
    new_chat: Any, app: App, lang: str
) -> None:
    """With a neutral ORG_NAME, neither the welcome nor the /ask intro names sex work or a
    network, anywhere in the text, in any of the six languages."""
    chat: Chat = new_chat(lang)
    welcome = (await chat.say("/start"))[-1]
    assert "Health Guide" in welcome
    assert sensitive_words_in(app, welcome) == [], welcome
    intro = (await chat.say("/ask"))[-1]
    assert chat.buttons()  # the needs to choose from
    assert sensitive_words_in(app, intro) == [], intro


# -- [11]: commands escape any writing step ------------------------------------------------------


async def start_writing(chat: Chat) -> None:
    await chat.say("/ask")
    await chat.tap("Legal help")
    replies = await chat.say("Kenya")
    if any("remember" in r for r in replies):
        await chat.tap("No, just this time")


@pytest.mark.settings(flood_limit=0)
async def test_tour_11_commands_escape_writing(chat: Chat) -> None:
    """/start, /help, /language… while writing do what they say; the step is offered back."""
    for command, expected in (
        ("/start", "Hello!"),
        ("/help", "How to use this bot"),
        ("/menu", "What would you like to do?"),
        ("/privacy", "Your privacy"),
        ("/language", ""),
    ):
        await start_writing(chat)
        replies = await chat.say(command)
        assert not any("Photos" in r for r in replies), (command, replies)
        assert any("kept for a minute" in r for r in replies), (command, replies)
        assert any(expected in r for r in replies[1:]), (command, replies)
    replies = await chat.tap(
        "Go on writing", chat.telegram.messages[(chat.chat_id, offer_id(chat))]
    )
    assert any("Now write your message" in r for r in replies), replies
    replies = await chat.say("Back to my request.")
    assert any("Check your request" in r for r in replies), replies


def offer_id(chat: Chat) -> int:
    """The latest "kept for a minute" message."""
    return max(
        mid
        for (cid, mid), m in chat.telegram.messages.items()
        if cid == chat.chat_id and "kept for a minute" in (m.get("text") or "")
    )


@pytest.mark.settings(flood_limit=0)
async def test_tour_11_reply_prompt_has_cancel_and_media_is_explained(
    chat: Chat, group: Group, app: App, bot: Bot
) -> None:
    await group.bind("aswa")
    delivery = worker(app, bot)
    code = await submit(chat, "Hello.")
    await delivery.drain()
    await group.say("Hi, how can we help?", reply_to=group.card(code)["message_id"])
    await delivery.drain()
    await chat.say("/requests")
    await chat.tap(code)
    replies = await chat.tap("Reply")
    assert any("Write your answer" in r for r in replies)
    assert any("Cancel" in b for b in chat.buttons())
    # Issue 15: a video is refused with the reason; a first photo is explained before it goes.
    replies = await chat.send(
        video={"file_id": "v", "file_unique_id": "w", "width": 1, "height": 1, "duration": 1}
    )
    assert any("Not sent" in r and "hidden details" in r for r in replies), replies
    replies = await chat.send(
        photo=[{"file_id": "x", "file_unique_id": "y", "width": 1, "height": 1}]
    )
    assert any("Faces, tattoos" in r for r in replies), replies
    replies = await chat.tap("No, do not send")
    assert any("Not sent" in r for r in replies), replies


# -- [12] + L6 + [4]: text after a network's reply ------------------------------------------------


async def answered(chat: Chat, group: Group, app: App, bot: Bot) -> tuple[str, Any]:
    await group.bind("aswa")
    delivery = worker(app, bot)
    code = await submit(chat, "Is there a lawyer?")
    await delivery.drain()
    await group.say("Yes. Which city?", reply_to=group.card(code)["message_id"])
    await delivery.drain()
    chat.new_texts()
    return code, delivery


@pytest.mark.settings(flood_limit=0)
async def test_tour_12_typed_text_is_offered_to_the_network(
    chat: Chat, group: Group, app: App, bot: Bot
) -> None:
    """Text typed without Reply is offered in one tap, then relayed on the card."""
    code, delivery = await answered(chat, group, app, bot)
    (offer,) = await chat.say("ok see you in Nairobi")
    assert f"Send this to ASWA (request {code})?" in offer
    replies = await chat.tap("Send to ASWA")
    assert any("Sent to" in r for r in replies), replies
    await delivery.drain()
    relayed = [m for m in group.bot_messages() if "ok see you in Nairobi" in m["text"]]
    assert len(relayed) == 1
    # "No" sends nothing.
    await chat.say("never mind")
    assert any("Not sent" in r for r in await chat.tap("No, do not send"))
    await delivery.drain()
    assert not [m for m in group.bot_messages() if "never mind" in m["text"]]


@pytest.mark.settings(flood_limit=0)
async def test_l6_quote_does_not_bypass_pin(
    chat: Chat, group: Group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """With "My requests" locked, quoting a relayed reply sends nothing; typing offers nothing."""
    code, delivery = await answered(chat, group, app, bot)
    relayed = chat.last_bot_message()
    await chat.say("/privacy")
    await chat.tap("PIN for")
    await chat.tap("Set a PIN")
    await chat.say("482913")
    await chat.say("482913")
    replies = await chat.say("I am in Mombasa.", reply_to=relayed["message_id"])
    assert any("locked" in r for r in replies), replies
    replies = await chat.say("Mombasa, again")
    assert not any("Send this to" in r or code in r for r in replies), replies
    await delivery.drain()
    assert not [m for m in group.bot_messages() if "Mombasa" in m["text"]]


@pytest.mark.settings(flood_limit=0)
async def test_tour_4_after_delete_late_messages_are_not_relayed(
    chat: Chat, group: Group, app: App, bot: Bot
) -> None:
    """An answer still queued when the member deletes the request never reaches the group, and
    one already relayed is taken off the group's chat."""
    code, delivery = await answered(chat, group, app, bot)
    relayed = chat.last_bot_message()
    await chat.say("I work near Luz station.", reply_to=relayed["message_id"])
    await delivery.drain()
    (earlier,) = [m for m in group.bot_messages() if "Luz station" in m["text"]]
    await chat.say("I work near the station.", reply_to=relayed["message_id"])
    await chat.say("/requests")
    await chat.tap(code)
    await chat.tap("Delete")
    await chat.tap("Yes, delete it")
    await delivery.drain()
    assert not [m for m in group.bot_messages() if "station" in m["text"]]
    erased = group.telegram.messages[(group.chat_id, earlier["message_id"])]["text"]
    assert "Deleted by the member" in erased
    replies = await chat.say("One more thing.", reply_to=relayed["message_id"])
    assert not any("Sent to" in r for r in replies), replies
    await delivery.drain()
    assert not [m for m in group.bot_messages() if "One more thing" in m["text"]]


# -- L1: member screens only in private chats ----------------------------------------------------


async def test_l1_forged_member_screens_leave_the_staff_card(
    chat: Chat, group: Group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    await group.bind("aswa")
    delivery = worker(app, bot)
    code = await submit(chat, "Card text stays.")
    await delivery.drain()
    card = group.card(code)
    for data in ("cu:0", "dm:show", "dm:mode", "pn:show", "pn:set"):
        await group.tap(card["message_id"], data)
        now = telegram.messages[(group.chat_id, card["message_id"])]
        assert "Card text stays." in now["text"], data
        assert any(
            "Claim" in b["text"] for b in telegram.buttons(group.chat_id, card["message_id"])
        )


# -- [26], [27], [7], [25] -----------------------------------------------------------------------


async def test_tour_26_free_text_searches_the_guides(chat: Chat) -> None:
    (reply,) = await chat.say("decriminalisation")
    assert "I looked in the guides" in reply
    assert any(
        "Decriminalisation" in b or "decriminalisation" in b.lower() for b in chat.buttons()
    )
    (reply,) = await chat.say("zzqx wvvq")
    assert "no guide" in reply and any("Ask a network" in b for b in chat.buttons())


@pytest.mark.parametrize(
    ("lang", "cry"),
    [
        ("en", "hello I need help"),
        ("es", "ayuda por favor"),
        ("ru", "помогите"),
        ("fr", "bonjour j'ai besoin d'aide"),
        ("ar", "مرحبا أحتاج مساعدة"),
        ("zh", "我需要帮助"),
    ],
)
async def test_tour_26_a_cry_for_help_offers_ask_a_network(
    new_chat: Any, lang: str, cry: str
) -> None:
    chat: Chat = new_chat(lang)
    replies = await chat.say(cry)
    assert replies and "Sorry, I didn't understand" not in replies[0]
    first = chat.telegram.buttons(chat.chat_id, chat.last_bot_message()["message_id"])[0]
    assert first["callback_data"] == "m:ask", first


@pytest.mark.parametrize(
    ("lang", "cry"),
    [("en", "please help me"), ("fr", "au secours"), ("ru", "помогите"), ("ar", "ساعدوني")],
)
async def test_tour_26_a_cry_for_help_links_what_to_do_now(
    new_chat: Any, lang: str, cry: str
) -> None:
    """The cry-for-help screen offers the "What to do now" card (/now), which opens."""
    chat: Chat = new_chat(lang)
    await chat.say(cry)
    buttons = chat.telegram.buttons(chat.chat_id, chat.last_bot_message()["message_id"])
    now = [b for b in buttons if b.get("callback_data", "").startswith("av:")]
    assert now, buttons
    (card,) = await chat.tap_data(now[0]["callback_data"])
    (direct,) = await chat.say("/now")
    assert card == direct  # the same card as /now
    # Plain words that ask for nothing do not get it.
    await chat.say("decriminalisation")
    assert not any(
        b.get("callback_data", "").startswith("av:")
        for b in chat.telegram.buttons(chat.chat_id, chat.last_bot_message()["message_id"])
    )


async def test_tour_27_checkup_offered_again_after_forget(chat: Chat) -> None:
    await chat.say("/start")
    await chat.say("/forget")
    replies = await chat.tap("Yes, delete everything")
    assert any("Done" in r for r in replies)
    replies = await chat.tap("Privacy check-up")
    assert any("Privacy check-up · 1/" in r for r in replies), replies


async def test_tour_7_help_lists_forget_and_cancel_and_cancel_always_answers(chat: Chat) -> None:
    (help_text,) = await chat.say("/help")
    assert "/forget" in help_text and "/cancel" in help_text
    (reply,) = await chat.say("/cancel")
    assert "I don't know that command" not in reply and "nothing was cancelled" in reply


async def test_tour_25_every_pin_step_has_a_way_out(chat: Chat) -> None:
    await chat.say("/privacy")
    await chat.tap("PIN for")
    await chat.tap("Set a PIN")
    assert any("Cancel" in b for b in chat.buttons())
    await chat.say("1234")
    assert any("Cancel" in b for b in chat.buttons())
    replies = await chat.tap("Cancel")
    assert any("No PIN is set" in r for r in replies), replies
    # The PIN step is over: a number is now just text, not a PIN.
    replies = await chat.say("1234")
    assert not any("PIN set" in r for r in replies), replies


async def test_tour_25_the_right_pin_opens_my_requests_at_once(chat: Chat) -> None:
    """After the right PIN, "My requests" itself: no "Unlocked." screen to tap through."""
    code = await submit(chat, "Private words.")
    await chat.say("/privacy")
    await chat.tap("PIN for")
    await chat.tap("Set a PIN")
    await chat.say("2580")
    await chat.say("2580")
    (prompt,) = await chat.say("/requests")
    assert "locked" in prompt and code not in prompt
    (wrong,) = await chat.say("1111")
    assert "not right" in wrong and code not in wrong
    (opened,) = await chat.say("2580")
    assert "Unlocked" in opened and code in opened, opened
    assert any(code in b for b in chat.buttons())
    # A later number is just text again, not a PIN.
    replies = await chat.say("2580")
    assert not any("Unlocked" in r for r in replies), replies


async def test_tour_25_an_old_request_button_opens_that_request_after_the_pin(
    chat: Chat,
) -> None:
    """An old "open request" button asks for the PIN, then shows that request at once."""
    code = await submit(chat, "Private words.")
    await chat.say("/privacy")
    await chat.tap("PIN for")
    await chat.tap("Set a PIN")
    await chat.say("97531")
    await chat.say("97531")  # a new PIN: "My requests" is locked from now on
    replies = await chat.tap_data(f"rq:o:{code}")
    assert any("locked" in r for r in replies) and not any("Private words." in r for r in replies)
    (opened,) = await chat.say("97531")
    assert f"Request {code}" in opened and "Private words." in opened, opened


@pytest.mark.settings(flood_limit=0)
async def test_tour_11_text_typed_after_a_command_goes_into_the_request(chat: Chat) -> None:
    """/help while writing, then the request typed straight away (no "Go on writing" tap):
    it becomes the preview, not a guide search; in the Guides section text is a search again."""
    await start_writing(chat)
    await chat.say("/help")
    replies = await chat.say("Police took my papers.")
    assert any("Check your request" in r and "Police took my papers." in r for r in replies)
    await chat.tap("Cancel")
    await start_writing(chat)
    await chat.say("/guides")
    replies = await chat.say("decriminalisation")
    assert not any("Check your request" in r for r in replies), replies
