"""What each kind of outbox row becomes: one planner function per `OutboxKind`.

`plan()` loads what every planner reads (the referral, the member and their key, the language
of the chat the message goes to) into a `Job`, and calls the kind's planner inside that
language. A planner returns the one Telegram call to make (a `Plan`) or None after parking,
cancelling or finishing the row itself. Sending, retries, leases and timers stay in outbox.py.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.baddates import delivery as reports
from bot.desk.service import card_history
from bot.directory.model import GLOBAL
from bot.i18n import _
from bot.referrals.callbacks import RequestAction, RequestOp
from bot.referrals.service import OPEN_STATES, Body, open_body, open_media, open_relay
from bot.referrals.texts import (
    AlertReason,
    CardView,
    alert_text,
    card_markup,
    card_text,
    card_view,
    closed_text,
    media_to_group_caption,
    media_to_member_caption,
    network_label,
    relay_deleted_text,
    relay_to_group_text,
    relay_to_member_text,
    reminder_text,
    transferred_text,
    undelivered_text,
    withdrawn_text,
)
from storage.crypto import Sealer
from storage.models import (
    Destination,
    Member,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    Referral,
    ReferralState,
)
from storage.repositories import DeskRepo, GroupRepo, KeyRepo, OutboxRepo, ReferralRepo

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """One Telegram call the worker is about to make for one outbox row."""

    row_id: int
    kind: OutboxKind
    destination: Destination
    chat_id: int
    text: str
    markup: InlineKeyboardMarkup | None = None
    reply_to: int | None = None
    edit_message_id: int | None = None
    protect: bool = True
    group_network: str | None = None
    # A photo or voice note: copied from (chat, message id), with `text` as its caption.
    copy_from: tuple[int, int] | None = None
    # With `edit_message_id`: delete that message instead of editing it.
    delete: bool = False


@dataclass
class Job:
    """What a planner reads: one outbox row, its referral, and the chat's language."""

    app: App
    session: AsyncSession
    row: OutboxMessage
    now: dt.datetime
    lang: str
    referral: Referral | None = None
    member: Member | None = None
    sealer: Sealer | None = None
    body: Body | None = None  # the member's text, None once deleted or shredded
    view: CardView | None = None  # the card as the referral's own network sees it (groups)

    @property
    def ref(self) -> Referral:
        assert self.referral is not None  # plan() gives every non-admin planner a referral
        return self.referral

    @property
    def card(self) -> CardView:
        assert self.view is not None  # plan() renders it for every group destination
        return self.view


Planner = Callable[[Job], Awaitable[Plan | None]]


def finish(row: OutboxMessage, state: OutboxState, note: str) -> None:
    row.state, row.lease_until, row.lease_owner = state, None, None
    row.in_flight = False
    row.last_error = note[:120]


def unknown(row: OutboxMessage) -> None:
    finish(row, OutboxState.CANCELLED, "unknown kind")


async def plan(
    app: App, i18n: I18n, session: AsyncSession, row: OutboxMessage, now: dt.datetime
) -> Plan | None:
    """Decide the chat and the text; may instead park, cancel or bury the row."""
    staff_language = app.settings.default_language
    if row.destination == Destination.ADMIN:
        with i18n.context(), i18n.use_locale(staff_language):
            return await plan_alert(Job(app, session, row, now, staff_language))
    if row.report_id is not None:
        return await plan_report(app, i18n, session, row)
    referral = (
        await ReferralRepo(session).get(row.referral_id) if row.referral_id is not None else None
    )
    if referral is None:
        finish(row, OutboxState.CANCELLED, "referral gone")
        return None
    # Sticky: once an attempt's outcome was unknown, every later send says "(repeat)".
    row.repeat = row.repeat or (row.in_flight and row.kind != OutboxKind.EDIT)
    member = (
        await session.get(Member, referral.member_id) if referral.member_id is not None else None
    )
    sealer = await KeyRepo(session, app.sealer).get(member.id) if member is not None else None
    if row.destination == Destination.MEMBER:
        if member is None:
            finish(row, OutboxState.CANCELLED, "member gone")
            return None
        lang = member.language or referral.language
        job = Job(app, session, row, now, lang, referral, member, sealer)
        planner = PLANNERS.get(row.kind)
        if planner is None:
            unknown(row)
            return None
        with i18n.context(), i18n.use_locale(lang):
            return await planner(job)
    planner = PLANNERS.get(row.kind)
    if planner is None:
        unknown(row)
        return None
    body = open_body(sealer, referral)
    lang = await group_language(app, session, referral)
    with i18n.context(), i18n.use_locale(lang):
        history = (
            await card_history(session, app.directory, referral, sealer)
            if row.kind in (OutboxKind.CARD, OutboxKind.ESCALATION, OutboxKind.EDIT)
            else ()
        )
        view = card_view(app.directory, referral, member, body, lang, history=history)
        job = Job(app, session, row, now, lang, referral, member, sealer, body, view)
        return await planner(job)


