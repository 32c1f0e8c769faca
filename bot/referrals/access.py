"""Who may act on a request from a staff group (R22, R23), shared by the staff side and the
desk (bot/desk): the groups serving a request, the group's language, admins."""

from __future__ import annotations

import logging

from aiogram.types import CallbackQuery, InaccessibleMessage, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.directory.model import GLOBAL
from bot.i18n import _
from bot.referrals.callbacks import CardAction
from bot.referrals.service import OPEN_STATES
from bot.ui.screens import ack
from storage.models import Referral
from storage.repositories import GroupRepo, ReferralRepo

log = logging.getLogger(__name__)

# The member reads a staff reply inside a longer message; keep the whole under 4,096.
STAFF_REPLY_LIMIT = 3500


async def serving_chats(session: AsyncSession, referral: Referral) -> set[int]:
    """The groups that may act on this referral right now."""
    groups = GroupRepo(session)
    chats: set[int] = set()
    routed = referral.group_network_id or referral.network_id
    networks = [routed] if routed is not None else []  # a tombstone: no group acts on it
    if referral.escalated_at is not None:
        networks.append(GLOBAL)
    for network_id in networks:
        chat = await groups.active_chat(network_id)
        if chat is not None:
            chats.add(chat)
    return chats


async def refused_reply(
    message: Message, session: AsyncSession, referral: Referral, what: str
) -> bool:
    """Whether staff in this group can no longer answer `referral` (and were told why): the
    group does not serve it, or it is closed, withdrawn or its member is gone. `what` names
    the action for the log line; never its content."""
    if message.chat.id not in await serving_chats(session, referral):
        log.warning("refused %s from a group that does not serve the request", what)
        await message.reply(
            _("This group no longer handles {code}: the member will not get this.").format(
                code=referral.code
            )
        )
        return True
    if referral.state not in OPEN_STATES or referral.member_id is None:
        await message.reply(
            _("{code} is closed or withdrawn: the member will not get this.").format(
                code=referral.code
            )
        )
        return True
    return False


async def group_language(session: AsyncSession, chat_id: int, settings: Settings) -> str:
    """The staff group's chosen language (`/bind … <lang>`, `/language`), or the default."""
    return await GroupRepo(session).language_of(chat_id) or settings.default_language


def chat_of(query: CallbackQuery) -> int:
    return query.message.chat.id if query.message is not None else 0


async def acted_on_card(
    query: CallbackQuery, callback_data: CardAction, session: AsyncSession
) -> tuple[Referral, InaccessibleMessage | Message] | None:
    """The request on the card and the card, if this group serves it; None once answered."""
    message = query.message
    if message is None:
        await ack(query)
        return None
    referral = await ReferralRepo(session).by_code(callback_data.r)
    if referral is None or message.chat.id not in await serving_chats(session, referral):
        log.warning("refused a card button from a group that does not serve the request")
        await ack(query, _("This button does not work in this group."), alert=True)
        return None
    return referral, message


def is_admin(message: Message, settings: Settings) -> bool:
    user = message.from_user
    return user is not None and not user.is_bot and user.id in settings.admin_ids


async def refuse(message: Message, command: str) -> None:
    log.warning("refused /%s from someone who is not an admin", command)
    await message.answer(_("Only the bot's admins can do this."))
