"""The staff group side of bad-date reports: Approve, Edit and Reject on the card.

Only the group that holds the card, while it is still bound, may act on it (callback data names
a code and grants nothing). Nothing reaches members without Approve; Approve calls the alert
engine once, however often it is pressed (a conditional UPDATE decides). Edit asks for the alert
text as a reply; the staff member's name appears only in the group's own messages (the card,
the bot's answer), never in the database.
"""

from __future__ import annotations

import contextlib
import html
import logging
import re

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, InaccessibleMessage, Message, ReplyParameters
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.baddates.callbacks import CardOp, ReportCard
from bot.baddates.delivery import render_card
from bot.baddates.service import ALERT_TEXT_LIMIT, BadDates, has_words
from bot.baddates.texts import alert_draft, card_markup, decision_line, quote
from bot.config import Settings
from bot.i18n import _
from bot.referrals.service import ring_after_commit
from bot.telegram.html import utf16_len
from bot.ui.localise import fill, here
from bot.ui.screens import ack
from storage.models import BadDateReport, OutboxKind, utcnow
from storage.repositories import BadDateRepo, GroupRepo, OutboxRepo
from storage.repositories.baddates import UNDECIDED

router = Router(name=__name__)
router.message.filter(F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP}))
router.callback_query.filter(F.message.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP}))
log = logging.getLogger(__name__)

PROMPT_RE = re.compile(r"^✏️ (B-[0-9A-Z]{5}) ·")


async def group_language(session: AsyncSession, chat_id: int, settings: Settings) -> str:
    return await GroupRepo(session).language_of(chat_id) or settings.default_language


async def serves(session: AsyncSession, report: BadDateReport, chat_id: int) -> bool:
    """Whether this chat is the bound group that got the report's card."""
    network = report.group_network_id or report.network_id
    return await GroupRepo(session).active_chat(network) == chat_id


def who_pressed(query: CallbackQuery) -> str:
    return query.from_user.first_name if query.from_user else _("a staff member")


def who_wrote(message: Message) -> str:
    """The name the group sees: an anonymous admin shows as their title, or as "an admin"."""
    if message.sender_chat is not None or message.from_user is None or message.from_user.is_bot:
        return message.author_signature or _("an admin")
    return message.from_user.first_name


async def acted_on(
    query: CallbackQuery, callback_data: ReportCard, session: AsyncSession
) -> tuple[BadDateReport, Message] | None:
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        await ack(query)
        return None
    report = await BadDateRepo(session).by_code(callback_data.r)
    if report is None or not await serves(session, report, message.chat.id):
        log.warning("refused a report button from a group that does not serve the report")
        await ack(query, _("This button does not work in this group."), alert=True)
        return None
    return report, message


async def alert_text_of(service: BadDates, report: BadDateReport) -> str | None:
    """What members would read: the staff's text, else the draft made from the report."""
    opened = await service.opened(report)
    if opened.alert_text is not None:
        return opened.alert_text
    return alert_draft(opened.body, report.created_at.date()) if opened.body else None


async def decided(query: CallbackQuery) -> None:
    await ack(query, _("Already decided, or withdrawn by the member."), alert=True)


async def show_decision(
    message: Message, session: AsyncSession, app: App, report: BadDateReport, decision: str
) -> None:
    lang = await group_language(session, message.chat.id, app.settings)
    text = await render_card(session, app, report, lang, decision=decision)
    with contextlib.suppress(TelegramAPIError):
        await message.edit_text(text, reply_markup=None)


@router.callback_query(ReportCard.filter(F.op == CardOp.APPROVE))
async def approve_report(
    query: CallbackQuery,
    callback_data: ReportCard,
    session: AsyncSession,
    app: App,
    settings: Settings,
    i18n: I18n,
) -> None:
    chat = query.message.chat.id if query.message else 0
    with i18n.use_locale(await group_language(session, chat, settings)):
        if (found := await acted_on(query, callback_data, session)) is None:
            return
        report, message = found
        service = BadDates(session, app)
        text = await alert_text_of(service, report)
        if report.state not in UNDECIDED or text is None:
            await decided(query)
            return
        if not await service.approve(report, text):
            await decided(query)
            return
        ring_after_commit(session, app)
        await ack(query, _("Approved."))
        line = decision_line(True, who_pressed(query), utcnow())
        await show_decision(message, session, app, report, line)


