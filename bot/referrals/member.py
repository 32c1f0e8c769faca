"""Ask a network (/ask) and My requests (/requests): the member's side of a referral.

The flow: need -> country (the shared picker, purpose "ask") -> the message -> a preview of
exactly what the network will see -> consent -> a confirmation with the request number. The
referral and its card's outbox row are committed in their own transaction before the
confirmation is sent (R4); the delivery worker takes it from there.

A draft stays in the FSM data sealed with the master key, so even a shared Redis never holds a
member's words in the clear. The @username is never stored unless the member turns sharing on,
and then only inside the sealed referral. A member acts only on their own requests: the code in
the callback data is looked up together with the member (callback data carries no trust).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import logging
import time
from typing import Any

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.enums import ChatType
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder
from babel.dates import format_date
from cryptography.exceptions import InvalidTag
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.directory.countries import (
    CountryRegion,
    ask_country,
    country_chosen,
    current_language,
    keep_button,
)
from bot.directory.model import GLOBAL, Directory, country_codes
from bot.i18n import _, language_name
from bot.referrals.callbacks import UNLOCKED_RESUME, RequestAction, RequestOp
from bot.referrals.service import (
    OPEN_STATES,
    REQUEST_TEXT_LIMIT,
    Referrals,
    open_body,
    ring_after_commit,
)
from bot.referrals.texts import (
    country_label,
    member_state_label,
    need_label,
    network_label,
    pseudonym,
)
from bot.safety.pin import pin_open, valid_pin
from bot.telegram.html import utf16_len
from bot.ui.callbacks import AskAbout
from bot.ui.keyboards import Menu, main_menu, menu_button
from bot.ui.localise import fill, here, isolate
from bot.ui.screens import ack, show
from storage.crypto import Sealer
from storage.models import Destination, Member, Referral, ReferralState
from storage.repositories import GroupRepo, KeyRepo, OutboxRepo, ReferralRepo

router = Router(name=__name__)
router.message.filter(F.chat.type == ChatType.PRIVATE)
router.callback_query.filter(F.message.chat.type == ChatType.PRIVATE)
log = logging.getLogger(__name__)

PURPOSE = "ask"
NEED, COUNTRY, DRAFT, SHARE, ANSWER = "ask_need", "ask_country", "ask_draft", "ask_share", "ans"
# A writing step left for a command (tour [11]): which step, and when; kept for KEEP_FOR.
KEPT, KEPT_AT = "ask_kept", "ask_kept_at"
# The last request sent from this chat, so a second tap on Send shows its confirmation [13].
SENT, SENT_TO = "ask_sent", "ask_sent_to"
# Text typed while a network conversation is open, waiting for the member's yes (tour [12]).
PENDING = "ask_pending"
DRAFT_AAD = b"ask-draft"
LIST_LIMIT = 20
KEEP_FOR = 60
OFFER_LIMIT = 3
# Commands that end a writing step by themselves: they need no "go on writing" offer.
OWN_ENDINGS = frozenset({"ask", "cancel", "exit", "forget"})
# The PIN step of bot/safety/handlers.py (PinEntry.unlock): after the right PIN there, the
# update comes on here to open "My requests" (tour [25]).
UNLOCK_STATE = "PinEntry:unlock"


class Ask(StatesGroup):
    text = State()


class Answer(StatesGroup):
    text = State()


class AskNeed(CallbackData, prefix="an"):
    n: str


class AskStep(CallbackData, prefix="as"):
    """On the preview: toggle the @username ("u"), send ("s"), edit ("e") or cancel ("c");
    after a command left a writing step: go on writing ("r")."""

    op: str


class Relay(CallbackData, prefix="rl"):
    """Send the text typed after a network's reply to request `r`; `r` empty: drop it."""

    r: str


# -- drafts ----------------------------------------------------------------------------------


def seal_draft(sealer: Sealer, text: str) -> str:
    return base64.urlsafe_b64encode(sealer.seal(text.encode(), DRAFT_AAD)).decode()


