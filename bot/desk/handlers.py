"""The network desk in a bound staff group: `/saved` answers and `/use`, the Transfer button,
and `/stats`.

This router sits before the staff router (bot/routers.py): that one relays every reply to a
card, and would send "/use pep" to the member as it stands. Authorisation is the staff
side's (R22): a group acts on a request only while it serves it (`serving_chats`); changing
saved answers takes a bot admin (ADMIN_IDS), as /bind does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardMarkup,
    Message,
    ReactionTypeEmoji,
    ReplyParameters,
    Update,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.config import LANGUAGES, Settings
from bot.desk.answers import ANSWER_LIMIT, NAME_RE, shared_answers
from bot.desk.callbacks import TransferAction, TransferOp
from bot.desk.service import (
    Refusal,
    Transfers,
    answer_names,
    choose,
    current_network,
    desk_network,
    figures,
    find_answer,
)
from bot.desk.texts import stats_text
from bot.directory.model import Directory
from bot.i18n import _, language_name
from bot.referrals.access import (
    STAFF_REPLY_LIMIT,
    acted_on_card,
    chat_of,
    group_language,
    is_admin,
    refuse,
    refused_reply,
    serving_chats,
)
from bot.referrals.callbacks import CardAction, CardOp
from bot.referrals.service import OPEN_STATES, Referrals, ring_after_commit
from bot.referrals.texts import network_label
from bot.telegram.html import utf16_len
from bot.ui.localise import fill, here
from bot.ui.screens import ack
from storage.models import Referral, Transfer
from storage.repositories import DeskRepo, OutboxRepo, ReferralRepo

router = Router(name=__name__)
GROUPS = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})
router.message.filter(F.chat.type.in_(GROUPS))
router.callback_query.filter(F.message.chat.type.in_(GROUPS))
log = logging.getLogger(__name__)

NOTE_LIMIT = 1000
STATS_DAYS = 90


def not_bound() -> str:
    return _("This group does not receive requests yet: an admin sends /bind network-id here.")


# -- saved answers -----------------------------------------------------------------------------


def saved_help() -> str:
    return _(
        "Admins save answers for this group's network, one language at a time:\n"
        "<code>/saved add name es</code> and the text on the next lines\n"
        "<code>/saved edit name es</code> and the new text\n"
        "<code>/saved delete name</code> (or <code>/saved delete name es</code>)\n"
        "To send one, reply to a request's card with <code>/use name</code>: the member gets "
        "it in their language, or in the network's first language with a short notice."
    )


async def saved_list(session: AsyncSession, app: App, network_id: str) -> str:
    lines = [
        "🗂 <b>"
        + _("Saved answers of {network}").format(
            network=html.escape(network_label(app.directory, network_id))
        )
        + "</b>"
    ]
    own: dict[str, list[str]] = {}
    for answer in await DeskRepo(session).answers(network_id):
        own.setdefault(answer.name, []).append(answer.language)
    lines += [f"• <code>{name}</code> ({', '.join(langs)})" for name, langs in own.items()]
    if not own:
        lines.append(_("None yet."))
    shared = shared_answers(app.settings.guides_dir)
    if shared:
        lines += ["", "<b>" + _("Shared by the global secretariat") + "</b>"]
        lines += [
            f"• <code>{name}</code> ({', '.join(sorted(a.texts))})" for name, a in shared.items()
        ]
    return "\n".join(lines) + "\n\n" + saved_help()


@router.message(Command("saved"))
async def cmd_saved(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    app: App,
    i18n: I18n,
) -> None:
    with i18n.use_locale(await group_language(session, message.chat.id, settings)):
        network_id = await desk_network(session, message.chat.id)
        if network_id is None:
            await message.answer(not_bound())
            return
        words = (command.args or "").split(maxsplit=3)
        op = words[0].lower() if words else "list"
        if op == "list":
            await message.answer(await saved_list(session, app, network_id))
            return
        if op not in ("add", "edit", "delete"):
            await message.answer(saved_help())
            return
        if not is_admin(message, settings):
            await refuse(message, "saved")
            return
        name = words[1].lower() if len(words) > 1 else ""
        if not NAME_RE.match(name):
            await message.answer(
                _("Please give the answer a short name: letters a-z, digits and '-'.")
                + "\n\n"
                + saved_help()
            )
            return
        language = words[2].lower() if len(words) > 2 else None
        if language is not None and language not in LANGUAGES:
            await message.answer(
                _("Languages: {codes}.").format(codes=", ".join(LANGUAGES)) + "\n\n" + saved_help()
            )
            return
        desk = DeskRepo(session)
        if op == "delete":
            removed = await desk.delete_answer(network_id, name, language)
            text = (
                _("Deleted “{name}”.").format(name=name)
                if removed
                else _("There is no saved answer “{name}” here.").format(name=name)
            )
            await message.answer(text)
            return
        text = words[3].strip() if len(words) > 3 else ""
        if language is None or not text:
            await message.answer(saved_help())
            return
        if utf16_len(text) > ANSWER_LIMIT:
            await message.answer(
                fill(
                    _("This answer has {count} characters; a saved answer can have {limit}."),
                    here(),
                    count=utf16_len(text),
                    limit=ANSWER_LIMIT,
                )
            )
            return
        exists = language in await desk.answer(network_id, name)
        if op == "add" and exists:
            await message.answer(
                _(
                    "“{name}” already exists in this language: use /saved edit to change it."
                ).format(name=name)
            )
            return
        if op == "edit" and not exists:
            await message.answer(
                _("There is no saved answer “{name}” in this language: use /saved add.").format(
                    name=name
                )
            )
            return
        await desk.put_answer(network_id, name, language, text)
        await message.answer(
            _("Saved “{name}” in {language}.").format(name=name, language=language_name(language))
        )


async def replied_referral(message: Message, bot: Bot, session: AsyncSession) -> Referral | None:
    """The request whose card (or relayed message) this message replies to."""
    replied = message.reply_to_message
    me = await bot.me()
    if replied is None or replied.from_user is None or replied.from_user.id != me.id:
        return None
    posted = await OutboxRepo(session).posted(message.chat.id, replied.message_id)
    if posted is None or posted.referral_id is None:
        return None
    return await ReferralRepo(session).get(posted.referral_id)


@router.message(Command("use"))
async def cmd_use(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    app: App,
    settings: Settings,
    i18n: I18n,
    event_update: Update,
) -> None:
    """Send a saved answer to the member, as a staff reply: sealed, through the outbox."""
    with i18n.use_locale(await group_language(session, message.chat.id, settings)):
        referral = await replied_referral(message, bot, session)
        if referral is None:
            await message.reply(_("Reply to a request's card with <code>/use name</code>."))
            return
        if await refused_reply(message, session, referral, "/use"):
            return
        name = (command.args or "").strip().lower()
        network_id = current_network(referral)
        found = await find_answer(session, app, network_id, name) if name else None
        if found is None:
            names = await answer_names(session, app, network_id)
            await message.reply(
                _("There is no saved answer called “{name}”. Nothing was sent.").format(
                    name=html.escape(name)
                )
                + "\n"
                + _("Saved answers: {names}.").format(
                    names=", ".join(f"<code>{n}</code>" for n in names) or "—"
                )
            )
            return
        owner = app.directory.network(found.owner)
        chosen = choose(found.texts, referral.language, owner.languages if owner else ())
        if chosen is None:
            return
        text = chosen.text
        if chosen.fallback:
            with i18n.use_locale(referral.language):
                notice = _("This answer is not written in {wanted} yet; here it is in {language}.")
                text = (
                    "ℹ️ "
                    + notice.format(
                        wanted=language_name(referral.language),
                        language=language_name(chosen.language),
                    )
                    + "\n\n"
                    + text
                )
        if utf16_len(text) > STAFF_REPLY_LIMIT:
            await message.reply(_("This saved answer is too long to send; please shorten it."))
            return
        if await Referrals(session, app).staff_reply(referral, text, event_update.update_id):
            ring_after_commit(session, app)
        await message.reply(
            _("{code}: “{name}” is on its way to the member, in {language}.").format(
                code=referral.code, name=name, language=language_name(chosen.language)
            )
        )


# -- transfers ---------------------------------------------------------------------------------


def refusal_text(refusal: Refusal, directory: Directory, to: str, code: str) -> str:
    network = network_label(directory, to)
    if refusal == Refusal.NO_GROUP:
        return _(
            "{network} has no staff group yet, so it cannot take {code}. Nothing has changed."
        ).format(network=network, code=code)
    if refusal == Refusal.SAME:
        return _("{code} is already with {network}.").format(code=code, network=network)
    if refusal == Refusal.CLOSED:
        return _("{code} is closed or withdrawn: nothing to transfer.").format(code=code)
    return _("This button does not work any more.")


def picker(directory: Directory, referral: Referral) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    here = current_network(referral)
    for network in directory.networks:
        if network.id != here:
            kb.button(
                text=network.name,
                callback_data=TransferAction(op=TransferOp.PICK, r=referral.code, n=network.id),
            )
    kb.button(
        text="✖️ " + _("Cancel"),
        callback_data=TransferAction(op=TransferOp.CANCEL, r=referral.code),
    )
    kb.adjust(1)
    return kb.as_markup()


@router.callback_query(CardAction.filter(F.op == CardOp.TRANSFER))
async def transfer_card(
    query: CallbackQuery,
    callback_data: CardAction,
    bot: Bot,
    session: AsyncSession,
    settings: Settings,
    directory: Directory,
    i18n: I18n,
) -> None:
    """The card's Transfer button: which network should have it?"""
    with i18n.use_locale(await group_language(session, chat_of(query), settings)):
        if (found := await acted_on_card(query, callback_data, session)) is None:
            return
        referral, card = found
        if referral.state not in OPEN_STATES:
            await ack(query, _("Already closed or withdrawn."))
            return
        await ack(query)
        await bot.send_message(
            card.chat.id,
            "➡️ "
            + _("Transfer {code} to which network? Their group gets the request.").format(
                code=referral.code
            ),
            reply_markup=picker(directory, referral),
            reply_parameters=ReplyParameters(
                message_id=card.message_id, allow_sending_without_reply=True
            ),
        )


