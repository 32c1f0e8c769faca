"""Services: country -> need -> matching services; a shared location -> the nearest; /network.

A location message is answered at any time, not only inside the Services flow: sharing one is a
clear request. It is used for that answer only: never stored, put in FSM data or callback data,
or logged, and the member's location message is removed from the chat afterwards.
"""

from __future__ import annotations

import asyncio
import html
import math
from typing import Any
from urllib.parse import urlsplit

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from babel import Locale
from babel.dates import format_date
from babel.lists import format_list
from babel.numbers import format_decimal

from bot.config import Settings
from bot.directory.callbacks import NeedMenu, ServicePage
from bot.directory.countries import (
    CountryRegion,
    ask_country,
    country_chosen,
    country_name,
    current_language,
)
from bot.directory.geo import country_at
from bot.directory.law_handlers import LawCountry, after_violence_button, risk_text
from bot.directory.model import (
    GLOBAL,
    OWN_SITE,
    Directory,
    Network,
    Service,
    country_codes,
)
from bot.i18n import _, ngettext
from bot.ui.callbacks import AskAbout
from bot.ui.keyboards import Menu, menu_button, pager
from bot.ui.localise import fill
from bot.ui.screens import show, stale_button
from storage.models import Member

router = Router(name=__name__)

PAGE_SIZE = 3  # cards per message: a few fit well under Telegram's 4096 characters
ALL = "all"
VIOLENCE = "violence-response"  # the need shown with "what to do now"
BUTTON_NAME = 28


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
    """One service as HTML, with where its entry comes from."""
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
    lines.append("ℹ️ " + html.escape(provenance(service, directory, lang)))
    contacts = service.contacts
    if contacts.email:
        lines.append("✉️ " + _("Email: {email}").format(email=html.escape(contacts.email)))
    if contacts.phone:
        lines.append("☎️ " + _("Phone: {phone}").format(phone=html.escape(contacts.phone)))
    if contacts.hours:
        lines.append("🕒 " + _("Hours: {hours}").format(hours=html.escape(contacts.hours)))
    return "\n".join(lines)


def lister_name(directory: Directory, lister: str) -> str:
    found = directory.lister(lister)
    return found if isinstance(found, str) else found.name


def provenance(service: Service, directory: Directory, lang: str) -> str:
    """Where the entry comes from, plainly; never that it was vetted (issue 13, point 2)."""
    lister = directory.lister(service.listed_by)
    if isinstance(lister, Network) and lister.id == GLOBAL:
        said = _("Listed as a member of the global network.")
    elif service.listed_by == OWN_SITE:
        said = _("From its own website.")
    else:
        said = _("Listed by {network}.").format(network=lister_name(directory, service.listed_by))
    if service.checked_by and service.checked_on:
        said += " " + _("Checked by {network} on {date}.").format(
            network=lister_name(directory, service.checked_by),
            date=format_date(service.checked_on, format="long", locale=lang),
        )
    site = (urlsplit(service.source).hostname or "").removeprefix("www.")
    return (
        said
        + " "
        + _("Source: {site} (read on {date}).").format(
            site=site, date=format_date(service.source_seen, format="long", locale=lang)
        )
    )


def contact_buttons(kb: InlineKeyboardBuilder, services: list[Service]) -> None:
    for service in services:
        row = InlineKeyboardBuilder()
        if service.contacts.website:
            row.button(text="🌐 " + short(service.name), url=service.contacts.website)
        if service.contacts.telegram_url:
            row.button(text="✈️ " + short(service.name), url=service.contacts.telegram_url)
        kb.attach(row)


def network_card(networks: list[Network], country: str | None, lang: str) -> str:
    """The network(s) for a country, with a line saying why it is this one."""
    where = html.escape(country_name(country, lang)) if country else ""
    first = networks[0]
    if len(networks) > 1:
        head = _(
            "More than one regional network has members in {country}. Choose the one you prefer:"
        ).format(country=where)
    elif first.id != GLOBAL:
        head = _("Your regional network:")
    else:
        head = _("The global network can help:")
    blocks = [
        f"<b>{html.escape(n.name)}</b>\n{html.escape(n.description(lang))}" for n in networks
    ]
    text = head + "\n\n" + "\n\n".join(blocks)
    if country and len(networks) == 1:
        if first.id == GLOBAL:
            why = _(
                "Why: no regional network shows members in {country} on its public pages, so "
                "the global network's secretariat is your contact."
            )
        else:
            why = _("Why: it is the regional network with member organisations in {country}.")
        text += "\n\n<i>" + why.format(country=where) + "</i>"
    return text


