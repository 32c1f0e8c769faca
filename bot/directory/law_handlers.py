"""/law: the dated law card for a country; risk notices by country; "what to do now".

The card's first two lines are a neutral heading made here (a lock screen shows them); the
card's values and notes come from guides/law/ (bot/directory/law.py).
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any
from urllib.parse import urlsplit

from aiogram import Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from babel.dates import format_date, format_skeleton

from bot.directory.callbacks import AfterViolence, NeedMenu, ServicePage
from bot.directory.countries import (
    CountryRegion,
    ask_country,
    country_chosen,
    country_name,
    current_language,
    picker_buttons,
)
from bot.directory.law import ACTIVITIES, Law
from bot.directory.model import Directory, country_codes
from bot.i18n import _
from bot.ui.keyboards import Menu, menu_button
from bot.ui.screens import show, stale_button
from storage.models import Member

router = Router(name=__name__)


class LawCountry(CallbackData, prefix="lw"):
    c: str


def as_of_label(as_of: str, lang: str) -> str:
    """ "2023-11" as the member's language writes a month (nov. 2023, 2023年11月); a year alone
    stays as it is (issue 14 item 7: no hand-formatted number)."""
    try:
        month = dt.date.fromisoformat(as_of + "-01")
    except ValueError:
        return as_of
    return format_skeleton("yMMM", month, locale=lang)


def source_label(url: str) -> str:
    """The source's host: enough to name it, and no link to tap where linking is risky."""
    host = urlsplit(url).hostname or url
    return host.removeprefix("www.")


def risk_text(law: Law, country: str | None, lang: str) -> str:
    notice = law.risk(country)
    return html.escape(notice.text(lang)) if notice is not None else ""


def law_text(directory: Directory, country: str, lang: str) -> str:
    law = directory.law
    name = html.escape(country_name(country, lang))
    # Lines 1-2: neutral, for a lock screen.
    head = "<b>" + _("The law in {country}").format(country=name) + "</b>"
    card = law.card(country)
    if card is None:
        return (
            head
            + "\n\n"
            + _(
                "No information about the law in {country} yet. Your regional network may "
                "know more."
            ).format(country=name)
        )
    seen = format_date(card.source_seen, format="long", locale=lang)
    lines = [
        head,
        "<i>"
        + _("Information as of {date}. A draft: no network has checked it.").format(
            date=html.escape(as_of_label(card.as_of, lang))
        )
        + "</i>",
        "",
        "⚖️ <b>" + html.escape(law.label("category", card.category, lang)) + "</b>",
    ]
    for key in ACTIVITIES:
        value = getattr(card, key)
        lines.append(
            f"• {html.escape(law.label('field', key, lang))}: "
            + html.escape(law.label("activity", value, lang))
        )
    lines.append(
        f"• {html.escape(law.label('field', 'hiv', lang))}: "
        + html.escape(law.label("hiv", card.hiv, lang))
    )
    if note := card.note(lang):
        lines += ["", html.escape(note)]
    sources = ", ".join(html.escape(source_label(url)) for url in card.sources)
    lines += [
        "",
        _("Source: {sources} (read on {date}).").format(sources=sources, date=seen),
        _("This is general information, not legal advice."),
    ]
    if notice := risk_text(law, country, lang):
        lines += ["", notice]
    return "\n".join(lines)


def law_screen(directory: Directory, country: str, lang: str) -> tuple[str, InlineKeyboardMarkup]:
    kb = InlineKeyboardBuilder()
    kb.button(text="🧭 " + _("Services in this country"), callback_data=NeedMenu(c=country))
    kb.button(text="↩ " + _("Another country"), callback_data=CountryRegion(p="law"))
    kb.adjust(1)
    kb.row(menu_button())
    return law_text(directory, country, lang), kb.as_markup()


async def show_law(target: Message | CallbackQuery, directory: Directory, country: str) -> None:
    text, markup = law_screen(directory, country, current_language())
    await show(target, text, markup)


@country_chosen("law")
async def law_country_chosen(
    event: Message | CallbackQuery, country: str, data: dict[str, Any]
) -> None:
    await show_law(event, data["directory"], country)


@router.message(Command("law"))
async def cmd_law(
    message: Message, state: FSMContext, member: Member | None, directory: Directory
) -> None:
    if member is not None and member.country in country_codes():
        await show_law(message, directory, member.country)
        return
    await ask_country(
        message,
        state,
        "law",
        member=member,
        directory=directory,
        prompt="<b>" + _("The law where you are") + "</b>\n\n" + _("Which country are you in?"),
    )


@router.callback_query(LawCountry.filter())
async def show_law_card(
    query: CallbackQuery, callback_data: LawCountry, directory: Directory
) -> None:
    if callback_data.c not in country_codes():
        await stale_button(query)
        return
    await show_law(query, directory, callback_data.c)


# -- what to do now ----------------------------------------------------------------------------


def after_violence_text(directory: Directory, lang: str) -> str:
    notice = directory.law.after_violence
    if notice is None:
        return _("Please contact a network: they can help you find care near you.")
    return html.escape(notice.text(lang))


def after_violence_button(country: str = "") -> tuple[str, AfterViolence]:
    return "🩹 " + _("Hurt or in danger? What to do now"), AfterViolence(c=country)


@picker_buttons("services")
def services_picker_buttons() -> list[InlineKeyboardButton]:
    """Menu → Services → "what to do now": two taps from the main menu."""
    label, data = after_violence_button()
    return [InlineKeyboardButton(text=label, callback_data=data.pack())]


@router.callback_query(AfterViolence.filter())
async def show_after_violence(
    query: CallbackQuery, callback_data: AfterViolence, directory: Directory
) -> None:
    country = callback_data.c
    if country and country not in country_codes():
        await stale_button(query)
        return
    kb = InlineKeyboardBuilder()
    if country:
        kb.button(
            text="🧭 " + _("Help with violence here"),
            callback_data=ServicePage(c=country, n="violence-response"),
        )
    else:
        kb.button(text="🧭 " + _("Find a service"), callback_data=Menu(section="services"))
    kb.button(text="✉️ " + _("Ask a network"), callback_data=Menu(section="ask"))
    kb.button(text="📝 " + _("Report a bad date"), callback_data=Menu(section="report"))
    kb.adjust(1)
    kb.row(menu_button())
    await show(query, after_violence_text(directory, current_language()), kb.as_markup())


@router.message(Command("now"))
async def cmd_after_violence(message: Message, directory: Directory) -> None:
    kb = InlineKeyboardBuilder()
    kb.button(text="🧭 " + _("Find a service"), callback_data=Menu(section="services"))
    kb.button(text="✉️ " + _("Ask a network"), callback_data=Menu(section="ask"))
    kb.button(text="📝 " + _("Report a bad date"), callback_data=Menu(section="report"))
    kb.adjust(1)
    kb.row(menu_button())
    text = after_violence_text(directory, current_language())
    await message.answer(text, reply_markup=kb.as_markup())
