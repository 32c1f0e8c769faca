"""Services: country -> need -> matching services; a shared location -> the nearest; /network.

A location message is answered at any time, not only inside the Services flow: sharing one is a
clear request. It is used for that answer only: never stored, put in FSM data or callback data,
or logged, and the member's location message is removed from the chat afterwards.
"""

from __future__ import annotations

import html
import math
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from babel import Locale
from babel.lists import format_list
from babel.numbers import format_decimal

from bot.directory.countries import (
    CountryRegion,
    ask_country,
    country_chosen,
    country_name,
    current_language,
)
from bot.directory.model import GLOBAL, Directory, Network, Service, country_codes
from bot.i18n import _, ngettext
from bot.ui.keyboards import Menu, menu_button, pager
from bot.ui.screens import show, stale_button
from storage.models import Member

router = Router(name=__name__)

PAGE_SIZE = 3  # cards per message: a few fit well under Telegram's 4096 characters
ALL = "all"
FAR_KM = 1000  # beyond this the nearest services are shown, but called far away
BUTTON_NAME = 28


class ServicePage(CallbackData, prefix="sv"):
    c: str  # country
    n: str  # need id, or "all"
    p: int = 0  # page


class NeedMenu(CallbackData, prefix="sn"):
    c: str


# -- rendering -------------------------------------------------------------------------------


def button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def short(name: str, limit: int = BUTTON_NAME) -> str:
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"


def language_names(codes: tuple[str, ...], lang: str) -> str:
    names = Locale.parse(lang).languages
    return format_list([str(names.get(code, code)) for code in codes], locale=lang)


def distance_text(km: float, lang: str) -> str:
    if km < 1:
        return _("less than 1 km")
    return _("{distance} km").format(distance=format_decimal(round(km), locale=lang))


def card(service: Service, directory: Directory, lang: str, km: float | None = None) -> str:
    """One service as HTML. Its sex worker-led status is never shown (it only orders lists)."""
    lines = [f"<b>{html.escape(service.name)}</b>"]
    place = ", ".join(p for p in (service.city, country_name(service.country, lang)) if p)
    if km is not None:
        place += " · " + distance_text(km, lang)
    lines.append("📍 " + html.escape(place))
    if service.languages:
        lines.append(
            "🗣 "
            + _("Languages: {languages}").format(
                languages=html.escape(language_names(service.languages, lang))
            )
        )
    offers = [need.name(lang) for n in service.needs if (need := directory.need(n))]
    if offers:
        lines.append("✅ " + _("Offers: {needs}").format(needs=html.escape("; ".join(offers))))
    if note := service.note(lang):
        lines.append(html.escape(note))
    contacts = service.contacts
    if contacts.email:
        lines.append("✉️ " + _("Email: {email}").format(email=html.escape(contacts.email)))
    if contacts.phone:
        lines.append("☎️ " + _("Phone: {phone}").format(phone=html.escape(contacts.phone)))
    if contacts.hours:
        lines.append("🕒 " + _("Hours: {hours}").format(hours=html.escape(contacts.hours)))
    return "\n".join(lines)


def contact_buttons(kb: InlineKeyboardBuilder, services: list[Service]) -> None:
    for service in services:
        row = InlineKeyboardBuilder()
        if service.contacts.website:
            row.button(text="🌐 " + short(service.name), url=service.contacts.website)
        if service.contacts.telegram_url:
            row.button(text="✈️ " + short(service.name), url=service.contacts.telegram_url)
        kb.attach(row)


def network_card(network: Network, country: str | None, lang: str) -> str:
    if network.id == GLOBAL:
        if country:
            head = _("No regional network covers {country}. The global network can help:").format(
                country=html.escape(country_name(country, lang))
            )
        else:
            head = _("The global network can help:")
    else:
        head = _("Your regional network:")
    return (
        f"{head}\n\n<b>{html.escape(network.name)}</b>\n{html.escape(network.description(lang))}"
    )


def network_buttons(kb: InlineKeyboardBuilder, network: Network) -> None:
    if network.website:
        kb.button(text="🌐 " + _("Website"), url=network.website)
    kb.button(text="✉️ " + _("Ask a network"), callback_data=Menu(section="ask"))


# -- the flow --------------------------------------------------------------------------------


def services_prompt() -> str:
    return _(
        "<b>Find a service</b>\n\n"
        "Which country are you in?\n\n"
        "You can also share your location (📎 → Location) to see the nearest services. "
        "It is used for that answer only and never stored."
    )


async def start_services(
    target: Message | CallbackQuery, state: FSMContext, data: dict[str, Any]
) -> None:
    await ask_country(
        target,
        state,
        "services",
        member=data.get("member"),
        directory=data["directory"],
        prompt=services_prompt(),
    )


@router.message(Command("services"))
async def cmd_services(message: Message, state: FSMContext, **data: Any) -> None:
    await start_services(message, state, data)


@router.callback_query(Menu.filter(F.section == "services"))
async def show_services(query: CallbackQuery, state: FSMContext, **data: Any) -> None:
    await start_services(query, state, data)


def needs_screen(
    directory: Directory, country: str, lang: str
) -> tuple[str, InlineKeyboardMarkup]:
    kb = InlineKeyboardBuilder()
    for need in directory.needs:
        kb.button(text=need.name(lang), callback_data=ServicePage(c=country, n=need.id))
    total = len(directory.services(country))
    if total:
        kb.button(
            text=_("All listed services ({count})").format(count=total),
            callback_data=ServicePage(c=country, n=ALL),
        )
    kb.button(text="↩ " + _("Another country"), callback_data=CountryRegion(p="services"))
    kb.adjust(1)
    kb.row(menu_button())
    text = _("<b>{country}</b>\n\nWhat do you need?").format(
        country=html.escape(country_name(country, lang))
    )
    return text, kb.as_markup()