async def served_request(
    query: CallbackQuery, code: str, session: AsyncSession
) -> tuple[Referral, Message] | None:
    """The request a picker names, if this group serves it, and the picker message."""
    message = query.message
    referral = await ReferralRepo(session).by_code(code)
    if (
        not isinstance(message, Message)
        or referral is None
        or message.chat.id not in await serving_chats(session, referral)
    ):
        log.warning("refused a transfer button from a group that does not serve the request")
        await ack(query, _("This button does not work in this group."), alert=True)
        return None
    return referral, message


def note_keyboard(code: str, to: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(
        text="➡️ " + _("Transfer without a note"),
        callback_data=TransferAction(op=TransferOp.GO, r=code, n=to),
    )
    kb.button(text="✖️ " + _("Cancel"), callback_data=TransferAction(op=TransferOp.CANCEL, r=code))
    kb.adjust(1)
    return kb.as_markup()


@router.callback_query(TransferAction.filter(F.op == TransferOp.PICK))
async def transfer_pick(
    query: CallbackQuery,
    callback_data: TransferAction,
    session: AsyncSession,
    app: App,
    settings: Settings,
    directory: Directory,
    i18n: I18n,
) -> None:
    with i18n.use_locale(await group_language(session, chat_of(query), settings)):
        if (found := await served_request(query, callback_data.r, session)) is None:
            return
        referral, message = found
        transfers = Transfers(session, app)
        refusal = await transfers.refusal(referral, callback_data.n)
        if refusal is not None:
            # A network without a group: say so where the staff look, and change nothing.
            await ack(
                query, refusal_text(refusal, directory, callback_data.n, referral.code), True
            )
            return
        await transfers.draft(referral, callback_data.n, message.chat.id, message.message_id)
        await ack(query)
        text = "➡️ " + _(
            "Transfer {code} to {network}: reply to this message with a note for them (what "
            "was done, what is needed). The member's earlier messages are not passed on, "
            "only how many there were."
        ).format(
            code=referral.code, network=html.escape(network_label(directory, callback_data.n))
        )
        with contextlib.suppress(TelegramAPIError):
            await message.edit_text(
                text, reply_markup=note_keyboard(referral.code, callback_data.n)
            )


async def finish_transfer(
    session: AsyncSession,
    app: App,
    referral: Referral,
    to: str,
    note: str | None,
    draft: Transfer | None,
) -> str:
    """Move the request and say how it went, in the group's words."""
    moved = await Transfers(session, app).move(referral, to, note, draft)
    if isinstance(moved, Refusal):
        return refusal_text(moved, app.directory, to, referral.code)
    ring_after_commit(session, app)
    log.info("a request was transferred to another network")
    return "✅ " + _("{code} was transferred to {network}; the member is told.").format(
        code=referral.code, network=html.escape(network_label(app.directory, to))
    )


@router.callback_query(TransferAction.filter(F.op == TransferOp.GO))
async def transfer_without_note(
    query: CallbackQuery,
    callback_data: TransferAction,
    session: AsyncSession,
    app: App,
    settings: Settings,
    i18n: I18n,
) -> None:
    with i18n.use_locale(await group_language(session, chat_of(query), settings)):
        if (found := await served_request(query, callback_data.r, session)) is None:
            return
        referral, message = found
        draft = await Transfers(session, app).draft_at(message.chat.id, message.message_id)
        text = await finish_transfer(session, app, referral, callback_data.n, None, draft)
        await ack(query)
        with contextlib.suppress(TelegramAPIError):
            await message.edit_text(text, reply_markup=None)


@router.callback_query(TransferAction.filter(F.op == TransferOp.CANCEL))
async def transfer_cancel(
    query: CallbackQuery,
    callback_data: TransferAction,
    session: AsyncSession,
    settings: Settings,
    i18n: I18n,
) -> None:
    with i18n.use_locale(await group_language(session, chat_of(query), settings)):
        if (found := await served_request(query, callback_data.r, session)) is None:
            return
        referral, message = found
        await DeskRepo(session).drop_drafts(referral.id)
        await ack(query)
        with contextlib.suppress(TelegramAPIError):
            await message.edit_text(
                _("Not transferred: {code} stays here.").format(code=referral.code),
                reply_markup=None,
            )


async def note_for_transfer(
    message: Message, session: AsyncSession, app: App
) -> dict[str, Any] | bool:
    """A filter: this message replies to a transfer prompt that waits for a note."""
    replied = message.reply_to_message
    if replied is None:
        return False
    draft = await Transfers(session, app).draft_at(message.chat.id, replied.message_id)
    return {"draft": draft} if draft is not None else False


@router.message(F.reply_to_message, note_for_transfer)
async def transfer_note(
    message: Message,
    draft: Transfer,
    bot: Bot,
    session: AsyncSession,
    app: App,
    settings: Settings,
    i18n: I18n,
) -> None:
    with i18n.use_locale(await group_language(session, message.chat.id, settings)):
        referral = await ReferralRepo(session).get(draft.referral_id)
        if referral is None or message.chat.id not in await serving_chats(session, referral):
            log.warning("refused a transfer note from a group that does not serve the request")
            return
        note = (message.text or "").strip()
        if not note:
            await message.reply(_("Please write the note as text."))
            return
        if utf16_len(note) > NOTE_LIMIT:
            await message.reply(
                fill(
                    _("This note has {count} characters; please keep it under {limit}."),
                    here(),
                    count=utf16_len(note),
                    limit=NOTE_LIMIT,
                )
            )
            return
        prompt = message.reply_to_message
        text = await finish_transfer(session, app, referral, draft.to_network or "", note, draft)
        await message.reply(text)
        if prompt is not None:
            with contextlib.suppress(TelegramAPIError):
                await bot.edit_message_reply_markup(
                    chat_id=message.chat.id, message_id=prompt.message_id, reply_markup=None
                )
        with contextlib.suppress(TelegramAPIError):
            await bot.set_message_reaction(
                message.chat.id, message.message_id, [ReactionTypeEmoji(emoji="👍")]
            )


# -- figures -----------------------------------------------------------------------------------


def parse_period(args: str | None, today: dt.date) -> tuple[dt.date, dt.date] | None:
    words = (args or "").split()
    if not words:
        return today - dt.timedelta(days=STATS_DAYS - 1), today
    if len(words) != 2:
        return None
    try:
        start, end = dt.date.fromisoformat(words[0]), dt.date.fromisoformat(words[1])
    except ValueError:
        return None
    return (start, end) if start <= end else None


@router.message(Command("stats"))
async def cmd_stats(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    directory: Directory,
    i18n: I18n,
) -> None:
    """The network's figures: aggregates only, small counts hidden."""
    language = await group_language(session, message.chat.id, settings)
    with i18n.use_locale(language):
        network_id = await desk_network(session, message.chat.id)
        if network_id is None:
            await message.answer(not_bound())
            return
        period = parse_period(command.args, dt.datetime.now(dt.UTC).date())
        if period is None:
            await message.answer(
                _(
                    "<code>/stats</code> shows the last 90 days; for another period give two "
                    "dates: <code>/stats 2026-01-01 2026-06-30</code>"
                )
            )
            return
        result = await figures(
            session,
            network_id,
            *period,
            overdue_after=dt.timedelta(seconds=settings.referral_remind_after),
        )
        await message.answer(stats_text(result, directory, language))
