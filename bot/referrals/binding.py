"""Binding staff groups to networks: `/bind <network-id>` and `/unbind`, sent in the group.

Deny by default (R23): only the Telegram accounts in ADMIN_IDS may bind or unbind; anyone else
is refused, and the refusal is logged without ids. Binding wakes every request that waited for a
group.
"""

from __future__ import annotations

import html
import logging

from aiogram import Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.config import Settings
from bot.directory.model import GLOBAL, Directory
from bot.i18n import _
from bot.referrals.service import Referrals, ring_after_commit
from bot.referrals.texts import network_label
from storage.repositories import GroupRepo

router = Router(name=__name__)
log = logging.getLogger(__name__)
GROUPS = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})


def is_admin(message: Message, settings: Settings) -> bool:
    user = message.from_user
    return user is not None and not user.is_bot and user.id in settings.admin_ids


def network_ids(directory: Directory) -> str:
    return ", ".join(f"<code>{html.escape(n.id)}</code>" for n in directory.networks)


async def refuse(message: Message, command: str) -> None:
    log.warning("refused /%s from someone who is not an admin", command)
    await message.answer(_("Only the bot's admins can do this."))


@router.message(Command("bind"))
async def cmd_bind(
    message: Message,
    command: CommandObject,
    settings: Settings,
    session: AsyncSession,
    app: App,
    directory: Directory,
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
    network_id = (command.args or "").strip().lower()
    network = directory.network(network_id)
    if network is None:
        await message.answer(
            _("Please name a network: <code>/bind network-id</code>. Networks: {ids}.").format(
                ids=network_ids(directory)
            )
        )
        return
    woken = await Referrals(session, app).bind(network.id, message.chat.id)
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