@router.callback_query(ReportCard.filter(F.op == CardOp.REJECT))
async def reject_report(
    query: CallbackQuery,
    callback_data: ReportCard,
    session: AsyncSession,
    app: App,
    settings: Settings,
    i18n: I18n,
) -> None:
    chat = query.message.chat.id if query.message else 0
    with i18n.use_locale(await group_language(session, chat, settings)):
        if (found := await acted_on(query, callback_data, session)) is None:
            return
        report, message = found
        if not await BadDates(session, app).reject(report):
            await decided(query)
            return
        ring_after_commit(session, app)
        await ack(query, _("Rejected. The member is told, without a reason."))
        line = decision_line(False, who_pressed(query), utcnow())
        await show_decision(message, session, app, report, line)


def prompt_head(code: str) -> str:
    """The first line of the Edit prompt; a reply to it is matched by PROMPT_RE."""
    return f"✏️ {code} · " + _("New alert text")


@router.callback_query(ReportCard.filter(F.op == CardOp.EDIT))
async def edit_report(
    query: CallbackQuery,
    callback_data: ReportCard,
    session: AsyncSession,
    app: App,
    settings: Settings,
    i18n: I18n,
) -> None:
    chat = query.message.chat.id if query.message else 0
    with i18n.use_locale(await group_language(session, chat, settings)):
        if (found := await acted_on(query, callback_data, session)) is None:
            return
        report, message = found
        text = await alert_text_of(BadDates(session, app), report)
        if report.state not in UNDECIDED or text is None:
            await decided(query)
            return
        await ack(query)
        await message.answer(
            prompt_head(report.code)
            + "\n\n"
            + fill(
                _(
                    "{name}: reply to this message with the alert as members should read it, up "
                    "to {limit} characters. Take out anything that could identify the member. "
                    "The current text:"
                ),
                here(),
                name=html.escape(who_pressed(query)),
                limit=ALERT_TEXT_LIMIT,
            )
            + "\n"
            + quote(text),
            reply_parameters=ReplyParameters(
                message_id=message.message_id, allow_sending_without_reply=True
            ),
        )


async def replied_report(message: Message, session: AsyncSession) -> BadDateReport | None:
    """The report a staff reply is about: a reply to the Edit prompt, or to the card itself."""
    replied = message.reply_to_message
    if replied is None:
        return None
    found = PROMPT_RE.match(replied.text or "")
    if found is not None:
        return await BadDateRepo(session).by_code(found.group(1))
    posted = await OutboxRepo(session).posted(message.chat.id, replied.message_id)
    if posted is None or posted.report_id is None or posted.kind != OutboxKind.REPORT:
        return None
    return await BadDateRepo(session).get(posted.report_id)


# Before the referrals' staff side, which takes every reply to the bot: anything that is not
# about a report is passed on to it.
@router.message(F.reply_to_message.from_user.is_bot)
async def rewrite_alert(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    app: App,
    settings: Settings,
    i18n: I18n,
) -> None:
    replied = message.reply_to_message
    me = await bot.me()
    if replied is None or replied.from_user is None or replied.from_user.id != me.id:
        raise SkipHandler
    report = await replied_report(message, session)
    if report is None:
        raise SkipHandler
    chat = message.chat.id
    with i18n.use_locale(await group_language(session, chat, settings)):
        if not await serves(session, report, chat):
            log.warning("refused an alert text from a group that does not serve the report")
            await message.reply(_("This group does not handle {code}.").format(code=report.code))
            return
        text = (message.text or "").strip()
        if message.text is None:
            await message.reply(_("Please send the alert as text."))
            return
        if utf16_len(text) > ALERT_TEXT_LIMIT:
            await message.reply(
                fill(
                    _(
                        "This text has {count} characters; an alert can have up to {limit}. "
                        "Please shorten it and reply again."
                    ),
                    here(),
                    count=utf16_len(text),
                    limit=ALERT_TEXT_LIMIT,
                )
            )
            return
        if not has_words(text):
            await message.reply(_("Please write the alert in words: emoji alone warn nobody."))
            return
        if not await BadDates(session, app).set_alert_text(report, text):
            await message.reply(
                _("{code} is already decided or withdrawn: this text was not used.").format(
                    code=report.code
                )
            )
            return
        card = await BadDateRepo(session).card_of(report.id)
        if card is not None and card.sent_chat_id == chat and card.message_id is not None:
            lang = await group_language(session, chat, settings)
            rendered = await render_card(session, app, report, lang)
            with contextlib.suppress(TelegramAPIError):
                await bot.edit_message_text(
                    rendered,
                    chat_id=chat,
                    message_id=card.message_id,
                    reply_markup=card_markup(report.code, report.state),
                )
        stamp = utcnow().strftime("%Y-%m-%d %H:%M") + " UTC"
        await message.reply(
            "✏️ "
            + _(
                "{name} rewrote the alert of {code} ({when}). Nothing has gone to members: "
                "Approve on the card sends it."
            ).format(name=html.escape(who_wrote(message)), code=report.code, when=stamp)
        )
