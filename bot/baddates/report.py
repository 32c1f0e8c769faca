"""Report a bad date: the member's form, the exact preview, consent, and "My reports".

Main menu → "Report a bad date" (also offered under "what to do now") → country (the shared
picker, purpose "report") → area in their own words → when → what happened (several) → a
description of the person → support wanted? → the exact card the network will see → send.
Every step has Cancel; a command typed at a writing step closes the form and then does what it
says. The report and its card's outbox row are committed before the confirmation (R4).

FSM data is sealed at rest by the storage (bot/fsm.py). A member acts only on their own
reports: the code in callback data is looked up together with the member.
"""

from __future__ import annotations

import html
from typing import Any

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.enums import ChatType
from aiogram.filters import StateFilter
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
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.baddates.callbacks import (
    Harm,
    MineOp,
    MyReport,
    ReportStep,
    StepOp,
    When,
)
from bot.baddates.service import (
    AREA_LIMIT,
    DESCRIPTION_LIMIT,
    BadDates,
    ReportBody,
    has_words,
    open_report,
)
from bot.baddates.texts import (
    CardView,
    card_view,
    harm_label,
    report_lines,
    state_label,
    when_label,
)
from bot.directory.countries import (
    CountryRegion,
    ask_country,
    country_chosen,
    current_language,
    keep_button,
    picker_buttons,
)
from bot.directory.model import GLOBAL, Directory, country_codes
from bot.i18n import _
from bot.referrals.service import ring_after_commit
from bot.referrals.texts import country_label
from bot.telegram.html import utf16_len
from bot.ui.callbacks import AskAbout
from bot.ui.keyboards import Menu, main_menu, menu_button
from bot.ui.localise import fill, here
from bot.ui.screens import ack, show
from storage.models import BadDateReport, BadDateState, Member, utcnow
from storage.repositories import BadDateRepo, GroupRepo, KeyRepo
from storage.repositories.baddates import UNDECIDED

router = Router(name=__name__)
router.message.filter(F.chat.type == ChatType.PRIVATE)
router.callback_query.filter(F.message.chat.type == ChatType.PRIVATE)

PURPOSE = "report"
COUNTRY, AREA, WHEN, HARMS, DESCRIPTION, SUPPORT = "bd_c", "bd_a", "bd_w", "bd_h", "bd_d", "bd_s"
# The last report sent from this chat, so a second tap on Send shows its confirmation.
SENT = "bd_sent"
FORM_KEYS = (COUNTRY, AREA, WHEN, HARMS, DESCRIPTION, SUPPORT)
SUPPORT_NEED = "violence-response"
ECHO_CHUNK = 1800  # code points: at most 3,600 UTF-16 units, room left for the discreet line
LIST_LIMIT = 20


class BadDateForm(StatesGroup):
    area = State()
    description = State()


async def clear_form(state: FSMContext) -> None:
    await state.set_state(None)
    data = await state.get_data()
    await state.set_data({k: v for k, v in data.items() if k not in FORM_KEYS})


def cancel_button() -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text="✖️ " + _("Cancel"), callback_data=ReportStep(op=StepOp.CANCEL).pack()
    )


def cancel_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[cancel_button()]])


async def stale(target: Message | CallbackQuery) -> None:
    await show(
        target,
        _("This report was already sent or has expired. Here is the main menu."),
        main_menu(),
    )


# -- leaving the form ----------------------------------------------------------------------------


# Registered first: a command typed while writing does what it says; the form closes.
@router.message(StateFilter(BadDateForm), F.text.startswith("/"))
async def leave_form(message: Message, state: FSMContext) -> None:
    await clear_form(state)
    if (message.text or "").split(maxsplit=1)[0].split("@", 1)[0].lower() == "/cancel":
        await message.answer(_("Cancelled. Nothing was sent."), reply_markup=main_menu())
        return
    await message.answer(_("The report form is closed. Nothing was sent."))
    raise SkipHandler


@router.callback_query(ReportStep.filter(F.op == StepOp.CANCEL))
async def cancel_report(query: CallbackQuery, state: FSMContext) -> None:
    if await already_sent(query, state):
        return
    await clear_form(state)
    await show(query, _("Cancelled. Nothing was sent."), main_menu())


# -- the form ------------------------------------------------------------------------------------


def intro_text() -> str:
    return _(
        "<b>Report a bad date</b>\n\n"
        "Warn others about a client who hurt, robbed, threatened or cheated you. The network "
        "of your region reads your report, takes out anything that could identify you, and "
        "decides whether to warn members nearby. They see a member code, never your name. "
        "You see everything before it is sent.\n\n"
        "Which country did it happen in?"
    )


