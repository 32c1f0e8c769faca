"""/announce in a bound staff group (its Telegram admins only): text, preview, audience, confirm;
and the Stop button on a broadcast's progress message."""

from __future__ import annotations

import contextlib
import json
import logging

from aiogram import Bot, F, Router
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    User,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.callbacks import Announce, AnnounceOp, BroadcastAction, BroadcastOp
from bot.alerts.engine import news_scope, stop_broadcast
from bot.alerts.service import MAX_TEXT, publish_news
from bot.alerts.texts import news_text, progress_text
from bot.app import App
from bot.config import LANGUAGES
from bot.directory.countries import country_name, current_language, sorted_countries
from bot.directory.model import GLOBAL, Directory, country_codes
from bot.i18n import _, language_name, ngettext
from bot.ui.localise import fill
from bot.ui.screens import ack
from storage.models import Broadcast, BroadcastState, SubscriptionKind, utcnow
from storage.repositories import BroadcastRepo, GroupRepo, SubscriptionRepo

log = logging.getLogger(__name__)
router = Router(name=__name__)
GROUPS = {ChatType.GROUP, ChatType.SUPERGROUP}
router.message.filter(F.chat.type.in_(GROUPS))
router.callback_query.filter(F.message.chat.type.in_(GROUPS))
DRAFT = "announce_draft"
NETWORK = "announce_network"
AUDIENCE = "announce_audience"


async def is_group_admin(bot: Bot, chat_id: int, user: User | None) -> bool:
    """Asked of Telegram each time (R23): a demoted admin loses the right at once."""
    if user is None or user.is_bot:
        return False
    try:
        found = await bot.get_chat_member(chat_id, user.id)
    except TelegramAPIError as exc:
        log.info("could not check a group admin: %s", type(exc).__name__)
        return False
    return found.status in (ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR)


async def _network_of(session: AsyncSession, chat_id: int) -> str | None:
    networks = await GroupRepo(session).networks_of(chat_id)
    named = [n for n in networks if n != GLOBAL]
    found = named or networks
    return found[0] if found else None


@router.message(Command("announce"))
async def cmd_announce(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    state: FSMContext,
    app: App,
) -> None:
    if not await is_group_admin(bot, message.chat.id, message.from_user):
        log.warning("refused /announce from someone who is not a group admin")
        await message.answer(_("Only this group's admins can send news to members."))
        return
    network_id = await _network_of(session, message.chat.id)
    if network_id is None:
        await message.answer(
            _("This group is not bound to a network yet, so it has no members to write to.")
        )
        return
    text = (command.args or "").strip()
    if not text:
        await message.answer(
            _(
                "Write the news after the command, for example:\n/announce The clinic on Main"
                " Street is closed on Friday.\n\nYou will see a preview and choose who gets it"
                " before anything is sent."
            )
        )
        return
    if len(text) > MAX_TEXT:
        await message.answer(
            fill(_("That is too long: {n} characters at most."), current_language(), n=MAX_TEXT)
        )
        return
    await state.update_data({DRAFT: text, NETWORK: network_id})
    await message.answer(
        _preview(app, network_id, text) + "\n\n" + _("Who should get it?"),
        reply_markup=_audience_keyboard(),
    )


def _preview(app: App, network_id: str, text: str) -> str:
    network = app.directory.network(network_id)
    name = network.name if network is not None else network_id
    lang = current_language()
    body = news_text(text=text, network=name, created=utcnow(), language=lang)
    return "<b>" + _("Preview (as members will see it):") + "</b>\n\n" + body


def _audience_keyboard() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("All our countries"), callback_data=Announce(op=AnnounceOp.ALL))
    kb.button(text=_("One country"), callback_data=Announce(op=AnnounceOp.COUNTRIES))
    kb.button(text=_("One language"), callback_data=Announce(op=AnnounceOp.LANGUAGES))
    kb.button(text="✖ " + _("Cancel"), callback_data=Announce(op=AnnounceOp.CANCEL))
    kb.adjust(1)
    return kb.as_markup()


