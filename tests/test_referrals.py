"""Ask a network, end to end: a member chat, a staff group, the delivery worker, FakeTelegram."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy import select

from bot.app import App
from bot.devtools.localapi import FakeTelegram
from bot.telegram.intake import Intake
from storage.models import OutboxMessage, Referral
from tests.fakes import Chat
from tests.referral_kit import Group, staff, submit, texts_to, worker


@pytest.fixture
def group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake) -> Group:
    return Group(telegram, bot, dp, intake, title="ASWA staff")


async def test_request_reply_answer_close_end_to_end(
    chat: Chat, group: Group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """Submit -> card -> staff reply -> member gets it -> member answers -> reply to the card ->
    close -> the member sees "closed"."""
    await group.bind("aswa")
    delivery = worker(app, bot)
    code = await submit(chat, "I need a lawyer after a police raid.")
    await delivery.drain()

    card = group.card(code)
    assert "I need a lawyer after a police raid." in card["text"]
    assert "Kenya" in card["text"] and "Legal help" in card["text"]
    assert re.search(r"Member [0-9A-Z]{6}", card["text"])

    await group.say("We can help. Which city are you in?", reply_to=card["message_id"])
    await delivery.drain()
    relayed = chat.new_texts()
    assert any(
        "Reply from African Sex Workers Alliance" in t and "Which city are you in?" in t
        for t in relayed
    ), relayed

    await chat.tap("Reply")
    replies = await chat.say("Nairobi, thank you.")
    assert any("Sent to" in r for r in replies), replies
    await delivery.drain()
    answer = [m for m in group.bot_messages() if "Nairobi, thank you." in m["text"]]
    assert len(answer) == 1
    assert answer[0]["reply_to_message"]["message_id"] == card["message_id"]

    await group.tap(card["message_id"], group.button(card, "Close"))
    await delivery.drain()
    assert any("closed" in t for t in chat.new_texts())
    (listing,) = await chat.say("/requests")
    assert code in listing and "closed" in listing
    # Members' words are never forwarded or copied: a forward can reveal their account.
    assert not telegram.sent("forwardMessage") and not telegram.sent("copyMessage")


async def test_member_answers_by_quoting_the_relayed_reply(
    chat: Chat, group: Group, app: App, bot: Bot
) -> None:
    """Replying (quoting) to the relayed message also reaches the group, threaded on the card."""
    await group.bind("aswa")
    delivery = worker(app, bot)
    code = await submit(chat, "Where can I get PrEP?", need="HIV")
    await delivery.drain()
    card = group.card(code)
    await group.say("Try the clinic on Main Street.", reply_to=card["message_id"])
    await delivery.drain()
    relayed = chat.last_bot_message()
    await chat.say("Is it open on Sundays?", reply_to=relayed["message_id"])
    await delivery.drain()
    (answer,) = [m for m in group.bot_messages() if "open on Sundays" in m["text"]]
    assert answer["reply_to_message"]["message_id"] == card["message_id"]


async def test_card_shows_markup_literally(chat: Chat, group: Group, app: App, bot: Bot) -> None:
    """Member text with <b>, & and <script> appears literally in the group card (R16)."""
    await group.bind("aswa")
    text = "<b>bold?</b> Tom & Jerry <script>alert(1)</script> a<b"
    code = await submit(chat, text)
    await worker(app, bot).drain()
    card = group.card(code)
    assert text in card["text"]
    assert "<script>" not in card["html"]


async def test_staff_payloads_hold_no_member_identifiers(
    new_chat, group: Group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:  # type: ignore[no-untyped-def]
    """Nothing sent to the group carries the member's id, username or name (R24)."""
    member = new_chat("en", first_name="Zoraida", last_name="Quintero", username="zq_secret")
    await group.bind("aswa")
    delivery = worker(app, bot)
    code = await submit(member, "Please call me back.")
    await delivery.drain()
    card = group.card(code)
    await group.say("Of course.", reply_to=card["message_id"])
    await delivery.drain()
    await member.tap("Reply")
    await member.say("Thanks!")
    await delivery.drain()
    person = member.person
    forbidden = re.compile(
        "|".join(
            re.escape(str(v))
            for v in (person["id"], person["username"], person["first_name"], "Quintero")
        )
    )
    staff_calls = [c for c in telegram.calls if str(c.params.get("chat_id")) == str(group.chat_id)]
    assert len(staff_calls) >= 3
    for call in staff_calls:
        assert not forbidden.search(repr(call.params)), call.method


async def test_username_is_shared_only_when_chosen(
    new_chat, group: Group, app: App, bot: Bot, settings
) -> None:  # type: ignore[no-untyped-def]
    """The @username reaches the card only after the toggle; it is stored sealed, not in clear."""
    await group.bind("aswa")
    delivery = worker(app, bot)
    member = new_chat("en", username="open_handle")
    code = await submit(member, "Share it please.", share_username=True)
    other = new_chat("en", username="hidden_handle")
    code2 = await submit(other, "Do not share it.")
    await delivery.drain()
    assert "@open_handle" in group.card(code)["text"]
    assert "hidden_handle" not in group.card(code2)["text"]