def open_draft(sealer: Sealer, value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return sealer.open(base64.urlsafe_b64decode(value.encode()), DRAFT_AAD).decode()
    except (InvalidTag, ValueError):
        return None


async def clear_ask(state: FSMContext) -> None:
    await state.set_state(None)
    data = await state.get_data()
    gone = (NEED, COUNTRY, DRAFT, SHARE, ANSWER, KEPT, KEPT_AT, PENDING)
    kept = {k: v for k, v in data.items() if k not in gone}
    await state.set_data(kept)


def command_name(text: str | None) -> str:
    return (text or "/")[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if text else ""


# Registered first: a command typed while writing does what it says (tour [11]). The step is
# kept for a minute and offered back; the command then goes on to its own handler.
@router.message(StateFilter(Ask.text, Answer.text), F.text.startswith("/"))
async def leave_writing(message: Message, state: FSMContext) -> None:
    if command_name(message.text) in OWN_ENDINGS:
        raise SkipHandler
    await state.update_data({KEPT: await state.get_state(), KEPT_AT: time.time()})
    await state.set_state(None)
    kb = InlineKeyboardBuilder()
    kb.button(text="✍️ " + _("Go on writing"), callback_data=AskStep(op="r"))
    kb.button(text="✖️ " + _("Cancel"), callback_data=AskStep(op="c"))
    kb.adjust(2)
    await message.answer(
        _("Nothing was sent. What you started is kept for a minute."), reply_markup=kb.as_markup()
    )
    raise SkipHandler


@router.callback_query(AskStep.filter(F.op == "r"))
async def resume_writing(query: CallbackQuery, state: FSMContext, app: App) -> None:
    data = await state.get_data()
    step, at = data.get(KEPT), data.get(KEPT_AT)
    if step not in (Ask.text.state, Answer.text.state) or not isinstance(at, float | int):
        await stale(query)
        return
    if time.time() - at > KEEP_FOR:
        await clear_ask(state)
        await show(
            query,
            _("That was more than a minute ago, so it is gone. Nothing was sent."),
            main_menu(),
        )
        return
    await state.set_state(step)
    await state.update_data({KEPT: None, KEPT_AT: None})
    if step == Answer.text.state:
        await show(query, _("Write your answer."), cancel_keyboard())
        return
    await show(query, write_prompt(), cancel_keyboard())
    draft = open_draft(app.sealer, data.get(DRAFT))
    if draft and isinstance(query.message, Message):
        await echo(query.message, draft)


async def stale(target: Message | CallbackQuery) -> None:
    await show(
        target,
        _("This request was already sent or has expired. Here is the main menu."),
        main_menu(),
    )


# -- the ask flow ----------------------------------------------------------------------------


def intro_text() -> str:
    # Names no kind of work: read over a shoulder, it says no more than ORG_NAME (tour [8]).
    return _(
        "<b>Ask a network</b>\n\n"
        "Send a private request to the community-led network of your region. They see a "
        "member code, never your name, username or phone number. Their answer comes back "
        "here.\n\n"
        "What is your request about?"
    )


def needs_keyboard(directory: Directory, lang: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for need in directory.needs:
        kb.button(text=need.name(lang), callback_data=AskNeed(n=need.id))
    kb.adjust(1)
    kb.row(menu_button())
    return kb.as_markup()


async def start_ask(
    target: Message | CallbackQuery, state: FSMContext, directory: Directory
) -> None:
    await clear_ask(state)
    await show(target, intro_text(), needs_keyboard(directory, current_language()))


@router.message(Command("ask"))
async def cmd_ask(message: Message, state: FSMContext, directory: Directory) -> None:
    await start_ask(message, state, directory)


@router.callback_query(Menu.filter(F.section == "ask"))
async def show_ask(query: CallbackQuery, state: FSMContext, directory: Directory) -> None:
    await start_ask(query, state, directory)


@router.callback_query(AskNeed.filter())
async def choose_need(
    query: CallbackQuery,
    callback_data: AskNeed,
    state: FSMContext,
    directory: Directory,
    member: Member | None,
) -> None:
    if directory.need(callback_data.n) is None:
        await stale(query)
        return
    await state.update_data({NEED: callback_data.n})
    await ask_country(
        query,
        state,
        PURPOSE,
        member=member,
        directory=directory,
        prompt=_("Which country is your request about?"),
    )


def write_prompt() -> str:
    prompt = _(
        "Now write your message to the network in one text, up to {limit} characters.\n\n"
        "Say what you need. Leave out your real name, phone number and address unless you "
        "want the network to have them. You will see everything before it is sent.\n\n"
        "/cancel stops here."
    )
    return fill(prompt, here(), limit=REQUEST_TEXT_LIMIT)


def cancel_keyboard() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text="✖️ " + _("Cancel"), callback_data=AskStep(op="c"))
    return kb.as_markup()


def country_line(country: str, lang: str) -> str:
    name = "<b>" + html.escape(country_label(country, lang)) + "</b>"
    return _("Country: {country}").format(country=name)


@country_chosen(PURPOSE, keep_inline=True)
async def ask_country_chosen(
    event: Message | CallbackQuery, country: str, data: dict[str, Any]
) -> None:
    """The write step. It says which country was understood (a typed name may have had a typo)
    and offers to remember it as a button, so the request typed next is never lost (tour 15, 17).
    """
    state: FSMContext = data["state"]
    fsm = await state.get_data()
    if not isinstance(fsm.get(NEED), str):
        await stale(event)
        return
    await state.update_data({COUNTRY: country})
    await state.set_state(Ask.text)
    kb = InlineKeyboardBuilder()
    keep = keep_button(PURPOSE, country, data.get("member"), fsm)
    if keep is not None:
        kb.row(keep)
    kb.row(
        InlineKeyboardButton(
            text="↩ " + _("Another country"), callback_data=CountryRegion(p=PURPOSE).pack()
        )
    )
    kb.attach(InlineKeyboardBuilder.from_markup(cancel_keyboard()))
    text = country_line(country, current_language()) + "\n\n" + write_prompt()
    await show(event, text, kb.as_markup())


@router.callback_query(AskAbout.filter())
async def ask_about(
    query: CallbackQuery,
    callback_data: AskAbout,
    state: FSMContext,
    directory: Directory,
    member: Member | None,
) -> None:
    """ "Ask a network" from a screen that already knows the country: it is not asked again."""
    country, need = callback_data.c, callback_data.n
    if country not in country_codes() or (need and directory.need(need) is None):
        await stale(query)
        return
    lang = current_language()
    if not need:
        await clear_ask(state)
        kb = InlineKeyboardBuilder()
        for item in directory.needs:
            kb.button(text=item.name(lang), callback_data=AskAbout(c=country, n=item.id))
        kb.button(text="↩ " + _("Another country"), callback_data=Menu(section="ask"))
        kb.adjust(1)
        kb.row(menu_button())
        text = intro_text() + "\n\n" + country_line(country, lang)
        await show(query, text, kb.as_markup())
        return
    await state.update_data({NEED: need})
    await ask_country_chosen(query, country, {"state": state, "member": member})


ECHO_CHUNK = 1800  # code points: at most 3,600 UTF-16 units, room left for the discreet line


async def echo(message: Message, text: str) -> None:
    """Give an over-long text back in parts short enough to keep the discreet first line
    (tour [3]): a message at Telegram's limit would be sent without it."""
    for start in range(0, len(text), ECHO_CHUNK):
        await message.answer(html.escape(text[start : start + ECHO_CHUNK]))


def too_long_text(count: int) -> str:
    text = _(
        "Your message has {count} characters; the limit is {limit}. Please shorten it and "
        "send it again. Here it is, so you can copy it:"
    )
    return fill(text, here(), count=count, limit=REQUEST_TEXT_LIMIT)


@router.message(Command("cancel"), Ask.text)
@router.message(Command("cancel"), Answer.text)
async def cmd_cancel(message: Message, state: FSMContext) -> None:
    await clear_ask(state)
    await message.answer(_("Cancelled. Nothing was sent."), reply_markup=main_menu())


async def reply_target(
    message: Message, member: Member | None, session: AsyncSession
) -> Referral | None:
    """The member's request a quoted message belongs to (a relayed reply, a closing note)."""
    replied = message.reply_to_message
    if member is None or replied is None:
        return None
    posted = await OutboxRepo(session).posted(message.chat.id, replied.message_id)
    if posted is None or posted.referral_id is None or posted.destination != Destination.MEMBER:
        return None
    referral = await ReferralRepo(session).get(posted.referral_id)
    return referral if referral is not None and referral.member_id == member.id else None


@router.message(F.reply_to_message, F.text, ~F.text.startswith("/"))
async def answer_by_quoting(
    message: Message,
    state: FSMContext,
    member: Member | None,
    session: AsyncSession,
    app: App,
    event_update: Update,
    directory: Directory,
) -> None:
    """Replying to a relayed message answers that request, whatever else was going on."""
    referral = await reply_target(message, member, session)
    if referral is None or member is None:
        raise SkipHandler
    if not await pin_open(session, member.id, app.safety.clock()):
        # Whoever holds the phone must not answer a network as the member (security L6).
        await message.answer(locked_answer(), reply_markup=main_menu())
        return
    await send_answer(message, state, referral, session, app, event_update, directory)


def locked_answer() -> str:
    return "🔒 " + _(
        "“My requests” is locked, so nothing was sent. Open /requests with your PIN, then answer."
    )


def short_name(name: str) -> str:
    """ "SWAN" for "Sex Workers' Rights Advocacy Network (SWAN)": shorter, and less telling."""
    if name.endswith(")") and "(" in name:
        return name[name.rindex("(") + 1 : -1]
    return name


async def kept_writing(message: Message, state: FSMContext) -> bool:
    """A request's writing step was left for a command less than a minute ago."""
    data = await state.get_data()
    at = data.get(KEPT_AT)
    return (
        data.get(KEPT) == Ask.text.state
        and isinstance(at, float | int)
        and time.time() - at <= KEEP_FOR
    )


# Text typed within a minute of leaving the writing step for a command (/help, /menu…) is the
# request being written: it goes back into that step and on to the preview, where nothing is
# sent without a tap (six-language tour: no lost text).
@router.message(StateFilter(None), F.text, ~F.text.startswith("/"), kept_writing)
async def text_after_a_command(
    message: Message,
    state: FSMContext,
    app: App,
    member: Member | None,
    directory: Directory,
    session: AsyncSession,
) -> None:
    await state.set_state(Ask.text)
    await state.update_data({KEPT: None, KEPT_AT: None})
    await write_message(message, state, app, member, directory, session)


# Text typed at the top level while a network conversation is open: offered in one tap, never
# lost (tour [12]). Only when "My requests" is open: a locked phone learns nothing from it.
@router.message(StateFilter(None), F.text, ~F.text.startswith("/"))
async def offer_to_relay(
    message: Message,
    state: FSMContext,
    member: Member | None,
    session: AsyncSession,
    app: App,
    directory: Directory,
) -> None:
    if member is None:
        raise SkipHandler
    talking = [
        r
        for r in await ReferralRepo(session).list_of_member(member.id, LIST_LIMIT)
        if r.state == ReferralState.ANSWERED
    ][:OFFER_LIMIT]
    if not talking or not await pin_open(session, member.id, app.safety.clock()):
        raise SkipHandler
    text = (message.text or "").strip()
    await state.update_data({PENDING: seal_draft(app.sealer, text)})
    kb = InlineKeyboardBuilder()
    for referral in talking:
        network = short_name(
            network_label(directory, referral.group_network_id or referral.network_id)
        )
        label = _("Send to {network} ({code})").format(network=network, code=referral.code)
        kb.button(text="✅ " + label, callback_data=Relay(r=referral.code))
    kb.button(text="✖️ " + _("No, do not send"), callback_data=Relay(r=""))
    kb.adjust(1)
    if len(talking) == 1:
        network = short_name(
            network_label(directory, talking[0].group_network_id or talking[0].network_id)
        )
        question = _("Send this to {network} (request {code})?").format(
            network=html.escape(network), code=talking[0].code
        )
    else:
        question = _("Send this to a network you are talking with?")
    await message.answer(question, reply_markup=kb.as_markup())


@router.callback_query(Relay.filter())
async def relay_typed_text(
    query: CallbackQuery,
    callback_data: Relay,
    state: FSMContext,
    member: Member | None,
    session: AsyncSession,
    app: App,
    event_update: Update,
    directory: Directory,
) -> None:
    data = await state.get_data()
    text = open_draft(app.sealer, data.get(PENDING))
    await state.update_data({PENDING: None})
    if not callback_data.r or member is None or text is None:
        await show(
            query,
            _("Not sent.") if not callback_data.r else _("This button does not work any more."),
            main_menu(),
        )
        return
    referral = await ReferralRepo(session).of_member(member.id, callback_data.r)
    if referral is None:
        await stale(query)
        return
    if not await pin_open(session, member.id, app.safety.clock()):
        await show(query, locked_answer(), main_menu())
        return
    await ack(query)
    if isinstance(query.message, Message):
        await send_answer(
            query.message, state, referral, session, app, event_update, directory, text
        )


@router.message(Ask.text, F.text, ~F.text.startswith("/"))
async def write_message(
    message: Message,
    state: FSMContext,
    app: App,
    member: Member | None,
    directory: Directory,
    session: AsyncSession,
) -> None:
    text = (message.text or "").strip()
    if not text:
        await message.answer(write_prompt(), reply_markup=cancel_keyboard())
        return
    # Kept even when too long, so the member can shorten it rather than start again.
    await state.update_data({DRAFT: seal_draft(app.sealer, text), SHARE: False})
    if utf16_len(text) > REQUEST_TEXT_LIMIT:
        await message.answer(too_long_text(utf16_len(text)), reply_markup=cancel_keyboard())
        await echo(message, text)
        return
    await show_preview(message, state, app, member, directory, session)


async def routed_network(session: AsyncSession, directory: Directory, country: str) -> str:
    """Who will read it: the network, or the fallback team when the network has no group."""
    network = directory.network_for(country)
    groups = GroupRepo(session)
    if await groups.active_chat(network.id) is None and await groups.active_chat(GLOBAL):
        return _("{fallback} (for {network})").format(
            fallback=directory.global_network.name, network=network.name
        )
    return network.name


async def show_preview(
    target: Message | CallbackQuery,
    state: FSMContext,
    app: App,
    member: Member | None,
    directory: Directory,
    session: AsyncSession,
) -> None:
    fsm = await state.get_data()
    need, country = fsm.get(NEED), fsm.get(COUNTRY)
    text = open_draft(app.sealer, fsm.get(DRAFT))
    if member is None or not isinstance(need, str) or not isinstance(country, str) or not text:
        await stale(target)
        return
    await state.set_state(None)
    lang = current_language()
    user = target.from_user
    username = user.username if user is not None else None
    share = bool(fsm.get(SHARE)) and bool(username)
    who = html.escape(pseudonym(member.public_id))
    if share and username:
        who += " (@" + html.escape(username) + ")"
    network = await routed_network(session, directory, country)
    lines = [
        "<b>" + _("Check your request") + "</b>",
        "",
        _("It goes to: <b>{network}</b>").format(network=html.escape(network)),
        _("This is exactly what they will see:"),
        "",
        _("Need: {need}").format(need=html.escape(need_label(directory, need, lang))),
        _("Country: {country}").format(country=html.escape(country_label(country, lang))),
        _("Language: {language}").format(language=html.escape(language_name(lang))),
        _("From: {member}").format(member=who),
        "<blockquote>" + html.escape(text) + "</blockquote>",
        "",
        _("Your @username is shared with them.")
        if share
        else _("Your name, username, phone number and Telegram account are not shared."),
    ]
    kb = InlineKeyboardBuilder()
    kb.button(text="✅ " + _("Send to the network"), callback_data=AskStep(op="s"))
    if username:
        label = _("Share my @username: on") if share else _("Share my @username: off")
        kb.button(text="👤 " + label, callback_data=AskStep(op="u"))
    kb.button(text="✏️ " + _("Change the message"), callback_data=AskStep(op="e"))
    kb.button(text="✖️ " + _("Cancel"), callback_data=AskStep(op="c"))
    kb.adjust(1)
    await show(target, "\n".join(lines), kb.as_markup())


@router.callback_query(AskStep.filter(F.op == "u"))
async def toggle_username(
    query: CallbackQuery,
    state: FSMContext,
    app: App,
    member: Member | None,
    directory: Directory,
    session: AsyncSession,
) -> None:
    if await already_sent(query, state):
        return
    fsm = await state.get_data()
    await state.update_data({SHARE: not fsm.get(SHARE)})
    await show_preview(query, state, app, member, directory, session)


@router.callback_query(AskStep.filter(F.op == "e"))
async def edit_message(query: CallbackQuery, state: FSMContext, app: App) -> None:
    if await already_sent(query, state):
        return
    text = open_draft(app.sealer, (await state.get_data()).get(DRAFT))
    if text is None:
        await stale(query)
        return
    await state.set_state(Ask.text)
    await show(query, _("Send the new text. Your current message:"), cancel_keyboard())
    if isinstance(query.message, Message):
        await query.message.answer(html.escape(text))


@router.callback_query(AskStep.filter(F.op == "c"))
async def cancel_ask(query: CallbackQuery, state: FSMContext) -> None:
    if await already_sent(query, state):
        return
    await clear_ask(state)
    await show(query, _("Cancelled. Nothing was sent."), main_menu())


@router.callback_query(AskStep.filter(F.op == "s"))
async def send_request(
    query: CallbackQuery,
    state: FSMContext,
    app: App,
    member: Member | None,
    new_member: bool,
    directory: Directory,
    event_update: Update,
) -> None:
    """Consent: commit the referral and its outbox row, then (only then) confirm (R4)."""
    if await already_sent(query, state):
        return
    fsm = await state.get_data()
    need, country = fsm.get(NEED), fsm.get(COUNTRY)
    text = open_draft(app.sealer, fsm.get(DRAFT))
    # A member created by this very update cannot have a draft (and its row is not committed).
    if (
        member is None
        or new_member
        or not isinstance(need, str)
        or not isinstance(country, str)
        or text is None
        or utf16_len(text) > REQUEST_TEXT_LIMIT
        or directory.need(need) is None
    ):
        await stale(query)
        return
    # Answered by `show` below, after the commit: should the commit fail, the error handler's
    # alert is then the answer the member sees.
    username = query.from_user.username if fsm.get(SHARE) else None
    # Its own transaction: the update's transaction commits only after this handler returns,
    # and the member must not see "sent" before the request is safely stored. Nothing on this
    # path writes through the update's session first (on SQLite that would hold the write lock
    # this transaction waits for); a replayed tap finds its referral by update id.
    async with app.sessions.begin() as session:
        referral = await Referrals(session, app).submit(
            member,
            need=need,
            country=country,
            language=current_language(),
            text=text,
            username=username or None,
            update_id=event_update.update_id,
        )
        code = referral.code
    app.doorbell.ring()
    await clear_ask(state)
    network = directory.network_for(country).name
    if isinstance(query.message, Message):
        await state.update_data({SENT: f"{query.message.message_id}:{code}", SENT_TO: network})
    await show(query, sent_text(code, network), sent_keyboard())


def sent_text(code: str, network: str) -> str:
    return _(
        "✅ Sent. Your request number is <b>{code}</b>.\n\n"
        "{network} will see it soon. Their answer will come here, in this chat. "
        "/requests shows your requests; there you can also withdraw or delete them."
    ).format(code=code, network=html.escape(network))


def sent_keyboard() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text="📋 " + _("My requests"), callback_data=RequestAction(op=RequestOp.LIST))
    kb.row(menu_button())
    return kb.as_markup()


async def already_sent(query: CallbackQuery, state: FSMContext) -> bool:
    """A second tap on a preview already sent shows its confirmation again (tour [13])."""
    data = await state.get_data()
    sent, network = data.get(SENT), data.get(SENT_TO)
    if not isinstance(sent, str) or not isinstance(network, str) or query.message is None:
        return False
    mid, _sep, code = sent.partition(":")
    if mid != str(query.message.message_id) or data.get(DRAFT):
        return False
    await show(query, sent_text(code, network), sent_keyboard())
    return True


# -- answers -----------------------------------------------------------------------------------


async def send_answer(
    message: Message,
    state: FSMContext,
    referral: Referral,
    session: AsyncSession,
    app: App,
    event_update: Update,
    directory: Directory,
    typed: str | None = None,
) -> None:
    """Queue a member's answer for the group; the update's inbox entry covers a crash (R11).

    `typed`: the text, when `message` is not the member's own (the bot's offer to relay it).
    """
    text = (typed if typed is not None else message.text or "").strip()
    if utf16_len(text) > REQUEST_TEXT_LIMIT:
        await message.answer(too_long_text(utf16_len(text)))
        await echo(message, text)
        return
    if not text:
        return
    if referral.state not in OPEN_STATES:
        await clear_ask(state)
        await message.answer(
            _("Request {code} is {state}: nothing more can be sent to the network.").format(
                code=referral.code, state=member_state_label(referral.state)
            ),
            reply_markup=main_menu(),
        )
        return
    if await Referrals(session, app).member_reply(referral, text, event_update.update_id):
        ring_after_commit(session, app)
    await clear_ask(state)
    network = network_label(directory, referral.group_network_id or referral.network_id)
    await message.answer(
        _("Sent to {network} (request {code}).").format(
            network=html.escape(short_name(network)), code=referral.code
        )
    )


@router.message(Answer.text, F.text, ~F.text.startswith("/"))
async def write_answer(
    message: Message,
    state: FSMContext,
    member: Member | None,
    session: AsyncSession,
    app: App,
    event_update: Update,
    directory: Directory,
) -> None:
    code = (await state.get_data()).get(ANSWER)
    referral = (
        await ReferralRepo(session).of_member(member.id, code)
        if member is not None and isinstance(code, str)
        else None
    )
    if referral is None or member is None:
        await clear_ask(state)
        await stale(message)
        return
    await send_answer(message, state, referral, session, app, event_update, directory)


# -- my requests -------------------------------------------------------------------------------


def when(stamp: dt.datetime) -> str:
    """A date as the member's language writes it (29 nov. 2026), isolated in Arabic lines."""
    lang = here()
    return isolate(format_date(stamp, "medium", locale=lang), lang)


async def list_screen(
    member: Member, session: AsyncSession, directory: Directory
) -> tuple[str, InlineKeyboardMarkup]:
    lang = current_language()
    referrals = await ReferralRepo(session).list_of_member(member.id, LIST_LIMIT)
    kb = InlineKeyboardBuilder()
    if not referrals:
        kb.button(text="✉️ " + _("Ask a network"), callback_data=Menu(section="ask"))
        kb.row(menu_button())
        return _("You have no requests yet. Send one with /ask."), kb.as_markup()
    lines = ["<b>" + _("Your requests") + "</b>", ""]
    for referral in referrals:
        state = member_state_label(referral.state)
        lines.append(
            f"• <b>{referral.code}</b> · "
            + html.escape(need_label(directory, referral.need, lang))
            + " · "
            + html.escape(country_label(referral.country, lang))
            + f" — {html.escape(state)} ({when(referral.created_at)})"
        )
        kb.button(
            text=f"{referral.code} · {state}",
            callback_data=RequestAction(op=RequestOp.OPEN, r=referral.code),
        )
    kb.adjust(1)
    kb.row(menu_button())
    return "\n".join(lines), kb.as_markup()


@router.message(Command("requests"))
async def cmd_requests(
    message: Message, member: Member | None, session: AsyncSession, directory: Directory
) -> None:
    if member is None:
        return
    text, markup = await list_screen(member, session, directory)
    await message.answer(text, reply_markup=markup)


async def just_unlocked(
    message: Message, state: FSMContext, raw_state: str | None
) -> dict[str, Any] | bool:
    """The right PIN was typed a moment ago (the safety router checked it and passed the update
    on with the screen to open): that screen, as `resume`."""
    if raw_state != UNLOCK_STATE:
        return False
    data = await state.get_data()
    resume = data.pop(UNLOCKED_RESUME, None)
    if not isinstance(resume, str):
        return False
    await state.set_data(data)
    return {"resume": resume}


@router.message(F.text.func(valid_pin), just_unlocked)
async def open_after_pin(
    message: Message,
    resume: str,
    member: Member | None,
    session: AsyncSession,
    app: App,
    directory: Directory,
) -> None:
    """Straight to "My requests" (or the request asked for) after the right PIN (tour [25])."""
    if member is None or not await pin_open(session, member.id, app.safety.clock()):
        await message.answer(_("Here is the main menu."), reply_markup=main_menu())
        return
    try:
        action = RequestAction.unpack(resume)
    except (TypeError, ValueError):
        action = RequestAction(op=RequestOp.LIST)
    referral = (
        await ReferralRepo(session).of_member(member.id, action.r)
        if action.op != RequestOp.LIST and action.r
        else None
    )
    if referral is not None:
        text, markup = await detail_screen(referral, member, session, app, directory)
    else:
        text, markup = await list_screen(member, session, directory)
    await message.answer("🔓 " + _("Unlocked.") + "\n\n" + text, reply_markup=markup)


async def own_referral(
    query: CallbackQuery, code: str, member: Member | None, session: AsyncSession
) -> Referral | None:
    referral = await ReferralRepo(session).of_member(member.id, code) if member else None
    if referral is None:
        # Not theirs, deleted, or forged: never say which.
        await show(query, _("This request is not available. Here is the main menu."), main_menu())
    return referral


async def detail_screen(
    referral: Referral, member: Member, session: AsyncSession, app: App, directory: Directory
) -> tuple[str, InlineKeyboardMarkup]:
    lang = current_language()
    sealer = await KeyRepo(session, app.sealer).get(member.id)
    body = open_body(sealer, referral)
    network = network_label(directory, referral.group_network_id or referral.network_id)
    lines = [
        "<b>" + _("Request {code}").format(code=referral.code) + "</b>",
        "",
        _("To: {network}").format(network=html.escape(network)),
        _("Need: {need}").format(need=html.escape(need_label(directory, referral.need, lang))),
        _("Country: {country}").format(country=html.escape(country_label(referral.country, lang))),
        _("Sent: {date}").format(date=when(referral.created_at)),
        _("State: {state}").format(state=html.escape(member_state_label(referral.state))),
    ]
    if body is not None:
        lines += ["", "<blockquote>" + html.escape(body.text) + "</blockquote>"]
    kb = InlineKeyboardBuilder()
    if referral.state in (ReferralState.DELIVERED, ReferralState.CLAIMED, ReferralState.ANSWERED):
        kb.button(
            text="↩️ " + _("Reply"),
            callback_data=RequestAction(op=RequestOp.REPLY, r=referral.code),
        )
    if referral.state in OPEN_STATES:
        kb.button(
            text="⏹ " + _("Withdraw"),
            callback_data=RequestAction(op=RequestOp.WITHDRAW, r=referral.code),
        )
    kb.button(
        text="🗑 " + _("Delete"), callback_data=RequestAction(op=RequestOp.DELETE, r=referral.code)
    )
    kb.button(text="📋 " + _("My requests"), callback_data=RequestAction(op=RequestOp.LIST))
    kb.adjust(1)
    return "\n".join(lines), kb.as_markup()


async def confirm(
    query: CallbackQuery, code: str, question: str, yes: str, yes_op: RequestOp
) -> None:
    """Ask before an action that cannot be undone; "No" goes back to the request."""
    kb = InlineKeyboardBuilder()
    kb.button(text=yes, callback_data=RequestAction(op=yes_op, r=code))
    kb.button(text=_("No, keep it"), callback_data=RequestAction(op=RequestOp.OPEN, r=code))
    kb.adjust(1)
    await show(query, question.format(code=code), kb.as_markup())


def back_to_list() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text="📋 " + _("My requests"), callback_data=RequestAction(op=RequestOp.LIST))
    return kb.as_markup()