@picker_buttons(PURPOSE)
def report_picker_buttons() -> list[InlineKeyboardButton]:
    return [
        InlineKeyboardButton(
            text="📋 " + _("My reports"), callback_data=MyReport(op=MineOp.LIST).pack()
        ),
        cancel_button(),
    ]


@router.callback_query(Menu.filter(F.section == "report"))
async def start_report(
    query: CallbackQuery, state: FSMContext, member: Member | None, directory: Directory
) -> None:
    await clear_form(state)
    await ask_country(
        query, state, PURPOSE, member=member, directory=directory, prompt=intro_text()
    )


def area_prompt() -> str:
    return fill(
        _(
            "In which town, city or area did it happen? Write it in your own words, up to "
            "{limit} characters."
        ),
        here(),
        limit=AREA_LIMIT,
    )


@country_chosen(PURPOSE, keep_inline=True)
async def report_country_chosen(
    event: Message | CallbackQuery, country: str, data: dict[str, Any]
) -> None:
    state: FSMContext = data["state"]
    fsm = await state.get_data()
    await state.update_data({COUNTRY: country})
    await state.set_state(BadDateForm.area)
    kb = InlineKeyboardBuilder()
    keep = keep_button(PURPOSE, country, data.get("member"), fsm)
    if keep is not None:
        kb.row(keep)
    kb.row(
        InlineKeyboardButton(
            text="↩ " + _("Another country"), callback_data=CountryRegion(p=PURPOSE).pack()
        )
    )
    kb.row(cancel_button())
    name = "<b>" + html.escape(current_country(country)) + "</b>"
    text = _("Country: {country}").format(country=name) + "\n\n" + area_prompt()
    await show(event, text, kb.as_markup())


def current_country(code: str) -> str:
    return country_label(code, current_language())


async def echo(message: Message, text: str) -> None:
    """Give an over-long text back in parts short enough to keep the discreet first line."""
    for start in range(0, len(text), ECHO_CHUNK):
        await message.answer(html.escape(text[start : start + ECHO_CHUNK]))


async def too_long(message: Message, text: str, limit: int) -> None:
    await message.answer(
        fill(
            _(
                "This has {count} characters; the limit is {limit}. Please shorten it and send it "
                "again. Here it is, so you can copy it:"
            ),
            here(),
            count=utf16_len(text),
            limit=limit,
        ),
        reply_markup=cancel_keyboard(),
    )
    await echo(message, text)


def no_words_text() -> str:
    return _("Please write it in words: emoji alone cannot tell others what to look out for.")


@router.message(BadDateForm.area, F.text)
async def write_area(message: Message, state: FSMContext) -> None:
    text = (message.text or "").strip()
    if utf16_len(text) > AREA_LIMIT:
        await too_long(message, text, AREA_LIMIT)
        return
    if not has_words(text):
        await message.answer(
            no_words_text() + "\n\n" + area_prompt(), reply_markup=cancel_keyboard()
        )
        return
    await state.update_data({AREA: text})
    await state.set_state(None)
    await message.answer(when_prompt(), reply_markup=when_keyboard())


def when_prompt() -> str:
    return _("When did it happen?")


def when_keyboard() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for when in When:
        kb.button(text=when_label(when), callback_data=ReportStep(op=StepOp.WHEN, v=when))
    kb.adjust(2, 2)
    kb.row(cancel_button())
    return kb.as_markup()


async def form(state: FSMContext) -> dict[str, Any] | None:
    """The form so far, or None when it is gone (expired, cancelled, already sent)."""
    data = await state.get_data()
    if not isinstance(data.get(COUNTRY), str) or not isinstance(data.get(AREA), str):
        return None
    return data


@router.callback_query(ReportStep.filter(F.op == StepOp.WHEN))
async def choose_when(query: CallbackQuery, callback_data: ReportStep, state: FSMContext) -> None:
    if await form(state) is None or callback_data.v not in set(When):
        await stale(query)
        return
    await state.update_data({WHEN: callback_data.v, HARMS: ""})
    await show(query, harms_prompt(), harms_keyboard(""))


def harms_prompt() -> str:
    return _("What happened? Tap everything that applies, then “Continue”.")


