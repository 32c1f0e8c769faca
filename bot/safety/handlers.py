"""Member safety screens: the privacy check-up, safe exit (/exit), discreet mode, the PIN."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import html
import math

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.baddates.callbacks import MyReport
from bot.config import Settings
from bot.directory.law import Law
from bot.directory.model import Directory
from bot.i18n import _, ngettext
from bot.referrals.callbacks import UNLOCKED_RESUME, RequestAction, RequestOp
from bot.safety.pin import check_pin, hash_pin, valid_pin
from bot.safety.service import Prefs, Safety
from bot.ui.callbacks import CheckUp, Discreet, DiscreetOp, PinMenu, PinOp
from bot.ui.keyboards import (
    ClearChat,
    Menu,
    back_to_menu,
    clear_chat_button,
    main_menu,
    menu_button,
)
from bot.ui.localise import days_phrase, fill, here
from bot.ui.screens import ack, menu_text, show, stale_button
from storage.models import Member, MemberSafety
from storage.repositories import SafetyRepo

router = Router(name=__name__)
router.message.filter(F.chat.type == ChatType.PRIVATE)
# Member screens only in private chats: forged cu:/dm:/pn: data tapped on a staff card must not
# turn the card into a member screen (security L1). Group buttons go on to the staff router.
router.callback_query.filter(F.message.chat.type == ChatType.PRIVATE)

LEAVE_PAGE = 3  # the check-up page about leaving quickly carries the "Clear this chat" button
PIN_TRIES = 5
PIN_LOCK = dt.timedelta(hours=1)
# After the right PIN, "My requests" stays open this long (a phone taken later finds it locked).
PIN_UNLOCKED = dt.timedelta(minutes=10)


class PinEntry(StatesGroup):
    new = State()
    repeat = State()
    remove = State()
    unlock = State()


# Registered first: a command typed while a PIN is expected ends the PIN entry, then runs.
@router.message(StateFilter(PinEntry), F.text.startswith("/"))
async def leave_pin_entry(message: Message, state: FSMContext) -> None:
    await state.clear()
    raise SkipHandler


# -- privacy check-up -----------------------------------------------------------------------


def checkup_pages(settings: Settings, locale: str, law: Law, country: str | None) -> list[str]:
    pages = [
        "<b>"
        + _("What this bot keeps about you")
        + "</b>\n\n"
        + _(
            "• A random member code. Networks see this code, never your name.\n"
            "• Your Telegram account number, so that replies can reach you.\n"
            "• Your language and your settings here.\n"
            "• Requests you send, encrypted with a key of your own. Closed requests are "
            "deleted after {days}.\n"
            "• For 48 hours, the numbers of the messages in this chat (never their text), so "
            "that “Clear this chat” works.\n\n"
            "/forget deletes all of it and destroys your key."
        ).format(days=days_phrase(settings.retention_days, locale)),
        "<b>"
        + _("What this bot never does")
        + "</b>\n\n"
        + _(
            "• It never asks for your real name, phone number, ID documents or photos. "
            "Please do not send them.\n"
            "• It does not share anything with police or platforms.\n\n"
            "<b>Chats with bots are not end-to-end encrypted.</b> Telegram's servers can read "
            "them. Write only what you are comfortable with."
        ),
        "<b>"
        + _("Protect your phone")
        + "</b>\n\n"
        + _(
            "• Hide your phone number: Settings → Privacy and Security → Phone Number → "
            "Nobody.\n"
            "• Lock Telegram with a passcode: Settings → Privacy and Security → Passcode "
            "Lock.\n"
            "• Hide message previews: Settings → Notifications → turn off the message "
            "preview.\n"
            "• Discreet mode (/discreet): my messages start with a neutral word, and replies "
            "from networks arrive without sound.\n\n"
            "Menu names can differ a little between phones."
        ),
        "<b>"
        + _("Leave quickly")
        + "</b>\n\n"
        + _(
            "• Send /exit or tap “Clear this chat”: I delete this chat's messages from the "
            "last 48 hours, yours and mine.\n"
            "• Bots cannot delete older messages. To remove those too, use “Clear history” in "
            "the chat's menu in Telegram.\n"
            "• You can lock “My requests” with a PIN in /privacy."
        ),
    ]
    if law.general is not None:
        # Telegram's disclosure policy (since September 2024): for everyone.
        pages.append(html.escape(law.general.text(locale)))
    if (notice := law.risk(country)) is not None:
        # By the member's saved country, never by the interface language (tour [9]).
        pages.append(html.escape(notice.text(locale)))
    return pages


def checkup_screen(
    settings: Settings, locale: str, page: int, law: Law, country: str | None
) -> tuple[str, InlineKeyboardMarkup]:
    pages = checkup_pages(settings, locale, law, country)
    page = max(0, min(page, len(pages) - 1))
    title = fill(_("Privacy check-up · {page}/{pages}"), locale, page=page + 1, pages=len(pages))
    kb = InlineKeyboardBuilder()
    if page > 0:
        kb.button(text="◀ " + _("Back"), callback_data=CheckUp(page=page - 1))
    if page < len(pages) - 1:
        kb.button(text=_("Next") + " ▶", callback_data=CheckUp(page=page + 1))
    else:
        kb.button(text="✓ " + _("Done"), callback_data=Menu(section="home"))
    kb.adjust(2)
    if page == LEAVE_PAGE:
        kb.row(clear_chat_button())
    kb.row(menu_button())
    return f"<i>{html.escape(title)}</i>\n\n" + pages[page], kb.as_markup()


@router.message(Command("checkup"))
async def cmd_checkup(
    message: Message,
    settings: Settings,
    i18n: I18n,
    directory: Directory,
    member: Member | None,
) -> None:
    country = member.country if member is not None else None
    text, markup = checkup_screen(settings, i18n.current_locale, 0, directory.law, country)
    await message.answer(text, reply_markup=markup)


# Page -1 ("Skip" under the first welcome) is the welcome's own: bot/core/start.py.
@router.callback_query(CheckUp.filter(F.page >= 0))
async def show_checkup(
    query: CallbackQuery,
    callback_data: CheckUp,
    settings: Settings,
    i18n: I18n,
    directory: Directory,
    member: Member | None,
) -> None:
    country = member.country if member is not None else None
    law = directory.law
    pages = checkup_pages(settings, i18n.current_locale, law, country)
    if not 0 <= callback_data.page < len(pages):
        await stale_button(query)
        return
    text, markup = checkup_screen(settings, i18n.current_locale, callback_data.page, law, country)
    await show(query, text, markup)


# -- safe exit --------------------------------------------------------------------------------


EXIT_NOTICE_SECONDS = 6.0


def cleared_text() -> str:
    return _(
        "Chat cleared.\n\n"
        "Bots cannot delete messages older than 48 hours. To remove those too, use “Clear "
        "history” in the chat's menu in Telegram."
    )


async def safe_exit(
    bot: Bot,
    chat_id: int,
    member: Member | None,
    session: AsyncSession,
    safety: Safety,
    state: FSMContext,
) -> None:
    # A half-written request may sit in the conversation state: it goes too.
    await state.clear()
    if member is not None:
        await safety.clear_chat(bot, session, member.id, chat_id)
        row = await SafetyRepo(session).settings(member.id)
        if row is not None:
            row.pin_unlocked_until = None  # whoever holds the phone next finds it locked
    sent = await bot.send_message(chat_id, cleared_text(), reply_markup=back_to_menu())
    if safety.settings.exit_leaves_no_trace:
        # Long enough to read, then the chat is empty: "Chat cleared" is itself a tell (I1).
        safety.delete_later(bot, chat_id, sent.message_id, EXIT_NOTICE_SECONDS)


@router.message(Command("exit"))
async def cmd_exit(
    message: Message,
    bot: Bot,
    member: Member | None,
    session: AsyncSession,
    safety: Safety,
    state: FSMContext,
) -> None:
    await safe_exit(bot, message.chat.id, member, session, safety, state)


@router.callback_query(ClearChat.filter())
async def clear_chat(
    query: CallbackQuery,
    bot: Bot,
    member: Member | None,
    session: AsyncSession,
    safety: Safety,
    state: FSMContext,
) -> None:
    await ack(query)
    if query.message is None or query.message.chat.type != ChatType.PRIVATE:
        return
    await safe_exit(bot, query.message.chat.id, member, session, safety, state)


# -- discreet mode ----------------------------------------------------------------------------


def discreet_text(row: MemberSafety | None) -> str:
    discreet = row is not None and row.discreet
    protect = row is not None and row.protect
    lines = ["<b>" + _("Discreet mode") + "</b>", ""]
    lines.append(_("Discreet mode is on.") if discreet else _("Discreet mode is off."))
    lines.append(
        _(
            "When it is on, my messages start with a neutral word, and replies from networks "
            "arrive without sound. A lock screen may still show the next words: to hide "
            "them, turn off message previews in Telegram's notification settings."
        )
    )
    lines.append("")
    lines.append(
        _("Forwarding and saving my messages is blocked.")
        if protect
        else _("Forwarding and saving my messages is allowed.")
    )
    lines.append(
        _("When blocked, my messages (guides, requests, replies) cannot be forwarded or saved.")
    )
    return "\n".join(lines)


def discreet_keyboard(row: MemberSafety | None) -> InlineKeyboardMarkup:
    discreet = row is not None and row.discreet
    protect = row is not None and row.protect
    kb = InlineKeyboardBuilder()
    kb.button(
        text=_("Turn discreet mode off") if discreet else "🕶 " + _("Turn discreet mode on"),
        callback_data=Discreet(op=DiscreetOp.MODE),
    )
    kb.button(
        text=_("Allow forwarding and saving")
        if protect
        else "🔒 " + _("Block forwarding and saving"),
        callback_data=Discreet(op=DiscreetOp.PROTECT),
    )
    kb.button(text="◀ " + _("Privacy"), callback_data=Menu(section="privacy"))
    kb.adjust(1)
    kb.row(menu_button())
    return kb.as_markup()


async def _toggle(
    member: Member, session: AsyncSession, safety: Safety, chat_id: int, what: DiscreetOp
) -> MemberSafety:
    row = await SafetyRepo(session).settings_to_change(member.id)
    if what == DiscreetOp.MODE:
        row.discreet = not row.discreet
    else:
        row.protect = not row.protect
    # This instance uses the new setting at once, even for the reply below.
    safety.remember(chat_id, Prefs(member.language, row.discreet, row.protect))
    return row


@router.message(Command("discreet"))
async def cmd_discreet(
    message: Message, member: Member | None, session: AsyncSession, safety: Safety
) -> None:
    if member is None:
        return
    row = await _toggle(member, session, safety, message.chat.id, DiscreetOp.MODE)
    await message.answer(discreet_text(row), reply_markup=discreet_keyboard(row))


@router.callback_query(Discreet.filter(F.op == DiscreetOp.SHOW))
async def show_discreet(
    query: CallbackQuery, member: Member | None, session: AsyncSession
) -> None:
    if member is None:
        await stale_button(query)
        return
    row = await SafetyRepo(session).settings(member.id)
    await show(query, discreet_text(row), discreet_keyboard(row))


@router.callback_query(Discreet.filter(F.op.in_({DiscreetOp.MODE, DiscreetOp.PROTECT})))
async def toggle_discreet(
    query: CallbackQuery,
    callback_data: Discreet,
    member: Member | None,
    session: AsyncSession,
    safety: Safety,
) -> None:
    if member is None or query.message is None:
        await stale_button(query)
        return
    row = await _toggle(member, session, safety, query.message.chat.id, callback_data.op)
    await show(query, discreet_text(row), discreet_keyboard(row))


# -- PIN ----------------------------------------------------------------------------------------


def pin_text(has_pin: bool) -> str:
    state = _("A PIN is set.") if has_pin else _("No PIN is set.")
    return (
        "<b>"
        + _("PIN for “My requests”")
        + "</b>\n\n"
        + _(
            "A PIN keeps your requests closed to anyone who picks up your phone. It has 4 to 8 "
            "digits. After 5 wrong tries, “My requests” stays locked for an hour."
        )
        + "\n\n"
        + state
    )


def pin_keyboard(has_pin: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if has_pin:
        kb.button(text=_("Remove the PIN"), callback_data=PinMenu(op=PinOp.REMOVE))
    else:
        kb.button(text="🔢 " + _("Set a PIN"), callback_data=PinMenu(op=PinOp.SET))
    kb.button(text="◀ " + _("Privacy"), callback_data=Menu(section="privacy"))
    kb.adjust(1)
    kb.row(menu_button())
    return kb.as_markup()


def pin_cancel() -> InlineKeyboardMarkup:
    """Every PIN step has a way out (tour [25]): back to the PIN screen, nothing saved."""
    kb = InlineKeyboardBuilder()
    kb.button(text="✖️ " + _("Cancel"), callback_data=PinMenu(op=PinOp.SHOW))
    return kb.as_markup()


def pin_prompt() -> str:
    return _("Type a PIN of 4 to 8 digits. I delete your message at once.")


def locked_text(row: MemberSafety, now: dt.datetime) -> str | None:
    if row.pin_locked_until is None or row.pin_locked_until <= now:
        return None
    minutes = max(1, math.ceil((row.pin_locked_until - now).total_seconds() / 60))
    return fill(
        ngettext(
            "Too many wrong tries. “My requests” is locked for {n} more minute.",
            "Too many wrong tries. “My requests” is locked for {n} more minutes.",
            minutes,
        ),
        here(),
        n=minutes,
    )


async def _check(safety: Safety, member: Member, row: MemberSafety, pin: str) -> str | None:
    """None when the PIN is right; otherwise what to tell the member."""
    now = safety.clock()
    locked = locked_text(row, now)
    if locked is not None:
        return locked
    if (
        row.pin is not None
        and valid_pin(pin)
        and await check_pin(safety.sealer, member.id, pin, row.pin)
    ):
        row.pin_failures = 0
        return None
    row.pin_failures += 1
    if row.pin_failures >= PIN_TRIES:
        row.pin_failures, row.pin_locked_until = 0, now + PIN_LOCK
        return locked_text(row, now)
    left = PIN_TRIES - row.pin_failures
    return fill(
        ngettext(
            "That PIN is not right. {n} try left.", "That PIN is not right. {n} tries left.", left
        ),
        here(),
        n=left,
    )


async def _refused(
    message: Message, safety: Safety, member: Member, row: MemberSafety, state: FSMContext
) -> bool:
    """Check a typed PIN; on a wrong one say why (and leave the PIN prompt once locked)."""
    problem = await _check(safety, member, row, message.text or "")
    if problem is None:
        return False
    if row.pin_locked_until is not None:
        await state.clear()
    await message.answer(problem, reply_markup=back_to_menu())
    return True


async def _delete_quietly(message: Message) -> None:
    # Already gone, or too old: nothing more to do.
    with contextlib.suppress(TelegramAPIError):
        await message.delete()


async def pin_gate(
    target: Message | CallbackQuery,
    member: Member | None,
    session: AsyncSession,
    safety: Safety,
    state: FSMContext,
    resume: str,
) -> bool:
    """For "My requests": True when it may open (no PIN, or unlocked a moment ago).

    Otherwise asks for the PIN, or says it is locked, and returns False. `resume` is the
    callback data of the screen to offer once the PIN is right.
    """
    if member is None:
        return True
    row = await SafetyRepo(session).settings(member.id)
    now = safety.clock()
    if row is None or row.pin is None:
        return True
    if row.pin_unlocked_until is not None and row.pin_unlocked_until > now:
        return True
    locked = locked_text(row, now)
    if locked is not None:
        await show(target, locked, back_to_menu())
        return False
    await state.set_state(PinEntry.unlock)
    await state.update_data(resume=resume)
    await show(target, "🔒 " + _("“My requests” is locked. Type your PIN."), back_to_menu())
    return False


@router.callback_query(PinMenu.filter())
async def pin_menu(
    query: CallbackQuery,
    callback_data: PinMenu,
    member: Member | None,
    session: AsyncSession,
    safety: Safety,
    state: FSMContext,
) -> None:
    if member is None:
        await stale_button(query)
        return
    row = await SafetyRepo(session).settings(member.id)
    has_pin = row is not None and row.pin is not None
    if callback_data.op == PinOp.SET and not has_pin:
        await state.set_state(PinEntry.new)
        await show(query, pin_prompt(), pin_cancel())
    elif callback_data.op == PinOp.REMOVE and has_pin and row is not None:
        locked = locked_text(row, safety.clock())
        if locked is not None:
            await show(query, locked, back_to_menu())
            return
        await state.set_state(PinEntry.remove)
        await show(query, _("Type your current PIN to remove it."), back_to_menu())
    else:
        if (await state.get_state() or "").startswith(PinEntry.__name__):
            # ✖️ Cancel under a PIN step: the half-typed PIN goes.
            await state.set_state(None)
            await state.update_data(pin_draft=None)
        await show(query, pin_text(has_pin), pin_keyboard(has_pin))


def _draft_aad(member: Member) -> bytes:
    return b"pin-draft:%d" % member.id


@router.message(PinEntry.new, ~F.text.startswith("/"))
async def pin_new(
    message: Message, member: Member | None, safety: Safety, state: FSMContext
) -> None:
    await _delete_quietly(message)
    if member is None:
        await state.clear()
        return
    if not valid_pin(message.text):
        await message.answer(
            _("A PIN has 4 to 8 digits and nothing else. Please type it again."),
            reply_markup=pin_cancel(),
        )
        return
    # The FSM may live in Redis: keep even this short-lived copy sealed.
    pin = (message.text or "").strip()
    draft = safety.sealer.seal(pin.encode(), _draft_aad(member))
    await state.update_data(pin_draft=base64.b64encode(draft).decode())
    await state.set_state(PinEntry.repeat)
    await message.answer(_("Type the same PIN again."), reply_markup=pin_cancel())


@router.message(PinEntry.repeat, ~F.text.startswith("/"))
async def pin_repeat(
    message: Message,
    member: Member | None,
    session: AsyncSession,
    safety: Safety,
    state: FSMContext,
) -> None:
    await _delete_quietly(message)
    data = await state.get_data()
    if member is None or "pin_draft" not in data:
        await state.clear()
        await message.answer(
            _("Something went wrong. Please start again."), reply_markup=main_menu()
        )
        return
    try:
        first = safety.sealer.open(base64.b64decode(data["pin_draft"]), _draft_aad(member))
    except Exception:
        first = b""
    pin = (message.text or "").strip()
    if not first or pin.encode() != first:
        await state.set_state(PinEntry.new)
        await state.update_data(pin_draft=None)
        await message.answer(
            _("The two PINs were different. Type a new PIN of 4 to 8 digits."),
            reply_markup=pin_cancel(),
        )
        return
    row = await SafetyRepo(session).settings_to_change(member.id)
    row.pin = await hash_pin(safety.sealer, member.id, pin)
    row.pin_failures, row.pin_locked_until, row.pin_unlocked_until = 0, None, None
    await state.clear()
    await message.answer(
        _(
            "PIN set. “My requests” will ask for it. If you forget it, /forget deletes your "
            "data and the PIN with it."
        ),
        reply_markup=pin_keyboard(True),
    )


@router.message(PinEntry.remove, ~F.text.startswith("/"))
async def pin_remove(
    message: Message,
    member: Member | None,
    session: AsyncSession,
    safety: Safety,
    state: FSMContext,
) -> None:
    await _delete_quietly(message)
    row = await SafetyRepo(session).settings(member.id) if member is not None else None
    if member is None or row is None or row.pin is None:
        await state.clear()
        await message.answer(pin_text(False), reply_markup=pin_keyboard(False))
        return
    if await _refused(message, safety, member, row, state):
        return
    row.pin = None
    row.pin_unlocked_until = None
    await state.clear()
    await message.answer(_("PIN removed."), reply_markup=pin_keyboard(False))


@router.message(PinEntry.unlock, ~F.text.startswith("/"))
async def pin_unlock(
    message: Message,
    member: Member | None,
    session: AsyncSession,
    safety: Safety,
    state: FSMContext,
) -> None:
    await _delete_quietly(message)
    row = await SafetyRepo(session).settings(member.id) if member is not None else None
    data = await state.get_data()
    if member is None or row is None or row.pin is None:
        await state.clear()
        await message.answer(menu_text(), reply_markup=main_menu())
        return
    if await _refused(message, safety, member, row, state):
        return
    row.pin_unlocked_until = safety.clock() + PIN_UNLOCKED
    await state.clear()
    resume = data.get("resume")
    if not isinstance(resume, str) or not resume:
        resume = RequestAction(op=RequestOp.LIST).pack()
    # The referrals router opens the screen asked for, with no extra tap (tour [25]).
    await state.update_data({UNLOCKED_RESUME: resume})
    raise SkipHandler


# -- the PIN in front of "My requests" (bot/referrals/member.py)
# Tried before the referrals router: with no PIN, or once unlocked, the update goes on to it.


@router.message(Command("requests"))
async def guard_requests_command(
    message: Message,
    member: Member | None,
    session: AsyncSession,
    safety: Safety,
    state: FSMContext,
) -> None:
    if await pin_gate(
        message, member, session, safety, state, RequestAction(op=RequestOp.LIST).pack()
    ):
        raise SkipHandler


@router.callback_query(MyReport.filter())
async def guard_reports(
    query: CallbackQuery,
    member: Member | None,
    session: AsyncSession,
    safety: Safety,
    state: FSMContext,
) -> None:
    """ "My reports" (bot/baddates/report.py) shows what happened to the member: the same PIN."""
    if await pin_gate(query, member, session, safety, state, query.data or ""):
        raise SkipHandler


@router.callback_query(RequestAction.filter())
async def guard_requests(
    query: CallbackQuery,
    member: Member | None,
    session: AsyncSession,
    safety: Safety,
    state: FSMContext,
) -> None:
    if await pin_gate(query, member, session, safety, state, query.data or ""):
        raise SkipHandler