async def _draft(query: CallbackQuery, bot: Bot, state: FSMContext) -> tuple[str, str] | None:
    """The admin's own draft, or a clear answer why not."""
    chat_id = query.message.chat.id if query.message else 0
    if not await is_group_admin(bot, chat_id, query.from_user):
        await ack(query, _("Only this group's admins can send news to members."), alert=True)
        return None
    data = await state.get_data()
    if DRAFT not in data:
        await ack(query, _("This draft is no longer open: send /announce again."), alert=True)
        return None
    return str(data[DRAFT]), str(data[NETWORK])


async def _edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    await ack(query)
    if query.message is not None and isinstance(query.message, Message):
        try:
            await query.message.edit_text(text, reply_markup=markup)
        except TelegramAPIError as exc:
            log.info("announce screen not edited: %s", type(exc).__name__)


@router.callback_query(Announce.filter(F.op == AnnounceOp.COUNTRIES))
async def choose_country(
    query: CallbackQuery, bot: Bot, state: FSMContext, directory: Directory
) -> None:
    draft = await _draft(query, bot, state)
    if draft is None:
        return
    network = directory.network(draft[1])
    codes = set(network.countries | network.also_countries) if network else set()
    kb = InlineKeyboardBuilder()
    lang = current_language()
    for code in sorted_countries(codes, lang)[:90]:
        kb.button(
            text=country_name(code, lang), callback_data=Announce(op=AnnounceOp.COUNTRY, v=code)
        )
    kb.adjust(2)
    kb.row(_cancel_button())
    await _edit(query, _("Which country?"), kb.as_markup())


@router.callback_query(Announce.filter(F.op == AnnounceOp.LANGUAGES))
async def choose_language(query: CallbackQuery, bot: Bot, state: FSMContext) -> None:
    if await _draft(query, bot, state) is None:
        return
    kb = InlineKeyboardBuilder()
    for code in LANGUAGES:
        kb.button(
            text=language_name(code),
            callback_data=Announce(op=AnnounceOp.LANGUAGE, v=code),
        )
    kb.adjust(3)
    kb.row(_cancel_button())
    await _edit(query, _("Members who read the bot in which language?"), kb.as_markup())


def _cancel_button() -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text="✖ " + _("Cancel"), callback_data=Announce(op=AnnounceOp.CANCEL).pack()
    )


@router.callback_query(
    Announce.filter(F.op.in_({AnnounceOp.ALL, AnnounceOp.COUNTRY, AnnounceOp.LANGUAGE}))
)
async def confirm(
    query: CallbackQuery,
    callback_data: Announce,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    app: App,
) -> None:
    """An audience was chosen: count it, then ask to confirm (zero: say so, send nothing)."""
    draft = await _draft(query, bot, state)
    if draft is None:
        return
    network_id = draft[1]
    audience: dict[str, str] = {}
    if callback_data.op == AnnounceOp.COUNTRY and callback_data.v in country_codes():
        audience = {"country": callback_data.v}
    elif callback_data.op == AnnounceOp.LANGUAGE and callback_data.v in LANGUAGES:
        audience = {"language": callback_data.v}
    elif callback_data.op != AnnounceOp.ALL:
        await ack(query, _("This button does not work any more."), alert=True)
        return
    probe = Broadcast(network_id=network_id, audience=json.dumps(audience))
    countries, language = news_scope(app, probe)
    n = len(
        await SubscriptionRepo(session).audience(
            SubscriptionKind.NEWS, countries=countries, language=language
        )
    )
    kb = InlineKeyboardBuilder()
    if n == 0:
        kb.button(text="↩ " + _("Another audience"), callback_data=Announce(op=AnnounceOp.BACK))
        kb.add(_cancel_button())
        kb.adjust(1)
        await _edit(
            query,
            _(
                "Nobody would receive this: no member in that audience has asked for news."
                " Nothing was sent."
            ),
            kb.as_markup(),
        )
        return
    await state.update_data({AUDIENCE: audience})
    lang = current_language()
    kb.button(
        text="✅ " + fill(ngettext("Send to {n} member", "Send to {n} members", n), lang, n=n),
        callback_data=Announce(op=AnnounceOp.SEND),
    )
    kb.button(text="↩ " + _("Another audience"), callback_data=Announce(op=AnnounceOp.BACK))
    kb.add(_cancel_button())
    kb.adjust(1)
    await _edit(
        query,
        fill(
            ngettext("Send this news to {n} member?", "Send this news to {n} members?", n),
            lang,
            n=n,
        ),
        kb.as_markup(),
    )