async def test_too_long_message_is_kept_for_editing(chat: Chat, app: App) -> None:
    """Over 2,000 characters: a clear message with the count, the text echoed back escaped,
    and the next, shorter text still gets to the preview."""
    await chat.say("/ask")
    await chat.tap("Legal help")
    replies = await chat.say("Kenya")
    if any("remember" in r for r in replies):
        await chat.tap("No, just this time")
    long_text = "<i>x</i> & " + "y" * 2100
    replies = await chat.say(long_text)
    assert any("2,111 characters" in r and "2,000" in r for r in replies), replies
    assert long_text in replies
    replies = await chat.say("Short now.")
    assert any("Check your request" in r for r in replies)
    async with app.sessions() as session:
        assert await session.scalar(select(Referral)) is None


async def test_photo_while_writing_is_refused(chat: Chat) -> None:
    """A photo instead of the message: nothing passed on, the step stays open."""
    await chat.say("/ask")
    await chat.tap("Legal help")
    replies = await chat.say("Kenya")
    if any("remember" in r for r in replies):
        await chat.tap("No, just this time")
    photo = [{"file_id": "P1", "file_unique_id": "u2", "width": 1, "height": 1}]
    (reply,) = await chat.send(photo=photo)
    assert "as text" in reply
    replies = await chat.say("Now in words.")
    assert any("Check your request" in r for r in replies)


async def test_cancel_sends_nothing(chat: Chat, app: App) -> None:
    """Cancel on the preview: nothing stored, nothing queued."""
    await chat.say("/ask")
    await chat.tap("Legal help")
    replies = await chat.say("Kenya")
    if any("remember" in r for r in replies):
        await chat.tap("No, just this time")
    await chat.say("Never mind.")
    replies = await chat.tap("Cancel")
    assert any("Nothing was sent" in r for r in replies)
    async with app.sessions() as session:
        assert await session.scalar(select(OutboxMessage)) is None


async def test_consent_tap_twice_makes_one_referral(chat: Chat, app: App) -> None:
    """A second tap on the old Send button (or a replayed update) makes no second request."""
    await chat.say("/ask")
    await chat.tap("Legal help")
    replies = await chat.say("Kenya")
    if any("remember" in r for r in replies):
        await chat.tap("No, just this time")
    await chat.say("Once only.")
    preview = chat.last_bot_message()
    data = next(
        b["callback_data"]
        for b in chat.telegram.buttons(chat.chat_id, preview["message_id"])
        if "Send" in b["text"]
    )
    await chat.tap_data(data, preview["message_id"])
    replies = await chat.tap_data(data, preview["message_id"])
    assert any("already sent" in r for r in replies)
    async with app.sessions() as session:
        assert len((await session.scalars(select(Referral))).all()) == 1


