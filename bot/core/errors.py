"""One error handler: log the failure without personal data, apologise in the member's language."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent

from bot.i18n import _
from bot.retry import is_transient
from bot.ui.keyboards import main_menu

router = Router(name=__name__)
log = logging.getLogger(__name__)


def _not_transient(event: ErrorEvent) -> bool:
    # Telegram or the database away, or a 429: the intake tries the update again later (H2,
    # M6); an apology now would be one more send into the same wall.
    return not is_transient(event.exception)


@router.errors(_not_transient)
async def on_error(event: ErrorEvent) -> bool:
    # The update id identifies nobody; the update may hold a member's words: never log it.
    log.error(
        "handler failed for update %s: %s",
        event.update.update_id,
        type(event.exception).__name__,
        exc_info=event.exception,
    )
    text = _("Sorry, something went wrong on our side. Please try again, or send /menu.")
    if event.update.message is not None:
        await event.update.message.answer(text, reply_markup=main_menu())
    elif event.update.callback_query is not None:
        query = event.update.callback_query
        try:
            await query.answer(text, show_alert=True)
        except TelegramAPIError:
            log.info("could not tell the member about the error")
    return True