async def plan_report(
    app: App, i18n: I18n, session: AsyncSession, row: OutboxMessage
) -> Plan | None:
    """A bad-date report's card, card edit or member note (bot/baddates/delivery.py)."""
    row.repeat = row.repeat or (row.in_flight and row.kind != OutboxKind.REPORT_EDIT)
    out = await reports.plan(session, app, i18n, row)
    if out is None:
        return None
    return Plan(
        row.id,
        row.kind,
        row.destination,
        out.chat_id,
        out.text,
        out.markup,
        edit_message_id=out.edit_message_id,
        protect=out.protect,
        group_network=out.group_network,
    )


# -- where a group message goes ------------------------------------------------------------------


async def resolve_group(session: AsyncSession, referral: Referral) -> tuple[int, str] | None:
    """The referral's network's bound group, else the fallback group's; None: wait for /bind."""
    groups = GroupRepo(session)
    # A tombstone has no network (it went with the member's key): only cards already posted
    # are edited for it, and those need no routing.
    asked = (referral.network_id,) if referral.network_id is not None else ()
    for network_id in dict.fromkeys((*asked, GLOBAL)):
        chat = await groups.active_chat(network_id)
        if chat is not None:
            return chat, network_id
    return None


async def group_language(app: App, session: AsyncSession, referral: Referral) -> str:
    """The language of the group that has (or will get) the card (tour finding 24)."""
    card = await OutboxRepo(session).card_of(referral.id)
    chat = card.sent_chat_id if card is not None else None
    if chat is None and (target := await resolve_group(session, referral)):
        chat = target[0]
    chosen = await GroupRepo(session).language_of(chat) if chat is not None else None
    return chosen or app.settings.default_language


async def card_target(
    session: AsyncSession, referral: Referral
) -> tuple[OutboxMessage | None, bool]:
    """The referral's card, and whether its group still receives for a bound network."""
    card = await OutboxRepo(session).card_of(referral.id)
    if card is None or card.sent_chat_id is None:
        return card, False
    return card, await GroupRepo(session).is_live(card.sent_chat_id)


async def park(job: Job) -> None:
    """No group at all: wait for a /bind, and tell admins once per waiting spell."""
    row, referral = job.row, job.ref
    others = await ReferralRepo(job.session).others_waiting(referral.id)
    row.state, row.lease_until, row.lease_owner = OutboxState.WAITING, None, None
    row.in_flight = False
    if referral.state == ReferralState.QUEUED:
        referral.state = ReferralState.WAITING
    if not others:
        # The code only: the network is read from the request when the alert goes, so an
        # unsent alert never holds a request's network beside its code (H1).
        await enqueue_alert(
            job.app, job.session, AlertReason.WAITING, f"r{referral.id}", code=referral.code
        )


async def enqueue_alert(
    app: App, session: AsyncSession, reason: AlertReason, ref: str, **params: Any
) -> None:
    """Tell every admin in private, once per (reason, ref)."""
    admins = sorted(app.settings.admin_ids)
    if not admins:
        log.warning("delivery needs an admin (%s) but ADMIN_IDS is empty", reason)
    outbox = OutboxRepo(session)
    for admin in admins:
        await outbox.enqueue(
            f"alert:{reason}:{ref}:{admin}",
            destination=Destination.ADMIN,
            kind=OutboxKind.ALERT,
            chat_id=admin,
            params=json.dumps({"reason": reason, **params})[:200],
        )


# -- one planner per kind ------------------------------------------------------------------------


async def plan_alert(job: Job) -> Plan | None:
    row = job.row
    if row.chat_id is None:
        finish(row, OutboxState.CANCELLED, "no admin chat")
        return None
    params = json.loads(row.params or "{}")
    if params.get("reason") == AlertReason.WAITING and "network" not in params:
        referral = await ReferralRepo(job.session).by_code(str(params.get("code")))
        if referral is None or referral.network_id is None:
            finish(row, OutboxState.CANCELLED, "request gone")
            return None
        params["network"] = referral.network_id
    text = alert_text(job.app.directory, params)
    return Plan(row.id, row.kind, row.destination, row.chat_id, text, protect=False)


