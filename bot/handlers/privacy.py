"""What the bot stores, and deleting it."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _
from bot.keyboards import Menu, back_to_menu, main_menu, menu_button
from bot.ui import show
from storage.models import Member
from storage.repositories import MemberRepo

router = Router(name=__name__)


class Forget(CallbackData, prefix="fg"):
    step: str  # "ask" or "yes"


def privacy_text() -> str:
    return _(
        "<b>Your privacy</b>\n\n"
        "This bot stores only:\n"
        "• a random member code (networks see this code, never your name);\n"
        "• your Telegram account number, only so that replies can reach you;\n"
        "• the language you chose;\n"
        "• your country, only if you asked the bot to remember it;\n"
        "• the dates you first and last wrote.\n\n"
        "It never asks for your real name, phone number, documents, location or photos. "
        "It does not share anything with police or platforms.\n\n"
        "Chats with bots are not end-to-end encrypted. To delete everything the bot keeps "
        "about you, tap «Delete my data» or send /forget."
    )


def privacy_keyboard() -> InlineKeyboardBuilder:
    kb = InlineKeyboardBuilder()
    kb.button(text="🗑 " + _("Delete my data"), callback_data=Forget(step="ask"))
    kb.row(menu_button())
    return kb


@router.message(Command("privacy"))
async def cmd_privacy(message: Message) -> None:
    await message.answer(privacy_text(), reply_markup=privacy_keyboard().as_markup())


@router.callback_query(Menu.filter(F.section == "privacy"))
async def show_privacy(query: CallbackQuery) -> None:
    await show(query, privacy_text(), privacy_keyboard().as_markup())


def confirm_keyboard() -> InlineKeyboardBuilder:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("Yes, delete everything"), callback_data=Forget(step="yes"))
    kb.button(text=_("No, keep it"), callback_data=Menu(section="privacy"))
    kb.adjust(1)
    return kb


def confirm_text() -> str:
    return _(
        "Delete everything the bot keeps about you? Your language choice, saved country and "
        "member code will be erased. This cannot be undone."
    )


@router.message(Command("forget"))
async def cmd_forget(message: Message) -> None:
    await message.answer(confirm_text(), reply_markup=confirm_keyboard().as_markup())


@router.callback_query(Forget.filter(F.step == "ask"))
async def ask_forget(query: CallbackQuery) -> None:
    await show(query, confirm_text(), confirm_keyboard().as_markup())


@router.callback_query(Forget.filter(F.step == "yes"))
async def forget(query: CallbackQuery, member: Member | None, members: MemberRepo) -> None:
    if member is not None:
        await members.delete(member)
    await show(
        query,
        _("Done. The bot no longer keeps anything about you. Send /start to begin again."),
        back_to_menu(),
    )


__all__ = ["main_menu", "router"]
