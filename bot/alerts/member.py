"""/alerts: a member opts in (or out, in one tap) for alerts in their country and areas, and
for news; both are keyed by the member's internal id, the country and areas sealed."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.callbacks import Subscribe, SubscribeOp
from bot.alerts.service import MAX_AREAS, clean_areas
from bot.directory.countries import (
    CountryRegion,
    ask_country,
    country_chosen,
    country_name,
    current_language,
)
from bot.directory.model import Directory, country_codes
from bot.i18n import _
from bot.ui.keyboards import menu_button
from bot.ui.screens import show
from storage.models import Member, Subscription, SubscriptionKind
from storage.repositories import SubscriptionRepo

router = Router(name=__name__)
router.message.filter(F.chat.type == ChatType.PRIVATE)
router.callback_query.filter(F.message.chat.type == ChatType.PRIVATE)

Event = Message | CallbackQuery


class AlertAreas(StatesGroup):
    typing = State()


def _areas(sub: Subscription) -> list[str]:
    return list(json.loads(sub.areas or "[]"))


def _where(sub: Subscription, lang: str) -> str:
    place = html.escape(country_name(sub.country or "", lang))
    areas = _areas(sub)
    if areas:
        place += " (" + html.escape(", ".join(areas)) + ")"
    return place


async def screen(session: AsyncSession, member: Member) -> tuple[str, InlineKeyboardMarkup]:
    lang = current_language()
    subs = {s.kind: s for s in await SubscriptionRepo(session).of_member(member.id)}
    alerts, news = subs.get(SubscriptionKind.ALERTS), subs.get(SubscriptionKind.NEWS)
    lines = [
        "<b>" + _("Alerts and news") + "</b>",
        "",
        _(
            "Alerts are warnings about dangerous people that a network has checked and sent"
            " for a country. News is what networks announce. You choose each; nobody sees your"
            " choices."
        ),
        "",
    ]
    kb = InlineKeyboardBuilder()
    if alerts is not None and alerts.country:
        lines.append("🔔 " + _("Alerts: on, for {place}.").format(place=_where(alerts, lang)))
        if alerts.unreachable_on is not None:
            lines.append(_("Paused: Telegram told us the bot was blocked. Tap to resume."))
            kb.button(
                text="🔔 " + _("Resume alerts"), callback_data=Subscribe(op=SubscribeOp.ALERTS_ON)
            )
        kb.button(
            text="🔕 " + _("Stop alerts"), callback_data=Subscribe(op=SubscribeOp.ALERTS_OFF)
        )
        kb.button(text="✏️ " + _("Name areas"), callback_data=Subscribe(op=SubscribeOp.AREAS))
        if _areas(alerts):
            kb.button(
                text=_("The whole country"), callback_data=Subscribe(op=SubscribeOp.AREAS_CLEAR)
            )
        kb.button(text="↩ " + _("Another country"), callback_data=CountryRegion(p="alerts"))
    else:
        lines.append("🔕 " + _("Alerts: off."))
        kb.button(text="🔔 " + _("Get alerts"), callback_data=Subscribe(op=SubscribeOp.ALERTS_ON))
    if news is not None:
        lines.append("📰 " + _("News: on, for {place}.").format(place=_where(news, lang)))
        kb.button(text="🔕 " + _("Stop news"), callback_data=Subscribe(op=SubscribeOp.NEWS_OFF))
    else:
        lines.append("📰 " + _("News: off."))
        kb.button(text="📰 " + _("Get news"), callback_data=Subscribe(op=SubscribeOp.NEWS_ON))
    kb.adjust(1)
    kb.row(menu_button())
    return "\n".join(lines), kb.as_markup()


async def refresh(event: Event, session: AsyncSession, member: Member) -> None:
    text, markup = await screen(session, member)
    await show(event, text, markup)


@router.message(Command("alerts"))
async def cmd_alerts(message: Message, session: AsyncSession, member: Member) -> None:
    await refresh(message, session, member)


@router.callback_query(Subscribe.filter(F.op == SubscribeOp.SHOW))
async def show_alerts(query: CallbackQuery, session: AsyncSession, member: Member) -> None:
    await refresh(query, session, member)


async def _country_for(session: AsyncSession, member: Member) -> str | None:
    """The country to subscribe for: the alerts' one, else the saved one."""
    for kind in (SubscriptionKind.ALERTS, SubscriptionKind.NEWS):
        sub = await SubscriptionRepo(session).get(member.id, kind)
        if sub is not None and sub.country in country_codes():
            return sub.country
    return member.country if member.country in country_codes() else None


