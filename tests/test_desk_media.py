"""Photos and voice notes in a request, both ways (issue 15 item 3), through the production
dispatcher, the outbox worker and the stateful fake Bot API (copyMessage)."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy import func, select

from bot.app import App
from bot.devtools.localapi import FakeTelegram
from bot.referrals.outbox import Delivery
from bot.telegram.intake import Intake
from storage.models import Member, OutboxKind, OutboxMessage, Relay
from tests.fakes import Chat
from tests.referral_kit import Group, submit, worker


@pytest.fixture
def group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake) -> Group:
    return Group(telegram, bot, dp, intake, title="ASWA staff")


@pytest.fixture
def delivery(app: App, bot: Bot) -> Delivery:
    return worker(app, bot)


async def answered(chat: Chat, group: Group, delivery: Delivery) -> tuple[str, dict[str, Any]]:
    """A request whose card is in the group and which staff answered; returns its code and
    the staff reply as the member sees it."""
    await group.bind("aswa")
    code = await submit(chat, "My landlord took my papers.")
    await delivery.drain()
    await group.say("We can help. Tell us more.", reply_to=group.card(code)["message_id"])
    await delivery.drain()
    reply = chat.last_bot_message()
    assert "We can help" in reply["text"]
    chat.new_texts()
    return code, reply


async def send_media(chat: Chat, kind: str, **options: Any) -> list[str]:
    raw = chat.telegram.user_media(chat.person, kind, **options)
    await chat.feed(raw)
    return chat.new_texts()


def copies(telegram: FakeTelegram, chat_id: int) -> list[dict[str, Any]]:
    return [
        e.message
        for e in telegram.events
        if e.kind == "sent" and e.chat_id == chat_id and e.message and "text" not in e.message
    ]


async def media_rows(app: App) -> list[OutboxMessage]:
    async with app.sessions() as session:
        query = select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.MEDIA)
        return list((await session.scalars(query)).all())


async def test_desk_voice_note_reaches_group(
    chat: Chat, group: Group, delivery: Delivery, app: App, telegram: FakeTelegram
) -> None:
    """A member's voice note, answering the network's message, reaches the group as the same
    voice message, copied (no forward header, no name), with the request's number, as a reply
    to the card; where it was is erased once delivered."""
    code, reply = await answered(chat, group, delivery)
    replies = await send_media(chat, "voice", reply_to=reply["message_id"])
    assert replies == [f"Sent to ASWA (request {code})."]
    await delivery.drain()

    (copy,) = copies(telegram, group.chat_id)
    original = telegram.messages[(chat.chat_id, reply["message_id"] + 1)]
    assert copy["voice"] == original["voice"]  # the same file: nothing uploaded again
    assert code in copy["caption"] and "sent:" in copy["caption"]
    assert copy["reply_to_message"]["message_id"] == group.card(code)["message_id"]
    assert "forward_origin" not in copy and copy["from"]["is_bot"]
    assert chat.person["first_name"] not in copy["caption"]
    (call,) = telegram.sent("copyMessage", group.chat_id)
    assert int(call.params["from_chat_id"]) == chat.chat_id
    assert not telegram.sent("sendVoice") and not telegram.sent("forwardMessage")
    async with app.sessions() as session:
        bodies = (await session.scalars(select(Relay.body))).all()
    assert bodies and all(body is None for body in bodies)  # nothing kept after delivery


async def test_desk_staff_voice_reply_anonymous(
    chat: Chat, group: Group, delivery: Delivery, app: App, telegram: FakeTelegram
) -> None:
    """A staff voice reply to the card reaches the member without the staff member's name,
    as a copy with the network and the request number; /exit deletes it from the member's
    chat like any other relayed message."""
    await group.bind("aswa")
    code = await submit(chat, "Where can I get tested?")
    await delivery.drain()
    raw = telegram.user_media(
        group.person, "voice", chat_id=group.chat_id, reply_to=group.card(code)["message_id"]
    )
    await group.feed(raw)
    await delivery.drain()

    (copy,) = copies(telegram, chat.chat_id)
    assert copy["voice"]["file_unique_id"] == raw["message"]["voice"]["file_unique_id"]
    assert code in copy["caption"] and "Reply from" in copy["caption"]
    assert group.person["first_name"] not in str(copy)  # "Dana" appears nowhere
    assert "forward_origin" not in copy and copy.get("has_protected_content")
    assert [b["text"] for b in telegram.buttons(chat.chat_id, copy["message_id"])] == ["↩️ Reply"]
    (call,) = telegram.sent("copyMessage", chat.chat_id)
    assert int(call.params["from_chat_id"]) == group.chat_id
    assert telegram.sent("setMessageReaction", group.chat_id)  # staff see it was taken

    # The member answers the voice note by quoting it: the answer reaches the group.
    await chat.say("Thank you!", reply_to=copy["message_id"])
    await delivery.drain()
    assert any("Thank you!" in m.get("text", "") for m in group.bot_messages())

    await chat.say("/exit")
    deleted = {
        int(i)
        for c in telegram.sent("deleteMessages", chat.chat_id)
        for i in c.params["message_ids"]
    }
    assert copy["message_id"] in deleted


async def test_desk_forget_deletes_relayed_media_in_the_members_chat(
    chat: Chat, group: Group, delivery: Delivery, app: App, telegram: FakeTelegram
) -> None:
    """/forget, like /exit, deletes a staff photo relayed to the member (issue 15 item 3), and
    keeps nothing that could copy it again."""
    await group.bind("aswa")
    code = await submit(chat, "Is this the right clinic?")
    await delivery.drain()
    raw = telegram.user_media(
        group.person, "photo", chat_id=group.chat_id, reply_to=group.card(code)["message_id"]
    )
    await group.feed(raw)
    await delivery.drain()
    (copy,) = copies(telegram, chat.chat_id)

    await chat.say("/forget")
    await chat.tap("Yes, delete everything")
    deleted = {
        int(i)
        for c in telegram.sent("deleteMessages", chat.chat_id)
        for i in c.params["message_ids"]
    } | {int(c.params["message_id"]) for c in telegram.sent("deleteMessage", chat.chat_id)}
    assert copy["message_id"] in deleted
    # The delivered row remembers neither the member's chat nor where the photo came from.
    (row,) = await media_rows(app)
    assert row.sent_chat_hash is None and row.sent_chat_sealed is None and row.message_id is None
    assert row.params_sealed is None


async def test_desk_first_photo_warned_once(
    chat: Chat, group: Group, delivery: Delivery, app: App, telegram: FakeTelegram
) -> None:
    """Before the first photo the member is told what a photo can reveal and asked again;
    "No" sends nothing; "Yes" sends it; the next photo goes without asking."""
    code, reply = await answered(chat, group, delivery)
    (warning,) = await send_media(chat, "photo", reply_to=reply["message_id"], caption="Here")
    assert "Faces, tattoos" in warning and code in warning
    assert not await media_rows(app)
    await chat.tap("No, do not send")
    await delivery.drain()
    assert not copies(telegram, group.chat_id)

    await send_media(chat, "photo", reply_to=reply["message_id"], caption="The letter")
    (sent,) = await chat.tap("Yes, send the photo")
    assert sent == f"Sent to ASWA (request {code})."
    await delivery.drain()
    (copy,) = copies(telegram, group.chat_id)
    assert "photo" in copy and "The letter" in copy["caption"] and code in copy["caption"]

    # Warned once: the next photo (after tapping Reply in My requests) goes straight away.
    await chat.say("/requests")
    await chat.tap(code)
    await chat.tap("Reply")
    assert await send_media(chat, "photo") == [f"Sent to ASWA (request {code})."]
    await delivery.drain()
    assert len(copies(telegram, group.chat_id)) == 2
    async with app.sessions() as session:
        assert await session.scalar(select(Member.photo_warned)) is True


async def test_desk_video_refused(
    chat: Chat, group: Group, delivery: Delivery, app: App, telegram: FakeTelegram
) -> None:
    """A 60 MB video, a file, a sticker: refused with the reason and what to do instead;
    nothing queued, nothing sent; the request goes on. Staff files are refused too."""
    code, reply = await answered(chat, group, delivery)
    for kind, size in (("video", 60 * 1024 * 1024), ("document", 20_000), ("video_note", 900)):
        (refusal,) = await send_media(chat, kind, reply_to=reply["message_id"], size=size)
        assert "Not sent" in refusal and "hidden details" in refusal
        assert "photo" in refusal and "voice note" in refusal  # what to do instead
    await delivery.drain()
    assert not copies(telegram, group.chat_id) and not await media_rows(app)
    # Nothing lost: the conversation goes on with text.
    await chat.say("Here it is in words.", reply_to=reply["message_id"])
    await delivery.drain()
    assert any("Here it is in words." in m.get("text", "") for m in group.bot_messages())

    raw = telegram.user_media(
        group.person, "document", chat_id=group.chat_id, reply_to=group.card(code)["message_id"]
    )
    await group.feed(raw)
    await delivery.drain()
    assert "Not passed on" in group.bot_messages()[-1]["text"]
    assert not copies(telegram, chat.chat_id) and not await media_rows(app)
    # Outside a request a photo is neither kept nor passed on, and the member is told where.
    (answer,) = await send_media(chat, "photo")
    assert "/requests" in answer


async def test_desk_photo_in_withdrawn_request(
    chat: Chat, group: Group, delivery: Delivery, app: App, telegram: FakeTelegram
) -> None:
    """A photo for a request that was withdrawn meanwhile (even after the warning was
    confirmed): a clear message, nothing sent; a voice note replayed three times by Telegram
    is sent once."""
    code, reply = await answered(chat, group, delivery)
    raw = telegram.user_media(chat.person, "voice", reply_to=reply["message_id"])
    for _ in range(3):
        await chat.feed(raw)
        await delivery.drain()
    assert len(copies(telegram, group.chat_id)) == 1

    await send_media(chat, "photo", reply_to=reply["message_id"])  # the warning is shown
    warning = chat.last_bot_message()
    await chat.say("/requests")
    await chat.tap(code)
    await chat.tap("Withdraw")
    await chat.tap("Yes, withdraw")
    (told,) = await chat.tap("Yes, send the photo", message=warning)
    assert f"Request {code} is withdrawn" in told

    (again,) = await send_media(chat, "photo", reply_to=reply["message_id"])
    assert f"Request {code} is withdrawn" in again
    await delivery.drain()
    assert len(copies(telegram, group.chat_id)) == 1
    async with app.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == OutboxKind.MEDIA)
        )
    assert count == 1


async def test_desk_deleted_request_takes_media_off_the_group(
    chat: Chat, group: Group, delivery: Delivery, app: App, telegram: FakeTelegram
) -> None:
    """A member who deletes the request takes their voice note out of the staff group too
    (the text relays are edited to a notice; a voice message cannot be, so it is deleted)."""
    code, reply = await answered(chat, group, delivery)
    await send_media(chat, "voice", reply_to=reply["message_id"])
    await delivery.drain()
    (copy,) = copies(telegram, group.chat_id)
    assert (group.chat_id, copy["message_id"]) in telegram.messages

    await chat.say("/requests")
    await chat.tap(code)
    await chat.tap("Delete")
    await chat.tap("Yes, delete it")
    await delivery.drain()
    assert (group.chat_id, copy["message_id"]) not in telegram.messages
    (call,) = telegram.sent("deleteMessage", group.chat_id)
    assert int(call.params["message_id"]) == copy["message_id"]