async def plan_card(job: Job) -> Plan | None:
    row, referral = job.row, job.ref
    if referral.state not in OPEN_STATES:
        finish(row, OutboxState.CANCELLED, "withdrawn")
        return None
    target = await resolve_group(job.session, referral)
    if target is None:
        await park(job)
        return None
    chat, group_network = target
    view = card_view(
        job.app.directory,
        referral,
        job.member,
        job.body,
        job.lang,
        group_network,
        history=job.card.history,
    )
    return Plan(
        row.id,
        row.kind,
        row.destination,
        chat,
        card_text(view, repeat=row.repeat),
        card_markup(referral.code, referral.state),
        group_network=group_network,
    )


async def plan_escalation(job: Job) -> Plan | None:
    row, referral = job.row, job.ref
    chat = await GroupRepo(job.session).active_chat(GLOBAL)
    first = await OutboxRepo(job.session).card_of(referral.id)
    if (
        chat is None
        or referral.state not in OPEN_STATES
        or (first is not None and first.sent_chat_id == chat)
    ):
        finish(row, OutboxState.CANCELLED, "no other fallback group")
        return None
    hours = max(1, job.app.settings.referral_escalate_after // 3600)
    return Plan(
        row.id,
        row.kind,
        row.destination,
        chat,
        card_text(job.card, repeat=row.repeat, escalated_hours=hours),
        card_markup(referral.code, referral.state),
        group_network=GLOBAL,
    )


async def plan_edit(job: Job) -> Plan | None:
    params = json.loads(job.row.params or "{}")
    if "media" in params:
        # A deleted request: the member's photos and voice notes leave the group too.
        return await edit_sent(job, int(params["media"]), "", None, "media gone", delete=True)
    if "relay" in params:
        # A deleted request: the member's words relayed to the group are taken off too.
        text = relay_deleted_text(job.ref.code)
        return await edit_sent(job, int(params["relay"]), text, None, "relay gone")
    card_id = int(params.get("card", 0))
    moved = await DeskRepo(job.session).transfer_after(job.ref.id, card_id)
    if moved is not None:
        # A card the request was transferred away from (bot/desk) keeps saying so.
        to = network_label(job.app.directory, moved.to_network or "")
        text = card_text(replace(job.card, history=()), moved_to=to)
        return await edit_sent(job, card_id, text, None, "card gone")
    markup = card_markup(job.ref.code, job.ref.state)
    return await edit_sent(job, card_id, card_text(job.card), markup, "card gone")


async def edit_sent(
    job: Job,
    sent_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None,
    gone: str,
    *,
    delete: bool = False,
) -> Plan | None:
    """Edit (or delete) a message an earlier outbox row sent; cancelled when it is gone."""
    row = job.row
    sent = await OutboxRepo(job.session).get(sent_id)
    if sent is None or sent.sent_chat_id is None or sent.message_id is None:
        finish(row, OutboxState.CANCELLED, gone)
        return None
    return Plan(
        row.id,
        row.kind,
        row.destination,
        sent.sent_chat_id,
        text,
        markup,
        edit_message_id=sent.message_id,
        protect=False,
        delete=delete,
    )


async def reply_to_card(job: Job, text: str) -> Plan | None:
    """A notice as a reply to the card, in the card's group; cancelled once that group is gone."""
    row = job.row
    card, live = await card_target(job.session, job.ref)
    if card is None or not live or card.sent_chat_id is None:
        finish(row, OutboxState.CANCELLED, "card's group gone")
        return None
    return Plan(
        row.id,
        row.kind,
        row.destination,
        card.sent_chat_id,
        text,
        reply_to=card.message_id,
        protect=False,
    )


async def plan_withdrawn(job: Job) -> Plan | None:
    return await reply_to_card(job, withdrawn_text(job.ref.code))


async def plan_undelivered(job: Job) -> Plan | None:
    return await reply_to_card(job, undelivered_text(job.ref.code))


async def plan_reminder(job: Job) -> Plan | None:
    hours = hours_since(job.ref.delivered_at, job.now)
    return await reply_to_card(job, reminder_text(job.ref.code, hours))


def reply_markup(code: str) -> InlineKeyboardMarkup:
    """The member's "Reply" under anything relayed to them from staff."""
    kb = InlineKeyboardBuilder()
    kb.button(text="↩️ " + _("Reply"), callback_data=RequestAction(op=RequestOp.REPLY, r=code))
    return kb.as_markup()


async def plan_relay(job: Job) -> Plan | None:
    """A reply from staff to the member, or the member's answer to the card's group."""
    row, referral = job.row, job.ref
    relay = await ReferralRepo(job.session).get_relay(row.relay_id or 0)
    text = open_relay(job.sealer, referral, relay) if relay is not None else None
    if text is None:
        finish(row, OutboxState.CANCELLED, "text deleted")
        return None
    if row.destination == Destination.MEMBER:
        assert job.member is not None  # plan() cancels a member row whose member is gone
        network = network_label(
            job.app.directory, referral.group_network_id or referral.network_id
        )
        return Plan(
            row.id,
            row.kind,
            row.destination,
            job.member.telegram_id,
            relay_to_member_text(network, referral.code, text, row.repeat),
            reply_markup(referral.code),
        )
    target = await group_reply_target(job)
    if target is None:
        return None
    chat, reply_to = target
    return Plan(
        row.id,
        row.kind,
        row.destination,
        chat,
        relay_to_group_text(job.card, text, row.repeat),
        reply_to=reply_to,
    )


async def plan_media(job: Job) -> Plan | None:
    """A photo or voice note, copied (no forward header, no sender's name) with a caption
    carrying the request number; what is stored to find it is erased once it is sent."""
    row, referral = job.row, job.ref
    relay = await ReferralRepo(job.session).get_relay(row.relay_id or 0)
    media = open_media(job.sealer, referral, relay) if relay is not None else None
    if media is None:
        finish(row, OutboxState.CANCELLED, "media deleted")
        return None
    source = (media.chat_id, media.message_id)
    if row.destination == Destination.MEMBER:
        assert job.member is not None  # plan() cancels a member row whose member is gone
        network = network_label(
            job.app.directory, referral.group_network_id or referral.network_id
        )
        return Plan(
            row.id,
            row.kind,
            row.destination,
            job.member.telegram_id,
            media_to_member_caption(network, referral.code, media.caption, row.repeat),
            reply_markup(referral.code),
            copy_from=source,
        )
    target = await group_reply_target(job)
    if target is None:
        return None
    chat, reply_to = target
    return Plan(
        row.id,
        row.kind,
        row.destination,
        chat,
        media_to_group_caption(job.card, media.caption, row.repeat),
        reply_to=reply_to,
        copy_from=source,
    )


async def group_reply_target(job: Job) -> tuple[int, int | None] | None:
    """The card's group and the card to reply to; else the group that would get the card
    now; None (the row parked) when there is no group at all."""
    card, live = await card_target(job.session, job.ref)
    if card is not None and live and card.sent_chat_id is not None:
        return card.sent_chat_id, card.message_id
    target = await resolve_group(job.session, job.ref)
    if target is None:
        await park(job)
        return None
    return target[0], None


async def plan_closed(job: Job) -> Plan | None:
    row, referral = job.row, job.ref
    if row.destination != Destination.MEMBER or job.member is None:
        unknown(row)
        return None
    network = network_label(job.app.directory, referral.group_network_id or referral.network_id)
    body = closed_text(network, referral.code)
    return Plan(row.id, row.kind, row.destination, job.member.telegram_id, body)


async def plan_transferred(job: Job) -> Plan | None:
    """The member told which network now has their request (bot/desk)."""
    row, referral = job.row, job.ref
    if row.destination != Destination.MEMBER or job.member is None:
        unknown(row)
        return None
    network = network_label(job.app.directory, referral.group_network_id or referral.network_id)
    body = transferred_text(network, referral.code)
    return Plan(row.id, row.kind, row.destination, job.member.telegram_id, body)


def hours_since(stamp: dt.datetime | None, now: dt.datetime) -> int:
    return max(1, int((now - stamp).total_seconds() // 3600)) if stamp else 1


def group_only(planner: Planner) -> Planner:
    """A kind that only ever goes to a group: a member row of it is a mistake, cancelled."""

    async def planned(job: Job) -> Plan | None:
        if job.row.destination in (Destination.MEMBER, Destination.ADMIN):
            unknown(job.row)
            return None
        return await planner(job)

    return planned


PLANNERS: dict[OutboxKind, Planner] = {
    OutboxKind.CARD: group_only(plan_card),
    OutboxKind.ESCALATION: group_only(plan_escalation),
    OutboxKind.EDIT: group_only(plan_edit),
    OutboxKind.WITHDRAWN: group_only(plan_withdrawn),
    OutboxKind.REMINDER: group_only(plan_reminder),
    OutboxKind.UNDELIVERED: group_only(plan_undelivered),
    OutboxKind.RELAY: plan_relay,
    OutboxKind.MEDIA: plan_media,
    OutboxKind.CLOSED: plan_closed,
    OutboxKind.TRANSFERRED: plan_transferred,
    OutboxKind.ALERT: plan_alert,
}