async def acted_on(
    query: CallbackQuery,
    callback_data: RequestAction,
    member: Member | None,
    session: AsyncSession,
) -> tuple[Member, Referral] | None:
    """The member and their own request the button names, or None once answered."""
    if member is None:
        await ack(query)
        return None
    referral = await own_referral(query, callback_data.r, member, session)
    return None if referral is None else (member, referral)


@router.callback_query(RequestAction.filter(F.op == RequestOp.LIST))
async def show_my_requests(
    query: CallbackQuery, member: Member | None, session: AsyncSession, directory: Directory
) -> None:
    if member is None:
        await ack(query)
        return
    text, markup = await list_screen(member, session, directory)
    await show(query, text, markup)


@router.callback_query(RequestAction.filter(F.op == RequestOp.OPEN))
async def open_request(
    query: CallbackQuery,
    callback_data: RequestAction,
    member: Member | None,
    session: AsyncSession,
    app: App,
    directory: Directory,
) -> None:
    if (found := await acted_on(query, callback_data, member, session)) is None:
        return
    text, markup = await detail_screen(found[1], found[0], session, app, directory)
    await show(query, text, markup)


@router.callback_query(RequestAction.filter(F.op == RequestOp.REPLY))
async def reply_to_request(
    query: CallbackQuery,
    callback_data: RequestAction,
    state: FSMContext,
    member: Member | None,
    session: AsyncSession,
    directory: Directory,
) -> None:
    if (found := await acted_on(query, callback_data, member, session)) is None:
        return
    referral = found[1]
    if referral.state not in OPEN_STATES:
        await ack(query, _("This request is closed."), alert=True)
        return
    await clear_ask(state)
    await state.set_state(Answer.text)
    await state.update_data({ANSWER: referral.code})
    network = network_label(directory, referral.group_network_id or referral.network_id)
    await ack(query)
    if isinstance(query.message, Message):
        await query.message.answer(
            _("Write your answer to {network} (request {code}).").format(
                network=html.escape(short_name(network)), code=referral.code
            ),
            reply_markup=cancel_keyboard(),
        )