@router.callback_query(Announce.filter(F.op == AnnounceOp.BACK))
async def back_to_audience(query: CallbackQuery, bot: Bot, state: FSMContext, app: App) -> None:
    draft = await _draft(query, bot, state)
    if draft is None:
        return
    text, network_id = draft
    await _edit(
        query,
        _preview(app, network_id, text) + "\n\n" + _("Who should get it?"),
        _audience_keyboard(),
    )


@router.callback_query(Announce.filter(F.op == AnnounceOp.CANCEL))
async def cancel(query: CallbackQuery, bot: Bot, state: FSMContext) -> None:
    if await _draft(query, bot, state) is None:
        return
    await state.set_data({})
    await _edit(query, _("Cancelled: nothing was sent."), None)


@router.callback_query(Announce.filter(F.op == AnnounceOp.SEND))
async def send(query: CallbackQuery, bot: Bot, state: FSMContext, session: AsyncSession) -> None:
    draft = await _draft(query, bot, state)
    if draft is None:
        return
    text, network_id = draft
    audience = (await state.get_data()).get(AUDIENCE)
    if audience is None:
        await ack(query, _("This draft is no longer open: send /announce again."), alert=True)
        return
    await state.set_data({})  # a second tap finds no draft: one broadcast per confirmation
    chat_id = query.message.chat.id if query.message else 0
    broadcast = await publish_news(
        session,
        network_id=network_id,
        text=text,
        language=current_language(),
        audience=dict(audience),
        progress_chat_id=chat_id,
    )
    # The confirmation becomes the progress message, edited as the broadcast goes.
    if query.message is not None:
        broadcast.progress_message_id = query.message.message_id
    await _edit(query, _("Queued: sending starts in a moment."), None)


@router.callback_query(BroadcastAction.filter(F.op == BroadcastOp.STOP))
async def stop(
    query: CallbackQuery, callback_data: BroadcastAction, bot: Bot, session: AsyncSession
) -> None:
    chat_id = query.message.chat.id if query.message else 0
    if not await is_group_admin(bot, chat_id, query.from_user):
        await ack(query, _("Only this group's admins can stop a broadcast."), alert=True)
        return
    broadcast = await BroadcastRepo(session).get(callback_data.b)
    # Only from the group that shows its progress (R22): another group's button does nothing.
    if broadcast is None or broadcast.progress_chat_id != chat_id:
        await ack(query, _("This button does not work any more."), alert=True)
        return
    if broadcast.state not in (BroadcastState.PLANNING, BroadcastState.RUNNING):
        await ack(query, _("This broadcast has already ended."))
        return
    skipped = await stop_broadcast(session, broadcast)
    counts = await BroadcastRepo(session).counts(broadcast.id)
    lang = current_language()
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramAPIError):
            await query.message.edit_text(
                progress_text(counts, broadcast.total, lang, finished=_("Stopped.")),
                reply_markup=None,
            )
    await ack(
        query,
        fill(
            ngettext(
                "Stopped: {n} member will not get it.",
                "Stopped: {n} members will not get it.",
                skipped,
            ),
            current_language(),
            n=skipped,
        ),
        alert=True,
    )
