"""The catch-all: anything no other handler took gets a short, kind way back to the menu."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message

from bot.i18n import _
from bot.ui.keyboards import main_menu
from bot.ui.screens import stale_button, unknown_command

router = Router(name=__name__)


@router.callback_query()
async def unknown_button(query: CallbackQuery) -> None:
    # Stale buttons from an old message, or forged data: never trust it, just lead back.
    await stale_button(query)


router.message(F.text.startswith("/"))(unknown_command)


@router.message(F.text)
async def not_understood(message: Message) -> None:
    await message.answer(
        _("Sorry, I didn't understand that. Please choose an option below, or send /help."),
        reply_markup=main_menu(),
    )


@router.message()
async def not_text(message: Message) -> None:
    # Media is never stored or forwarded: a photo can identify a person.
    await message.answer(
        _("I can only read text. Please do not send photos or documents here."),
        reply_markup=main_menu(),
    )