@country_chosen("services")
async def services_country_chosen(
    event: Message | CallbackQuery, country: str, data: dict[str, Any]
) -> None:
    text, markup = needs_screen(data["directory"], country, current_language())
    await show(event, text, markup)


@router.callback_query(NeedMenu.filter())
async def show_needs(query: CallbackQuery, callback_data: NeedMenu, directory: Directory) -> None:
    if callback_data.c not in country_codes():
        await stale_button(query)
        return
    text, markup = needs_screen(directory, callback_data.c, current_language())
    await show(query, text, markup)


@router.callback_query(ServicePage.filter())
async def show_matches(
    query: CallbackQuery, callback_data: ServicePage, directory: Directory
) -> None:
    country, need_id, page = callback_data.c, callback_data.n, callback_data.p
    need = directory.need(need_id)
    if country not in country_codes() or (need is None and need_id != ALL) or page < 0:
        await stale_button(query)
        return
    lang = current_language()
    matches = directory.services(country, None if need is None else need.id)
    pages = max(1, math.ceil(len(matches) / PAGE_SIZE))
    if page >= pages:
        await stale_button(query)
        return
    where = html.escape(country_name(country, lang))
    what = html.escape(need.name(lang)) if need else None
    back = NeedMenu(c=country)
    kb = InlineKeyboardBuilder()
    if not matches:
        network = directory.network_for(country)
        if what:
            head = _("No services for <b>{need}</b> in <b>{country}</b> are listed yet.")
        else:
            head = _("No services in <b>{country}</b> are listed yet.")
        text = (
            head.format(need=what, country=where) + "\n\n" + network_card(network, country, lang)
        )
        network_buttons(kb, network)
        kb.button(text="↩ " + _("Other needs"), callback_data=back)
        kb.adjust(1)
        kb.row(menu_button())
        await show(query, text, kb.as_markup())
        return
    shown = matches[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    title = f"<b>{what}</b> · {where}" if what else f"<b>{where}</b>"
    count = ngettext("{count} service found.", "{count} services found.", len(matches)).format(
        count=len(matches)
    )
    if pages > 1:
        count += " " + _("Page {page} of {pages}.").format(page=page + 1, pages=pages)
    cards = "\n\n".join(card(s, directory, lang) for s in shown)
    text = f"{title}\n{count}\n\n{cards}"
    contact_buttons(kb, shown)
    kb.row(
        *pager(
            page,
            pages,
            lambda p: ServicePage(c=country, n=need_id, p=p),
            "◀ " + _("Back"),
            _("More") + " ▶",
        )
    )
    kb.row(button("↩ " + _("Other needs"), back))
    kb.row(button("✉️ " + _("Ask a network"), Menu(section="ask")))
    kb.row(menu_button())
    await show(query, text, kb.as_markup())


# -- location --------------------------------------------------------------------------------


@router.message(F.location)
async def nearest_services(message: Message, directory: Directory) -> None:
    # Read the coordinates once; never log them, store them, or pass them on.
    location = message.location
    assert location is not None
    found = directory.nearest(location.latitude, location.longitude, limit=PAGE_SIZE + 2)
    del location
    try:
        # A pin on someone's screen says where they are: take it out of the chat.
        await message.delete()
        removed = True
    except TelegramBadRequest:
        removed = False
    lang = current_language()
    kb = InlineKeyboardBuilder()
    if not found:
        text = _("No services with a location are listed yet. Choose your country instead.")
    else:
        if found[0][1] > FAR_KM:
            head = _("No listed service is near you. These are the nearest ones:")
        else:
            head = _("The nearest services to the location you shared:")
        cards = "\n\n".join(card(s, directory, lang, km) for s, km in found)
        text = f"<b>{head}</b>\n\n{cards}"
        contact_buttons(kb, [s for s, _km in found])
    note = _("Your location was used for this answer only and is not stored.")
    if removed:
        note += " " + _("I removed it from this chat.")
    text += "\n\n<i>" + note + "</i>"
    kb.row(button("🧭 " + _("Choose a country"), CountryRegion(p="services")))
    kb.row(button("✉️ " + _("Ask a network"), Menu(section="ask")))
    kb.row(menu_button())
    await message.answer(text, reply_markup=kb.as_markup())


# -- /network --------------------------------------------------------------------------------


async def show_network(
    target: Message | CallbackQuery, directory: Directory, country: str
) -> None:
    lang = current_language()
    network = directory.network_for(country)
    kb = InlineKeyboardBuilder()
    network_buttons(kb, network)
    kb.button(text="↩ " + _("Another country"), callback_data=CountryRegion(p="network"))
    kb.adjust(1)
    kb.row(menu_button())
    await show(target, network_card(network, country, lang), kb.as_markup())


@country_chosen("network")
async def network_country_chosen(
    event: Message | CallbackQuery, country: str, data: dict[str, Any]
) -> None:
    await show_network(event, data["directory"], country)


@router.message(Command("network"))
async def cmd_network(
    message: Message, state: FSMContext, member: Member | None, directory: Directory
) -> None:
    if member is not None and member.country in country_codes():
        await show_network(message, directory, member.country)
        return
    await ask_country(
        message,
        state,
        "network",
        member=member,
        directory=directory,
        prompt=_("<b>Your regional network</b>\n\nWhich country are you in?"),
    )