def network_buttons(
    kb: InlineKeyboardBuilder, networks: list[Network], country: str | None = None
) -> None:
    for network in networks:
        if network.website:
            label = _("Website") if len(networks) == 1 else short(network.name)
            kb.button(text="🌐 " + label, url=network.website)
    # The country is known here: "Ask a network" does not ask for it again (tour finding 15).
    ask = AskAbout(c=country) if country else Menu(section="ask")
    kb.button(text="✉️ " + _("Ask a network"), callback_data=ask)


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
            text=fill(_("All listed services ({count})"), lang, count=total),
            callback_data=ServicePage(c=country, n=ALL),
        )
    kb.button(text="⚖️ " + _("The law here"), callback_data=LawCountry(c=country))
    kb.button(text="↩ " + _("Another country"), callback_data=CountryRegion(p="services"))
    kb.adjust(1)
    kb.row(menu_button())
    text = _("<b>{country}</b>\n\nWhat do you need?").format(
        country=html.escape(country_name(country, lang))
    )
    if notice := risk_text(directory.law, country, lang):
        text += "\n\n" + notice
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
    violence = need is not None and need.id == VIOLENCE
    if violence:
        label, data = after_violence_button(country)
        kb.row(button(label, data))
    if not matches:
        networks = directory.networks_for(country)
        title = f"<b>{what}</b> · {where}" if what else f"<b>{where}</b>"
        if what:
            sentence = _("No organisation offering this is listed in this country yet.")
        else:
            sentence = _("No organisations in this country are listed yet.")
        text = title + "\n" + sentence + "\n\n" + network_card(networks, country, lang)
        network_buttons(kb, networks, country)
        total = len(directory.services(country))
        if what and total:
            kb.button(
                text=fill(_("All listed services ({count})"), lang, count=total),
                callback_data=ServicePage(c=country, n=ALL),
            )
        kb.button(text="↩ " + _("Other needs"), callback_data=back)
        kb.adjust(1)
        kb.row(menu_button())
        await show(query, text, kb.as_markup())
        return
    shown = matches[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    title = f"<b>{what}</b> · {where}" if what else f"<b>{where}</b>"
    found = ngettext("{count} service found.", "{count} services found.", len(matches))
    count = fill(found, lang, count=len(matches))
    if pages > 1:
        count += " " + fill(_("Page {page} of {pages}."), lang, page=page + 1, pages=pages)
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
async def nearest_services(
    message: Message, directory: Directory, settings: Settings, member: Member | None
) -> None:
    # Read the coordinates once; never log them, store them, or pass them on.
    location = message.location
    assert location is not None
    lat, lon = location.latitude, location.longitude
    del location
    found = directory.nearest(lat, lon, limit=PAGE_SIZE + 2)
    # The first call reads GeoNames' towns (a second or two): off the event loop.
    here = await asyncio.to_thread(country_at, lat, lon)
    del lat, lon
    saved = member.country if member is not None and member.country in country_codes() else None
    near = [
        (s, km) for s, km in found if km <= settings.nearest_max_km or s.country in (here, saved)
    ][: PAGE_SIZE + 2]
    try:
        # A pin on someone's screen says where they are: take it out of the chat.
        await message.delete()
        removed = True
    except TelegramBadRequest:
        removed = False
    lang = current_language()
    kb = InlineKeyboardBuilder()
    country = here or saved
    if near:
        head = _("The nearest services to the location you shared:")
        cards = "\n\n".join(card(s, directory, lang, km) for s, km in near)
        text = f"<b>{head}</b>\n\n{cards}"
        contact_buttons(kb, [s for s, _km in near])
    else:
        far = format_decimal(settings.nearest_max_km, locale=lang)
        if here is None:
            head = _(
                "I could not tell which country this location is in (it may be at sea). No "
                "service is listed within {distance} km of it."
            ).format(distance=far)
        else:
            head = _(
                "No service is listed within {distance} km of the location you shared."
            ).format(distance=far)
        networks = directory.networks_for(country)
        text = f"<b>{head}</b>\n\n" + network_card(networks, country, lang)
        network_buttons(kb, networks)
        if country is not None:
            total = len(directory.services(country))
            name = country_name(country, lang)
            if total:
                kb.button(
                    text=fill(
                        _("Services in {country} ({count})"), lang, country=name, count=total
                    ),
                    callback_data=ServicePage(c=country, n=ALL),
                )
            else:
                text += "\n\n" + _("No organisations in {country} are listed yet.").format(
                    country=html.escape(name)
                )
        kb.adjust(1)
    note = _("Your location was used for this answer only and is not stored.")
    if removed:
        note += " " + _("I removed it from this chat.")
    text += "\n\n<i>" + note + "</i>"
    kb.row(button("🧭 " + _("Choose a country"), CountryRegion(p="services")))
    if near:
        kb.row(button("✉️ " + _("Ask a network"), Menu(section="ask")))
    kb.row(menu_button())
    await message.answer(text, reply_markup=kb.as_markup())


# -- /network --------------------------------------------------------------------------------


async def show_network(
    target: Message | CallbackQuery, directory: Directory, country: str
) -> None:
    lang = current_language()
    networks = directory.networks_for(country)
    kb = InlineKeyboardBuilder()
    network_buttons(kb, networks, country)
    kb.button(text="↩ " + _("Another country"), callback_data=CountryRegion(p="network"))
    kb.adjust(1)
    kb.row(menu_button())
    text = network_card(networks, country, lang)
    if networks[0].id != GLOBAL:  # the global card names the country already
        where = "<b>" + html.escape(country_name(country, lang)) + "</b>"
        # Says which country a typed name was taken for (tour finding 15).
        text = _("Country: {country}").format(country=where) + "\n\n" + text
    await show(target, text, kb.as_markup())


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
