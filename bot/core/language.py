"""Choosing the language: the list shows each language in its own name."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n

from bot.i18n import LANGUAGES, _, language_name
from bot.ui.keyboards import Menu, SetLanguage, languages, main_menu
from bot.ui.screens import ack, show
from storage.models import Member
from storage.repositories import MemberRepo

router = Router(name=__name__)


def prompt() -> str:
    return _("Choose your language:")


@router.message(Command("language"))
async def cmd_language(message: Message, i18n: I18n) -> None:
    await message.answer(prompt(), reply_markup=languages(i18n.current_locale))


@router.callback_query(Menu.filter(F.section == "language"))
async def show_languages(query: CallbackQuery, i18n: I18n) -> None:
    await show(query, prompt(), languages(i18n.current_locale))


@router.callback_query(SetLanguage.filter())
async def choose_language(
    query: CallbackQuery,
    callback_data: SetLanguage,
    member: Member | None,
    members: MemberRepo,
    i18n: I18n,
) -> None:
    code = callback_data.code
    if code not in LANGUAGES or member is None:
        await ack(query, _("This language is not available."), alert=True)
        return
    await members.set_language(member, code)
    with i18n.use_locale(code):
        text = _("Language set: {language}.").format(language=language_name(code))
        await show(query, text + "\n\n" + _("What would you like to do?"), main_menu())
