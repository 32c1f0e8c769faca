"""What the delivery worker (bot/referrals/outbox.py) sends for a bad-date report's rows.

The worker owns leases, retries and errors; this module only decides the chat and the text of
a report's card, its edits and the member's note, or finishes a row that has nothing left to do.
Routing follows referrals: the network's bound group, else the global secretariat's group, else
the row waits for a /bind.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.baddates.service import BadDates
from bot.baddates.texts import card_markup, card_text, card_view, note_text
from bot.directory.model import GLOBAL
from bot.referrals.texts import country_label
from storage.models import (
    BadDateReport,
    BadDateState,
    Destination,
    Member,
    OutboxKind,
    OutboxMessage,
    OutboxState,
)
from storage.repositories import GroupRepo, OutboxRepo
from storage.repositories.baddates import UNDECIDED


@dataclass
class Outgoing:
    chat_id: int
    text: str
    markup: InlineKeyboardMarkup | None = None
    edit_message_id: int | None = None
    protect: bool = True
    group_network: str | None = None


def finish(row: OutboxMessage, state: OutboxState, note: str) -> None:
    row.state, row.lease_until, row.lease_owner = state, None, None
    row.in_flight = False
    row.last_error = note[:120]


async def resolve_group(session: AsyncSession, report: BadDateReport) -> tuple[int, str] | None:
    groups = GroupRepo(session)
    for network_id in dict.fromkeys((report.network_id, GLOBAL)):
        chat = await groups.active_chat(network_id)
        if chat is not None:
            return chat, network_id
    return None


async def render_card(
    session: AsyncSession,
    app: App,
    report: BadDateReport,
    lang: str,
    *,
    repeat: bool = False,
    decision: str | None = None,
    group_network: str | None = None,
) -> str:
    member = await session.get(Member, report.member_id) if report.member_id else None
    opened = await BadDates(session, app).opened(report)
    view = card_view(
        app.directory, report, member, opened.body, opened.alert_text, lang, group_network
    )
    return card_text(view, repeat=repeat, decision=decision)


async def plan(session: AsyncSession, app: App, i18n: I18n, row: OutboxMessage) -> Outgoing | None:
    """The message a report's row owes, or None (the row was finished or parked)."""
    report = await session.get(BadDateReport, row.report_id) if row.report_id else None
    if report is None:
        finish(row, OutboxState.CANCELLED, "report gone")
        return None
    default = app.settings.default_language
    if row.kind == OutboxKind.REPORT_NOTE:
        member = await session.get(Member, report.member_id) if report.member_id else None
        if member is None:
            finish(row, OutboxState.CANCELLED, "member gone")
            return None
        lang = member.language or report.language
        outcome = json.loads(row.params or "{}").get("o", "")
        with i18n.context(), i18n.use_locale(lang):
            text = note_text(report.code, country_label(report.country, lang), outcome)
        return Outgoing(member.telegram_id, text)
    if row.kind == OutboxKind.REPORT_EDIT:
        card = await OutboxRepo(session).get(int(json.loads(row.params or "{}").get("card", 0)))
        if card is None or card.sent_chat_id is None or card.message_id is None:
            finish(row, OutboxState.CANCELLED, "card gone")
            return None
        lang = await GroupRepo(session).language_of(card.sent_chat_id) or default
        with i18n.context(), i18n.use_locale(lang):
            text = await render_card(session, app, report, lang)
            markup = card_markup(report.code, report.state)
        return Outgoing(
            card.sent_chat_id, text, markup, edit_message_id=card.message_id, protect=False
        )
    if row.kind != OutboxKind.REPORT or row.destination != Destination.NETWORK:
        finish(row, OutboxState.CANCELLED, "unknown kind")
        return None
    if report.state not in UNDECIDED:
        finish(row, OutboxState.CANCELLED, "withdrawn")
        return None
    target = await resolve_group(session, report)
    if target is None:
        # No group at all: wait for a /bind (which wakes every waiting row).
        row.state, row.lease_until, row.lease_owner = OutboxState.WAITING, None, None
        row.in_flight = False
        report.state = BadDateState.WAITING
        return None
    chat, group_network = target
    lang = await GroupRepo(session).language_of(chat) or default
    with i18n.context(), i18n.use_locale(lang):
        text = await render_card(
            session, app, report, lang, repeat=row.repeat, group_network=group_network
        )
        markup = card_markup(report.code, report.state)
    return Outgoing(chat, text, markup, group_network=group_network)


async def sent(
    session: AsyncSession, row: OutboxMessage, group_network: str | None, now: dt.datetime
) -> bool:
    """After a card was posted; True when it owes an edit at once (withdrawn on the way)."""
    if row.kind != OutboxKind.REPORT or row.report_id is None:
        return False
    report = await session.get(BadDateReport, row.report_id)
    if report is None:
        return False
    report.group_network_id = group_network
    if report.state in (BadDateState.QUEUED, BadDateState.WAITING):
        report.state, report.delivered_at = BadDateState.DELIVERED, now
        return False
    if report.state == BadDateState.DELETED:
        await OutboxRepo(session).enqueue(
            f"report_edit:{row.id}:{report.state}",
            report_id=report.id,
            destination=Destination.CARD,
            kind=OutboxKind.REPORT_EDIT,
            params=json.dumps({"card": row.id}),
        )
        return True
    return False