@router.callback_query(RequestAction.filter(F.op == RequestOp.WITHDRAW))
async def ask_withdraw(
    query: CallbackQuery,
    callback_data: RequestAction,
    member: Member | None,
    session: AsyncSession,
) -> None:
    if (found := await acted_on(query, callback_data, member, session)) is None:
        return
    await confirm(
        query,
        found[1].code,
        _(
            "Withdraw request {code}? The network is told it was withdrawn by the member, "
            "and your text is taken off their copy."
        ),
        _("Yes, withdraw it"),
        RequestOp.WITHDRAW_YES,
    )


@router.callback_query(RequestAction.filter(F.op == RequestOp.WITHDRAW_YES))
async def withdraw_request(
    query: CallbackQuery,
    callback_data: RequestAction,
    member: Member | None,
    session: AsyncSession,
    app: App,
) -> None:
    if (found := await acted_on(query, callback_data, member, session)) is None:
        return
    referral = found[1]
    if referral.state in OPEN_STATES:
        await Referrals(session, app).withdraw(referral)
        ring_after_commit(session, app)
    await show(query, _("Request {code} is withdrawn.").format(code=referral.code), back_to_list())


@router.callback_query(RequestAction.filter(F.op == RequestOp.DELETE))
async def ask_delete(
    query: CallbackQuery,
    callback_data: RequestAction,
    member: Member | None,
    session: AsyncSession,
) -> None:
    if (found := await acted_on(query, callback_data, member, session)) is None:
        return
    await confirm(
        query,
        found[1].code,
        _(
            "Delete request {code}? Your text and the messages of this conversation are "
            "erased from the bot. If the request is still open, it is withdrawn first."
        ),
        _("Yes, delete it"),
        RequestOp.DELETE_YES,
    )


@router.callback_query(RequestAction.filter(F.op == RequestOp.DELETE_YES))
async def delete_request(
    query: CallbackQuery,
    callback_data: RequestAction,
    member: Member | None,
    session: AsyncSession,
    app: App,
) -> None:
    if (found := await acted_on(query, callback_data, member, session)) is None:
        return
    referral = found[1]
    await Referrals(session, app).withdraw(referral, delete=True)
    ring_after_commit(session, app)
    await show(query, _("Request {code} is deleted.").format(code=referral.code), back_to_list())


# Last: after every text step of this router. Commands were let through by leave_writing.
@router.message(Ask.text, ~F.text)
@router.message(Answer.text, ~F.text)
async def not_text(message: Message) -> None:
    # A request starts as text; photos and voice notes go as answers (bot/referrals/media.py).
    await message.answer(
        _(
            "Not sent: a request starts as text. Please write your message here; once a "
            "network answers, you can also send them a photo or a voice note. The bot keeps "
            "no copy of this one."
        ),
        reply_markup=cancel_keyboard(),
    )
