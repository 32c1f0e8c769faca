"""The staff group side: cards with Claim and Close, and staff answering by replying to a card.

Group privacy mode stays on (R32): the bot sees commands, and replies to its own messages, and
nothing else of the group. A reply to a card, or to a member's relayed answer, reaches the member
as "Reply from <network>"; anything else in a group is ignored without a word.

Authorisation (R22): a group may act on a referral only when it is the group currently bound to
the network the card went to (or the fallback group, for escalated referrals). Callback data
names a referral code and nothing else; it grants nothing by itself. Refusals are logged
without ids.
"""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.types import (
    CallbackQuery,
    InaccessibleMessage,
    Message,
    ReactionTypeEmoji,
    Update,
)
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.config import Settings
from bot.desk.service import card_history
from bot.directory.model import Directory
from bot.i18n import _
from bot.referrals.access import (
    STAFF_REPLY_LIMIT,
    acted_on_card,
    chat_of,
    group_language,
    refused_reply,
)
from bot.referrals.callbacks import CardAction, CardOp
from bot.referrals.service import Referrals, open_body, ring_after_commit
from bot.referrals.texts import card_markup, card_text, card_view
from bot.telegram.html import utf16_len
from bot.ui.localise import fill, here
from bot.ui.screens import ack
from storage.models import Member, Referral
from storage.repositories import GroupRepo, KeyRepo, OutboxRepo, ReferralRepo

router = Router(name=__name__)
router.message.filter(F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP}))
router.callback_query.filter(F.message.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP}))
log = logging.getLogger(__name__)


async def render_card(
    session: AsyncSession,
    app: App,
    directory: Directory,
    referral: Referral,
    claimed_by: str | None = None,
    lang: str | None = None,
) -> str:
    member = await session.get(Member, referral.member_id) if referral.member_id else None
    sealer = await KeyRepo(session, app.sealer).get(member.id) if member is not None else None
    lang = lang or app.settings.default_language
    history = await card_history(session, directory, referral, sealer)  # bot/desk transfers
    view = card_view(
        directory, referral, member, open_body(sealer, referral), lang, history=history
    )
    return card_text(view, claimed_by=claimed_by)


@router.message(F.migrate_to_chat_id)
async def group_upgraded(message: Message, session: AsyncSession) -> None:
    """The old group's last word: follow the binding to the new supergroup (R10)."""
    if message.migrate_to_chat_id is not None:
        moved = await GroupRepo(session).migrate(message.chat.id, message.migrate_to_chat_id)
        if moved:
            log.info("a bound group became a supergroup; the binding follows it")


@router.message(F.migrate_from_chat_id)
async def supergroup_created(message: Message, session: AsyncSession) -> None:
    if message.migrate_from_chat_id is not None:
        await GroupRepo(session).migrate(message.migrate_from_chat_id, message.chat.id)


@router.message(F.reply_to_message.from_user.is_bot)
async def staff_reply(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    app: App,
    settings: Settings,
    i18n: I18n,
    event_update: Update,
) -> None:
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
            return  # a reply to one of the bot's other messages (/bind's answer, a reminder)
        if await refused_reply(message, session, referral, "a staff reply"):
            return
        text = message.text
        if text is None:
            await message.reply(
                _(
                    "Only text, photos and voice notes are passed on to members. Please write "
                    "it out."
                )
            )
            return
        if utf16_len(text) > STAFF_REPLY_LIMIT:
            await message.reply(
                fill(
                    _(
                        "This reply has {count} characters; members can get up to {limit} at "
                        "a time. Please split it into shorter replies."
                    ),
                    here(),
                    count=utf16_len(text),
                    limit=STAFF_REPLY_LIMIT,
                )
            )
            return
        if await Referrals(session, app).staff_reply(referral, text, event_update.update_id):
            ring_after_commit(session, app)
    # A quiet acknowledgement: the reply is queued for the member.
    with contextlib.suppress(TelegramAPIError):
        await bot.set_message_reaction(
            message.chat.id, message.message_id, [ReactionTypeEmoji(emoji="👍")]
        )


async def refresh_cards(
    message: InaccessibleMessage | Message,
    session: AsyncSession,
    app: App,
    directory: Directory,
    referral: Referral,
    claimed_by: str | None = None,
) -> None:
    """Edit the pressed card now; other copies (an escalation) follow through the outbox."""
    service = Referrals(session, app)
    others = [
        card
        for card in await service.posted_cards(referral.id)
        if (card.sent_chat_id, card.message_id) != (message.chat.id, message.message_id)
    ]
    await service.enqueue_card_edits(referral, others)
    ring_after_commit(session, app)
    lang = await group_language(session, message.chat.id, app.settings)
    text = await render_card(session, app, directory, referral, claimed_by=claimed_by, lang=lang)
    if isinstance(message, Message):
        with contextlib.suppress(TelegramAPIError):
            await message.edit_text(text, reply_markup=card_markup(referral.code, referral.state))


@router.callback_query(CardAction.filter(F.op == CardOp.CLAIM))
async def claim_card(
    query: CallbackQuery,
    callback_data: CardAction,
    session: AsyncSession,
    app: App,
    settings: Settings,
    directory: Directory,
    i18n: I18n,
) -> None:
    with i18n.use_locale(await group_language(session, chat_of(query), settings)):
        if (found := await acted_on_card(query, callback_data, session)) is None:
            return
        referral, message = found
        if not await Referrals(session, app).claim(referral):
            await ack(query, _("Already claimed, closed or withdrawn."))
            return
        await ack(query, _("Claimed."))
        name = query.from_user.first_name if query.from_user else None
        await refresh_cards(message, session, app, directory, referral, claimed_by=name)


@router.callback_query(CardAction.filter(F.op == CardOp.CLOSE))
async def close_card(
    query: CallbackQuery,
    callback_data: CardAction,
    session: AsyncSession,
    app: App,
    settings: Settings,
    directory: Directory,
    i18n: I18n,
) -> None:
    with i18n.use_locale(await group_language(session, chat_of(query), settings)):
        if (found := await acted_on_card(query, callback_data, session)) is None:
            return
        referral, message = found
        if not await Referrals(session, app).close(referral):
            await ack(query, _("Already closed or withdrawn."))
            return
        await ack(query, _("Closed. The member is told."))
        await refresh_cards(message, session, app, directory, referral)


@router.callback_query()
async def unknown_group_button(query: CallbackQuery) -> None:
    await ack(query, _("This button does not work any more."))


@router.message()
async def ignore_group_chatter(message: Message) -> None:
    """Privacy mode lets little through; whatever does, and is not a reply, stays unanswered."""