async def test_callback_from_another_group_is_refused(
    chat: Chat,
    group: Group,
    telegram: FakeTelegram,
    bot: Bot,
    dp: Dispatcher,
    intake: Intake,
    app: App,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Claim pressed in group B on a card routed to group A: refused and logged, without ids
    (R22)."""
    await group.bind("aswa")
    other = Group(telegram, bot, dp, intake, title="APNSW staff")
    await other.bind("apnsw")
    code = await submit(chat, "Help in Kenya.")
    await worker(app, bot).drain()
    card = group.card(code)
    caplog.set_level(logging.INFO)
    await other.tap(card["message_id"], group.button(card, "Claim"))
    assert any(
        "does not work in this group" in e.text for e in telegram.events if e.kind == "alert"
    )
    refusals = [r for r in caplog.records if "refused a card button" in r.getMessage()]
    assert refusals
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("bot")]
    assert not [m for m in ours if str(other.chat_id) in m or str(chat.chat_id) in m]
    async with app.sessions() as session:
        referral = await session.scalar(select(Referral))
    assert referral is not None and referral.state == "delivered"
    # A staff reply from the wrong group is not relayed either.
    await other.say("I am not their network.", reply_to=card["message_id"])
    await worker(app, bot).drain()
    assert not any("not their network" in t for t in texts_to(telegram, chat.chat_id))


async def test_non_admin_bind_is_refused(group: Group, app: App, telegram: FakeTelegram) -> None:
    """/bind and /unbind from anyone not in ADMIN_IDS: refused, nothing stored (R23)."""
    stranger = staff("Eve")
    await group.say("/bind aswa", user=stranger)
    await group.say("/unbind", user=stranger)
    refusals = [t for t in texts_to(telegram, group.chat_id) if "Only the bot's admins" in t]
    assert len(refusals) == 2
    from storage.models import NetworkGroup

    async with app.sessions() as session:
        assert await session.scalar(select(NetworkGroup)) is None


async def test_bind_unknown_network_and_in_private(
    group: Group, telegram: FakeTelegram, new_chat
) -> None:  # type: ignore[no-untyped-def]
    """/bind with a wrong id lists the networks; /bind in private explains where to send it."""
    await group.bind("atlantis")
    assert any(
        "aswa" in t and "Please name a network" in t for t in texts_to(telegram, group.chat_id)
    )
    from tests.conftest import ADMIN_ID

    admin = new_chat("en", user_id=ADMIN_ID)
    (reply,) = await admin.say("/bind aswa")
    assert "staff group" in reply


async def test_group_chatter_is_ignored(group: Group, telegram: FakeTelegram) -> None:
    """Ordinary messages and replies to non-card messages in a group get no answer (R32)."""
    await group.bind("aswa")
    before = len(texts_to(telegram, group.chat_id))
    await group.say("hello everyone")
    bound_reply = group.bot_messages()[-1]
    await group.say("thanks bot", reply_to=bound_reply["message_id"])
    assert len(texts_to(telegram, group.chat_id)) == before


async def test_other_members_cannot_act_on_a_request(
    new_chat, group: Group, app: App, bot: Bot
) -> None:  # type: ignore[no-untyped-def]
    """Forged callback data naming someone else's request is refused kindly."""
    await group.bind("aswa")
    owner, intruder = new_chat("en"), new_chat("en")
    code = await submit(owner, "Mine.")
    await worker(app, bot).drain()
    for op in ("o", "w", "wy", "d", "dy", "r"):
        await intruder.say("/menu")
        replies = await intruder.tap_data(f"rq:{op}:{code}")
        assert any("not available" in r for r in replies), op
    async with app.sessions() as session:
        referral = await session.scalar(select(Referral))
    assert referral is not None and referral.state == "delivered"


async def test_first_update_of_the_day_sends_and_answers(
    chat: Chat, group: Group, app: App, bot: Bot
) -> None:
    """A member last seen yesterday (their row is rewritten by this update) can still send and
    answer at once: no transaction waits on another."""
    from sqlalchemy import update

    from storage.models import Member

    async def yesterday() -> None:
        async with app.sessions.begin() as session:
            await session.execute(
                update(Member).values(last_seen_on=dt.date.today() - dt.timedelta(days=1))
            )

    await group.bind("aswa")
    delivery = worker(app, bot)
    await chat.say("/ask")
    await chat.tap("Legal help")
    replies = await chat.say("Kenya")
    if any("remember" in r for r in replies):
        await chat.tap("No, just this time")
    await chat.say("A new day.")
    await yesterday()
    replies = await chat.tap("Send to the network")
    assert any("Sent." in r for r in replies)
    await delivery.drain()
    (card,) = group.cards()
    await group.say("Hello.", reply_to=card["message_id"])
    await delivery.drain()
    relayed = chat.last_bot_message()
    await yesterday()
    replies = await chat.say("Hi back.", reply_to=relayed["message_id"])
    assert any("Sent to" in r for r in replies)


async def test_unbound_group_can_no_longer_answer(
    chat: Chat, group: Group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """After /unbind, a reply to an old card is refused in the group and never relayed (R22)."""
    await group.bind("aswa")
    delivery = worker(app, bot)
    code = await submit(chat, "Before the unbind.")
    await delivery.drain()
    card = group.card(code)
    await group.say("/unbind", user=group.admin)
    assert any("no longer receives" in t for t in texts_to(telegram, group.chat_id))
    await group.say("Too late?", reply_to=card["message_id"])
    await delivery.drain()
    assert any("no longer handles" in t for t in texts_to(telegram, group.chat_id))
    assert not any("Too late?" in t for t in texts_to(telegram, chat.chat_id))
    await group.tap(card["message_id"], group.button(card, "Close"))
    assert any("does not work in this group" in e.text for e in telegram.events)


async def test_referral_messages_are_protected_and_escaped(
    chat: Chat, group: Group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """Cards and relays go out with protect_content (R30); staff markup reaches the member
    literally (R16)."""
    await group.bind("aswa")
    delivery = worker(app, bot)
    code = await submit(chat, "Protected?")
    await delivery.drain()
    staff_text = "Use <b>this</b> & <a href='x'>that</a> <script>"
    await group.say(staff_text, reply_to=group.card(code)["message_id"])
    await delivery.drain()
    assert any(staff_text in t for t in chat.new_texts())
    sends = [
        c
        for c in telegram.sent("sendMessage")
        if code in str(c.params.get("text"))
        and c.params.get("chat_id")
        in (str(chat.chat_id), str(group.chat_id), chat.chat_id, group.chat_id)
    ]
    assert len(sends) == 2
    assert all(str(c.params.get("protect_content")).lower() == "true" for c in sends)


async def test_failure_after_the_insert_stores_neither_row(
    chat: Chat, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outbox insert fails after the referral's: both roll back, and the member is told
    of an error, never "sent" (R4)."""
    from storage.repositories import OutboxRepo

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    await chat.say("/ask")
    await chat.tap("Legal help")
    replies = await chat.say("Kenya")
    if any("remember" in r for r in replies):
        await chat.tap("No, just this time")
    await chat.say("Will this be stored?")
    monkeypatch.setattr(OutboxRepo, "enqueue", broken)
    replies = await chat.tap("Send to the network")
    assert not any("Sent." in r for r in replies)
    assert any("went wrong" in r for r in replies)
    async with app.sessions() as session:
        assert await session.scalar(select(Referral)) is None
        assert await session.scalar(select(OutboxMessage)) is None
