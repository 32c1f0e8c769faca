"""Binding staff groups to networks: `/bind <network-id>` and `/unbind`, sent in the group.

Deny by default (R23): only the Telegram accounts in ADMIN_IDS may bind or unbind; anyone else
is refused, and the refusal is logged without ids. Binding wakes every request that waited for a
group.
"""

from __future__ import annotations

import html
import logging

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.config import LANGUAGES, Settings
from bot.directory.model import GLOBAL, Directory
from bot.i18n import _, language_name
from bot.referrals.access import is_admin, refuse
from bot.referrals.service import Referrals, ring_after_commit
from bot.referrals.texts import network_label
from storage.repositories import GroupRepo

router = Router(name=__name__)
log = logging.getLogger(__name__)
GROUPS = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})


def network_ids(directory: Directory) -> str:
    return ", ".join(f"<code>{html.escape(n.id)}</code>" for n in directory.networks)


@router.message(Command("bind"))
async def cmd_bind(
    message: Message,
    command: CommandObject,
    settings: Settings,
    session: AsyncSession,
    app: App,
    directory: Directory,
    i18n: I18n,
) -> None:
    if not is_admin(message, settings):
        await refuse(message, "bind")
        return
    if message.chat.type not in GROUPS:
        await message.answer(
            _(
                "Send <code>/bind network-id</code> in the network's staff group, with the bot "
                "added to it. Networks: {ids}. <code>/bind global</code> makes a group the "
                "fallback for every network without a group."
            ).format(ids=network_ids(directory))
        )
        return
    words = (command.args or "").lower().split()
    network = directory.network(words[0]) if words else None
    language = words[1] if len(words) > 1 else None
    if network is None or (language is not None and language not in LANGUAGES):
        await message.answer(
            _("Please name a network: <code>/bind network-id</code>. Networks: {ids}.").format(
                ids=network_ids(directory)
            )
            + "\n"
            + language_hint()
        )
        return
    woken = await Referrals(session, app).bind(network.id, message.chat.id, language)
    if language is not None:
        i18n.current_locale = language  # this answer already in the group's language
    ring_after_commit(session, app)
    log.info("a group was bound to %s; %d waiting message(s) are due", network.id, woken)
    if network.id == GLOBAL:
        text = _(
            "This group is now the fallback: it receives requests for every network without a "
            "group of its own, and escalations."
        )
    else:
        text = _("This group now receives requests for {network}.").format(
            network=html.escape(network.name)
        )
    await message.answer(
        text
        + "\n\n"
        + _(
            "Members appear under a code, never with their name, username or Telegram id. "
            "Reply to a request's card to answer the member; use its buttons to claim or "
            "close it."
        )
    )


def language_hint() -> str:
    return _(
        "Cards come in the deployment's default language; add a language to choose another: "
        "<code>/bind network-id es</code> or <code>/language es</code>. Languages: {codes}."
    ).format(codes=", ".join(f"<code>{code}</code>" for code in LANGUAGES))


@router.message(Command("language"), F.chat.type.in_(GROUPS))
async def cmd_group_language(
    message: Message,
    command: CommandObject,
    settings: Settings,
    session: AsyncSession,
    i18n: I18n,
) -> None:
    """`/language <code>` in a staff group: its cards, answers and buttons in that language
    (tour finding 24). Admins only, like /bind."""
    if not is_admin(message, settings):
        await refuse(message, "language")
        return
    groups = GroupRepo(session)
    language = (command.args or "").strip().lower()
    if language not in LANGUAGES:
        current = await groups.language_of(message.chat.id) or settings.default_language
        await message.answer(
            _("This group reads cards in {language}.").format(language=language_name(current))
            + "\n"
            + language_hint()
        )
        return
    if not await groups.set_language(message.chat.id, language):
        await message.answer(_("This group was not receiving requests."))
        return
    i18n.current_locale = language
    await message.answer(
        _("Cards and answers in this group are now in {language}.").format(
            language=language_name(language)
        )
    )


@router.message(Command("unbind"))
async def cmd_unbind(
    message: Message, settings: Settings, session: AsyncSession, directory: Directory
) -> None:
    if not is_admin(message, settings):
        await refuse(message, "unbind")
        return
    if message.chat.type not in GROUPS:
        await message.answer(_("Send /unbind in the group that should stop receiving requests."))
        return
    removed = await GroupRepo(session).unbind_chat(message.chat.id)
    if not removed:
        await message.answer(_("This group was not receiving requests."))
        return
    names = ", ".join(html.escape(network_label(directory, n)) for n in removed)
    await message.answer(
        _("This group no longer receives requests for {networks}.").format(networks=names)
    )
