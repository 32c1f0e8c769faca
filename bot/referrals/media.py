"""Photos and voice notes in an open request, both ways (issue 15 item 3).

A member's photo or voice note, sent as an answer (quoting a network's message, or after
tapping "Reply"), and a staff member's photo or voice note replying to a card or to a member's
message, are queued in the outbox like text. The worker copies the original message
(`copyMessage`: no forward header, no sender's name, the file is not uploaded again) with a
caption carrying the request number. Until then only where the original is (chat and message
id, sealed with the member's key) is stored, and that is erased once it is delivered.

Before a member's first photo the bot says once what a photo can give away and asks again.
Videos, video messages, files, music, GIFs and stickers are refused with the reason: they can
carry hidden details (place, time, device), and Telegram does not strip them as it does from
photos. What else arrives (a location, a poll) is left to the text handlers.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import logging

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReactionTypeEmoji, Update
from aiogram.utils.i18n import I18n
from aiogram.utils.keyboard import InlineKeyboardBuilder
from cryptography.exceptions import InvalidTag
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.config import Settings
from bot.directory.model import Directory
from bot.i18n import _
from bot.referrals.access import group_language, refused_reply
from bot.referrals.member import ANSWER, Answer, locked_answer, reply_target, short_name
from bot.referrals.service import OPEN_STATES, Media, Referrals, ring_after_commit
from bot.referrals.texts import member_state_label, network_label
from bot.safety.pin import pin_open
from bot.telegram.html import utf16_len
from bot.ui.keyboards import main_menu
from bot.ui.localise import fill, here
from bot.ui.screens import show
from storage.crypto import Sealer
from storage.models import Member, Referral
from storage.repositories import OutboxRepo, ReferralRepo

router = Router(name=__name__)
log = logging.getLogger(__name__)

GROUPS = {ChatType.GROUP, ChatType.SUPERGROUP}
PASSED_ON = F.photo | F.voice
REFUSED = F.video | F.video_note | F.document | F.audio | F.animation | F.sticker
# The caption goes under a header of about 100 characters; Telegram takes 1,024 in all.
CAPTION_LIMIT = 800
# A photo waiting for the member's yes after the warning, sealed with the master key.
PENDING_MEDIA = "media_pending"
PENDING_AAD = b"media-pending"


class MediaStep(CallbackData, prefix="md"):
    """After the photo warning: send ("y") or drop ("n") the waiting photo."""

    op: str


def kind_of(message: Message) -> str:
    return "photo" if message.photo else "voice"


def refused_text() -> str:
    return "⚠️ " + _(
        "Not sent: videos, video messages, files, music, GIFs and stickers are not passed on, "
        "because they can carry hidden details such as where, when and on which phone they "
        "were made. Send a photo (a screenshot works) or a voice note instead, or write it out."
    )


def caption_too_long(count: int) -> str:
    return fill(
        _(
            "Not sent: the caption has {count} characters, and up to {limit} can go with a photo "
            "or voice note. Please send it with a shorter caption, and the rest as text."
        ),
        here(),
        count=count,
        limit=CAPTION_LIMIT,
    )


def photo_warning(network: str, code: str) -> str:
    return "\n\n".join(
        [
            "📷 <b>" + _("Before you send a photo") + "</b>",
            _(
                "Faces, tattoos, scars, clothes, rooms, windows and street signs can show who "
                "you are or where you are, even without your name. Crop or cover them first "
                "if you can. The network sees the photo, never your name."
            ),
            _("Send this photo to {network} (request {code})?").format(
                network=html.escape(network), code=code
            ),
        ]
    )


def sent_text(network: str, code: str) -> str:
    return _("Sent to {network} (request {code}).").format(
        network=html.escape(short_name(network)), code=code
    )


def seal_pending(sealer: Sealer, code: str, media: Media) -> str:
    raw = json.dumps(
        {"r": code, "k": media.kind, "c": media.chat_id, "m": media.message_id, "t": media.caption}
    )
    return base64.urlsafe_b64encode(sealer.seal(raw.encode(), PENDING_AAD)).decode()


def open_pending(sealer: Sealer, value: object) -> tuple[str, Media] | None:
    if not isinstance(value, str):
        return None
    try:
        data = json.loads(sealer.open(base64.urlsafe_b64decode(value.encode()), PENDING_AAD))
        media = Media(str(data["k"]), int(data["c"]), int(data["m"]), data.get("t"))
        return str(data["r"]), media
    except (InvalidTag, ValueError, KeyError):
        return None


# -- the member's side ---------------------------------------------------------------------------


async def answered_request(
    message: Message, state: FSMContext, member: Member | None, session: AsyncSession
) -> Referral | None:
    """The request this media answers: the quoted network message's, or the one whose
    "Reply" was tapped; None when it answers nothing (the text handlers take it)."""
    if member is None:
        return None
    quoted = await reply_target(message, member, session)
    if quoted is not None:
        return quoted
    if await state.get_state() != Answer.text.state:
        return None
    code = (await state.get_data()).get(ANSWER)
    return (
        await ReferralRepo(session).of_member(member.id, code) if isinstance(code, str) else None
    )


@router.message(F.chat.type == ChatType.PRIVATE, PASSED_ON | REFUSED)
async def member_media(
    message: Message,
    state: FSMContext,
    member: Member | None,
    session: AsyncSession,
    app: App,
    event_update: Update,
    directory: Directory,
) -> None:
    referral = await answered_request(message, state, member, session)
    if referral is None or member is None:
        raise SkipHandler
    if not await pin_open(session, member.id, app.safety.clock()):
        await message.answer(locked_answer(), reply_markup=main_menu())
        return
    if not (message.photo or message.voice):
        await message.answer(refused_text())
        return
    if referral.state not in OPEN_STATES:
        await message.answer(
            _("Request {code} is {state}: nothing more can be sent to the network.").format(
                code=referral.code, state=member_state_label(referral.state)
            ),
            reply_markup=main_menu(),
        )
        return
    caption = message.caption
    if caption is not None and utf16_len(caption) > CAPTION_LIMIT:
        await message.answer(caption_too_long(utf16_len(caption)))
        return
    media = Media(kind_of(message), message.chat.id, message.message_id, caption)
    network = network_label(directory, referral.group_network_id or referral.network_id)
    if media.kind == "photo" and not member.photo_warned:
        await state.update_data({PENDING_MEDIA: seal_pending(app.sealer, referral.code, media)})
        kb = InlineKeyboardBuilder()
        kb.button(text="📷 " + _("Yes, send the photo"), callback_data=MediaStep(op="y"))
        kb.button(text="✖️ " + _("No, do not send"), callback_data=MediaStep(op="n"))
        kb.adjust(1)
        await message.answer(photo_warning(network, referral.code), reply_markup=kb.as_markup())
        return
    if await Referrals(session, app).member_media(referral, media, event_update.update_id):
        ring_after_commit(session, app)
    await message.answer(sent_text(network, referral.code))


@router.callback_query(MediaStep.filter(F.op == "y"))
async def send_warned_photo(
    query: CallbackQuery,
    state: FSMContext,
    member: Member | None,
    session: AsyncSession,
    app: App,
    event_update: Update,
    directory: Directory,
) -> None:
    pending = open_pending(app.sealer, (await state.get_data()).get(PENDING_MEDIA))
    await state.update_data({PENDING_MEDIA: None})
    referral = (
        await ReferralRepo(session).of_member(member.id, pending[0])
        if pending is not None and member is not None
        else None
    )
    if pending is None or referral is None or member is None:
        await show(query, _("This button does not work any more."), main_menu())
        return
    if not await pin_open(session, member.id, app.safety.clock()):
        await show(query, locked_answer(), main_menu())
        return
    if referral.state not in OPEN_STATES:
        # Withdrawn while the question was open: nothing goes, and the member is told why.
        await show(
            query,
            _("Request {code} is {state}: nothing more can be sent to the network.").format(
                code=referral.code, state=member_state_label(referral.state)
            ),
            main_menu(),
        )
        return
    member.photo_warned = True
    if await Referrals(session, app).member_media(referral, pending[1], event_update.update_id):
        ring_after_commit(session, app)
    network = network_label(directory, referral.group_network_id or referral.network_id)
    await show(query, sent_text(network, referral.code))


@router.callback_query(MediaStep.filter(F.op == "n"))
async def drop_warned_photo(query: CallbackQuery, state: FSMContext) -> None:
    await state.update_data({PENDING_MEDIA: None})
    await show(
        query,
        _("Not sent. You can delete the photo from this chat, or use “Clear this chat”."),
        main_menu(),
    )


# -- the staff group's side ----------------------------------------------------------------------


@router.message(F.chat.type.in_(GROUPS), F.reply_to_message.from_user.is_bot, PASSED_ON | REFUSED)
async def staff_media(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    app: App,
    settings: Settings,
    i18n: I18n,
    event_update: Update,
) -> None:
    """A photo or voice note replying to a card (or a member's message) goes to the member,
    copied without the staff member's name; the same checks as a text reply (R22)."""
    replied = message.reply_to_message
    me = await bot.me()
    if replied is None or replied.from_user is None or replied.from_user.id != me.id:
        return
    with i18n.use_locale(await group_language(session, message.chat.id, settings)):
        posted = await OutboxRepo(session).posted(message.chat.id, replied.message_id)
        referral = (
            await ReferralRepo(session).get(posted.referral_id)
            if posted is not None and posted.referral_id is not None
            else None
        )
        if referral is None:
            return
        if await refused_reply(message, session, referral, "staff media"):
            return
        if not (message.photo or message.voice):
            await message.reply(
                _(
                    "Not passed on: videos, files, music, GIFs and stickers can carry hidden "
                    "details (place, time, device). Send a photo or a voice note, or write it out."
                )
            )
            return
        caption = message.caption
        if caption is not None and utf16_len(caption) > CAPTION_LIMIT:
            await message.reply(caption_too_long(utf16_len(caption)))
            return
        media = Media(kind_of(message), message.chat.id, message.message_id, caption)
        if await Referrals(session, app).staff_media(referral, media, event_update.update_id):
            ring_after_commit(session, app)
    with contextlib.suppress(TelegramAPIError):
        await bot.set_message_reaction(
            message.chat.id, message.message_id, [ReactionTypeEmoji(emoji="👍")]
        )