async def _opt_in(
    query: CallbackQuery,
    kind: SubscriptionKind,
    purpose: str,
    session: AsyncSession,
    member: Member,
    state: FSMContext,
    directory: Directory,
) -> None:
    country = await _country_for(session, member)
    if country is None:
        await ask_country(
            query,
            state,
            purpose,
            member=member,
            directory=directory,
            prompt=_("<b>Alerts and news</b>\n\nFor which country?"),
        )
        return
    repo = SubscriptionRepo(session)
    existing = await repo.get(member.id, kind)
    areas = _areas(existing) if existing is not None else []
    await repo.subscribe(member.id, kind, country, areas)
    await refresh(query, session, member)


@router.callback_query(Subscribe.filter(F.op == SubscribeOp.ALERTS_ON))
async def alerts_on(
    query: CallbackQuery,
    session: AsyncSession,
    member: Member,
    state: FSMContext,
    directory: Directory,
) -> None:
    await _opt_in(query, SubscriptionKind.ALERTS, "alerts", session, member, state, directory)


@router.callback_query(Subscribe.filter(F.op == SubscribeOp.NEWS_ON))
async def news_on(
    query: CallbackQuery,
    session: AsyncSession,
    member: Member,
    state: FSMContext,
    directory: Directory,
) -> None:
    await _opt_in(query, SubscriptionKind.NEWS, "news", session, member, state, directory)


@router.callback_query(Subscribe.filter(F.op == SubscribeOp.ALERTS_OFF))
async def alerts_off(query: CallbackQuery, session: AsyncSession, member: Member) -> None:
    await SubscriptionRepo(session).unsubscribe(member.id, SubscriptionKind.ALERTS)
    await refresh(query, session, member)


@router.callback_query(Subscribe.filter(F.op == SubscribeOp.NEWS_OFF))
async def news_off(query: CallbackQuery, session: AsyncSession, member: Member) -> None:
    await SubscriptionRepo(session).unsubscribe(member.id, SubscriptionKind.NEWS)
    await refresh(query, session, member)


@country_chosen("alerts")
async def alerts_country_chosen(event: Event, country: str, data: dict[str, Any]) -> None:
    await _subscribe_chosen(event, country, data, SubscriptionKind.ALERTS)


@country_chosen("news")
async def news_country_chosen(event: Event, country: str, data: dict[str, Any]) -> None:
    await _subscribe_chosen(event, country, data, SubscriptionKind.NEWS)


async def _subscribe_chosen(
    event: Event, country: str, data: dict[str, Any], kind: SubscriptionKind
) -> None:
    session: AsyncSession = data["session"]
    member: Member = data["member"]
    # A new country: the areas named for the old one no longer apply.
    await SubscriptionRepo(session).subscribe(member.id, kind, country, [])
    await refresh(event, session, member)


@router.callback_query(Subscribe.filter(F.op == SubscribeOp.AREAS))
async def ask_areas(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(AlertAreas.typing)
    kb = InlineKeyboardBuilder()
    kb.button(text="↩ " + _("Back"), callback_data=Subscribe(op=SubscribeOp.SHOW))
    await show(
        query,
        _(
            "Type the towns or areas you want alerts for, separated by commas (up to {n})."
            " Alerts for the whole country always reach you."
        ).format(n=MAX_AREAS),
        kb.as_markup(),
    )


@router.message(AlertAreas.typing, F.text, ~F.text.startswith("/"))
async def type_areas(
    message: Message, state: FSMContext, session: AsyncSession, member: Member
) -> None:
    await state.set_state(None)
    repo = SubscriptionRepo(session)
    sub = await repo.get(member.id, SubscriptionKind.ALERTS)
    areas = clean_areas(re.split(r"[,;\n]+", message.text or ""))
    if sub is not None and sub.country:
        await repo.subscribe(member.id, SubscriptionKind.ALERTS, sub.country, areas)
    await refresh(message, session, member)


@router.callback_query(Subscribe.filter(F.op == SubscribeOp.AREAS_CLEAR))
async def clear_areas(query: CallbackQuery, session: AsyncSession, member: Member) -> None:
    repo = SubscriptionRepo(session)
    sub = await repo.get(member.id, SubscriptionKind.ALERTS)
    if sub is not None and sub.country:
        await repo.subscribe(member.id, SubscriptionKind.ALERTS, sub.country, [])
    await refresh(query, session, member)
