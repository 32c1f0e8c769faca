"""Answering helpers: edit in place after a button, send after a message, survive repeats."""

from __future__ import annotations

import logging

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup, Message

from bot.i18n import _
from bot.ui.keyboards import main_menu

log = logging.getLogger(__name__)


async def ack(query: CallbackQuery, text: str | None = None, alert: bool = False) -> None:
    """Answer a callback first; a late answer ("query is too old") must not stop the work."""
    try:
        await query.answer(text, show_alert=alert)
    except TelegramBadRequest as exc:
        log.info("callback answer failed: %s", exc.message)


async def show(
    target: Message | CallbackQuery,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
) -> Message | None:
    """Show a screen: edit the pressed message, or send a new one after a typed message."""
    if isinstance(target, CallbackQuery):
        await ack(target)
        message = target.message
        if isinstance(message, Message) and not isinstance(message, InaccessibleMessage):
            try:
                edited = await message.edit_text(text, reply_markup=markup)
            except TelegramBadRequest as exc:
                if "not modified" in exc.message:
                    return message
                # Too old to edit (or deleted): fall through and send it afresh.
                log.info("edit failed, sending instead: %s", exc.message)
            else:
                return edited if isinstance(edited, Message) else message
        if target.from_user is None:
            return None
        return await target.bot.send_message(  # type: ignore[union-attr]
            target.from_user.id, text, reply_markup=markup
        )
    return await target.answer(text, reply_markup=markup)


def menu_text() -> str:
    return _("What would you like to do?")


async def stale_button(target: Message | CallbackQuery) -> None:
    """A button from an old message, or forged data: never trust it, just lead back."""
    await show(
        target, _("This button does not work any more. Here is the main menu."), main_menu()
    )


async def unknown_command(message: Message) -> None:
    """The same answer for an unknown command and for one this member may not use."""
    await message.answer(
        _("I don't know that command. Send /help to see what I can do."),
        reply_markup=main_menu(),
    )