def harms_keyboard(chosen: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for harm in Harm:
        mark = "✅ " if harm in chosen else "▫️ "
        kb.button(text=mark + harm_label(harm), callback_data=ReportStep(op=StepOp.HARM, v=harm))
    kb.adjust(1)
    kb.row(
        InlineKeyboardButton(
            text="➡️ " + _("Continue"), callback_data=ReportStep(op=StepOp.HARMS_DONE).pack()
        )
    )
    kb.row(cancel_button())
    return kb.as_markup()


@router.callback_query(ReportStep.filter(F.op == StepOp.HARM))
async def toggle_harm(query: CallbackQuery, callback_data: ReportStep, state: FSMContext) -> None:
    data = await form(state)
    if data is None or callback_data.v not in set(Harm) or not isinstance(data.get(HARMS), str):
        await stale(query)
        return
    chosen = set(data[HARMS]) ^ {callback_data.v}
    value = "".join(h for h in Harm if h in chosen)
    await state.update_data({HARMS: value})
    await show(query, harms_prompt(), harms_keyboard(value))


def description_prompt() -> str:
    return fill(
        _(
            "Describe the person so others can recognise them: how they look, their vehicle, "
            "phone number or online name, and what they did. Up to {limit} characters.\n\n"
            "Leave out your own name and anything that could identify you."
        ),
        here(),
        limit=DESCRIPTION_LIMIT,
    )


@router.callback_query(ReportStep.filter(F.op == StepOp.HARMS_DONE))
async def harms_done(query: CallbackQuery, state: FSMContext) -> None:
    data = await form(state)
    if data is None or not isinstance(data.get(HARMS), str):
        await stale(query)
        return
    if not data[HARMS]:
        await ack(query, _("Choose at least one."), alert=True)
        return
    await state.set_state(BadDateForm.description)
    await show(query, description_prompt(), cancel_keyboard())


@router.message(BadDateForm.description, F.text)
async def write_description(message: Message, state: FSMContext) -> None:
    text = (message.text or "").strip()
    if utf16_len(text) > DESCRIPTION_LIMIT:
        await too_long(message, text, DESCRIPTION_LIMIT)
        return
    if not has_words(text):
        await message.answer(
            no_words_text() + "\n\n" + description_prompt(), reply_markup=cancel_keyboard()
        )
        return
    if await form(state) is None:
        await clear_form(state)
        await stale(message)
        return
    await state.update_data({DESCRIPTION: text})
    await state.set_state(None)
    kb = InlineKeyboardBuilder()
    kb.button(text=_("Yes, please"), callback_data=ReportStep(op=StepOp.SUPPORT, v="1"))
    kb.button(text=_("No, thank you"), callback_data=ReportStep(op=StepOp.SUPPORT, v="0"))
    kb.adjust(2)
    kb.row(cancel_button())
    await message.answer(
        _(
            "Would you like support from the network too (a safe place, a doctor, a lawyer, "
            "someone to talk to)? If yes, you can write to them right after sending this."
        ),
        reply_markup=kb.as_markup(),
    )


def body_of(data: dict[str, Any]) -> ReportBody | None:
    try:
        return ReportBody(
            area=str(data[AREA]),
            when=When(data[WHEN]),
            harms=tuple(Harm(h) for h in str(data[HARMS])),
            description=str(data[DESCRIPTION]),
            support=bool(data[SUPPORT]),
        )
    except (KeyError, ValueError):
        return None


@router.callback_query(ReportStep.filter(F.op == StepOp.SUPPORT))
async def choose_support(
    query: CallbackQuery,
    callback_data: ReportStep,
    state: FSMContext,
    member: Member | None,
    session: AsyncSession,
    directory: Directory,
) -> None:
    if await already_sent(query, state):
        return
    await state.update_data({SUPPORT: callback_data.v == "1"})
    data = await form(state)
    body = body_of(data) if data is not None else None
    if data is None or body is None or member is None or not body.harms:
        await stale(query)
        return
    await show_preview(query, member, data[COUNTRY], body, session, directory)


async def routed_network(session: AsyncSession, directory: Directory, country: str) -> str:
    """Who will read it: the network, or the fallback team when the network has no group."""
    network = directory.network_for(country)
    groups = GroupRepo(session)
    if await groups.active_chat(network.id) is None and await groups.active_chat(GLOBAL):
        return _("{fallback} (for {network})").format(
            fallback=directory.global_network.name, network=network.name
        )
    return network.name


def preview_view(member: Member, country: str, body: ReportBody, directory: Directory) -> CardView:
    """The card as it will look, from a report not yet stored."""
    draft = BadDateReport(
        code="B-?????", country=country, network_id=directory.network_for(country).id
    )
    draft.language = current_language()
    draft.state = BadDateState.QUEUED
    draft.created_at = utcnow()
    return card_view(directory, draft, member, body, None, current_language())


async def show_preview(
    query: CallbackQuery,
    member: Member,
    country: str,
    body: ReportBody,
    session: AsyncSession,
    directory: Directory,
) -> None:
    network = await routed_network(session, directory, country)
    view = preview_view(member, country, body, directory)
    lines = [
        "<b>" + _("Check your report") + "</b>",
        "",
        _("It goes to: <b>{network}</b>").format(network=html.escape(network)),
        _("This is exactly what they will see:"),
        "",
        *report_lines(view),
        "",
        _(
            "Staff of the network read it. Nothing goes to other members unless staff approve "
            "a warning, and they take out anything that could identify you first. You can "
            "delete the report at any time in “My reports”."
        ),
    ]
    kb = InlineKeyboardBuilder()
    kb.button(text="✅ " + _("Send the report"), callback_data=ReportStep(op=StepOp.SEND))
    kb.button(text="✏️ " + _("Change the description"), callback_data=ReportStep(op=StepOp.REDO))
    kb.adjust(1)
    kb.row(cancel_button())
    await show(query, "\n".join(lines), kb.as_markup())


@router.callback_query(ReportStep.filter(F.op == StepOp.REDO))
async def redo_description(query: CallbackQuery, state: FSMContext) -> None:
    if await already_sent(query, state):
        return
    data = await form(state)
    if data is None or not isinstance(data.get(DESCRIPTION), str):
        await stale(query)
        return
    await state.set_state(BadDateForm.description)
    await show(query, _("Send the new description. Your current one:"), cancel_keyboard())
    if isinstance(query.message, Message):
        await echo(query.message, data[DESCRIPTION])


@router.callback_query(ReportStep.filter(F.op == StepOp.SEND))
async def send_report(
    query: CallbackQuery,
    state: FSMContext,
    app: App,
    member: Member | None,
    new_member: bool,
    event_update: Update,
) -> None:
    """Consent: commit the report and its card's outbox row, then (only then) confirm (R4)."""
    if await already_sent(query, state):
        return
    data = await form(state)
    body = body_of(data) if data is not None else None
    country = data.get(COUNTRY) if data is not None else None
    if (
        member is None
        or new_member
        or body is None
        or not isinstance(country, str)
        or country not in country_codes()
        or not body.harms
        or utf16_len(body.description) > DESCRIPTION_LIMIT
        or utf16_len(body.area) > AREA_LIMIT
    ):
        await stale(query)
        return
    # Its own transaction, as a referral's: the member must not see "sent" before the report
    # is safely stored; a replayed tap finds its report by update id.
    async with app.sessions.begin() as session:
        report = await BadDates(session, app).submit(
            member,
            country=country,
            language=current_language(),
            body=body,
            update_id=event_update.update_id,
        )
        code = report.code
    app.doorbell.ring()
    await clear_form(state)
    if isinstance(query.message, Message):
        support = f"{country}" if body.support else ""
        await state.update_data({SENT: f"{query.message.message_id}:{code}:{support}"})
    await show(query, sent_text(code), sent_keyboard(country if body.support else ""))


def sent_text(code: str) -> str:
    return _(
        "✅ Sent. Your report number is <b>{code}</b>.\n\n"
        "Staff will read it soon; you will hear here what they decided. “My reports” shows "
        "your reports; there you can also delete them."
    ).format(code=code)


def sent_keyboard(support_country: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if support_country:
        kb.button(
            text="✉️ " + _("Ask the network for support"),
            callback_data=AskAbout(c=support_country, n=SUPPORT_NEED),
        )
    kb.button(text="📋 " + _("My reports"), callback_data=MyReport(op=MineOp.LIST))
    kb.adjust(1)
    kb.row(menu_button())
    return kb.as_markup()


async def already_sent(query: CallbackQuery, state: FSMContext) -> bool:
    """A second tap on a preview already sent shows its confirmation again."""
    sent = (await state.get_data()).get(SENT)
    if not isinstance(sent, str) or query.message is None:
        return False
    mid, code, country = [*sent.split(":"), "", ""][:3]
    if mid != str(query.message.message_id):
        return False
    await show(query, sent_text(code), sent_keyboard(country))
    return True


# Last of the writing steps: media is never passed on (a photo or a voice can identify).
@router.message(StateFilter(BadDateForm), ~F.text)
async def not_text(message: Message) -> None:
    await message.answer(
        _(
            "Only text is passed on. This photo, voice message or file was not sent, and the "
            "bot keeps no copy of it. Please write it as text."
        ),
        reply_markup=cancel_keyboard(),
    )


# -- my reports ----------------------------------------------------------------------------------


@router.callback_query(MyReport.filter(F.op == MineOp.LIST))
async def list_reports(
    query: CallbackQuery, state: FSMContext, member: Member | None, session: AsyncSession
) -> None:
    await clear_form(state)
    kb = InlineKeyboardBuilder()
    reports = await BadDateRepo(session).list_of_member(member.id, LIST_LIMIT) if member else []
    if not reports:
        kb.button(text="📝 " + _("Report a bad date"), callback_data=Menu(section="report"))
        kb.row(menu_button())
        await show(query, _("You have no reports."), kb.as_markup())
        return
    lines = ["<b>" + _("Your reports") + "</b>", ""]
    for report in reports:
        label = state_label(report.state)
        lines.append(
            f"• <b>{report.code}</b> · {report.created_at:%Y-%m-%d} — {html.escape(label)}"
        )
        kb.button(
            text=f"{report.code} · {label}", callback_data=MyReport(op=MineOp.OPEN, r=report.code)
        )
    kb.adjust(1)
    kb.row(menu_button())
    await show(query, "\n".join(lines), kb.as_markup())


async def own_report(
    query: CallbackQuery, code: str, member: Member | None, session: AsyncSession
) -> BadDateReport | None:
    report = await BadDateRepo(session).of_member(member.id, code) if member else None
    if report is None:
        # Not theirs, deleted, or forged: never say which.
        await show(query, _("This report is not available. Here is the main menu."), main_menu())
    return report


def back_to_list() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text="📋 " + _("My reports"), callback_data=MyReport(op=MineOp.LIST))
    return kb.as_markup()


@router.callback_query(MyReport.filter(F.op == MineOp.OPEN))
async def open_my_report(
    query: CallbackQuery,
    callback_data: MyReport,
    member: Member | None,
    session: AsyncSession,
    app: App,
    directory: Directory,
) -> None:
    report = await own_report(query, callback_data.r, member, session)
    if report is None or member is None:
        return
    lang = current_language()
    opened = open_report(await KeyRepo(session, app.sealer).get(member.id), report)
    view = card_view(directory, report, member, opened.body, opened.alert_text, lang)
    lines = [
        "<b>" + _("Report {code}").format(code=report.code) + "</b>",
        "",
        fill(_("Sent: {date}"), here(), date=report.created_at),
        _("State: {state}").format(state=html.escape(state_label(report.state))),
        *report_lines(view),
    ]
    kb = InlineKeyboardBuilder()
    kb.button(text="🗑 " + _("Delete"), callback_data=MyReport(op=MineOp.DELETE, r=report.code))
    kb.button(text="📋 " + _("My reports"), callback_data=MyReport(op=MineOp.LIST))
    kb.adjust(1)
    await show(query, "\n".join(lines), kb.as_markup())


@router.callback_query(MyReport.filter(F.op == MineOp.DELETE))
async def ask_delete(
    query: CallbackQuery, callback_data: MyReport, member: Member | None, session: AsyncSession
) -> None:
    report = await own_report(query, callback_data.r, member, session)
    if report is None:
        return
    if report.state in UNDECIDED:
        question = _(
            "Delete report {code}? It is withdrawn: staff see that you deleted it, no warning "
            "is sent from it, and your words are erased from the bot."
        )
    else:
        question = _(
            "Delete report {code}? Your words are erased from the bot. A warning already sent "
            "stays with the members who got it."
        )
    kb = InlineKeyboardBuilder()
    kb.button(
        text=_("Yes, delete it"), callback_data=MyReport(op=MineOp.DELETE_YES, r=report.code)
    )
    kb.button(text=_("No, keep it"), callback_data=MyReport(op=MineOp.OPEN, r=report.code))
    kb.adjust(1)
    await show(query, question.format(code=report.code), kb.as_markup())


@router.callback_query(MyReport.filter(F.op == MineOp.DELETE_YES))
async def delete_report(
    query: CallbackQuery,
    callback_data: MyReport,
    member: Member | None,
    session: AsyncSession,
    app: App,
) -> None:
    report = await own_report(query, callback_data.r, member, session)
    if report is None:
        return
    await BadDates(session, app).delete(report)
    ring_after_commit(session, app)
    await show(query, _("Report {code} is deleted.").format(code=report.code), back_to_list())
