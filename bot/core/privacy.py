"""What the bot stores, and deleting it: /privacy and /forget (real deletion)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.config import Settings
from bot.i18n import _
from bot.safety.retention import forget_member
from bot.ui.callbacks import CheckUp, Discreet, DiscreetOp, PinMenu, PinOp
from bot.ui.keyboards import Menu, clear_chat_button, main_menu, menu_button
from bot.ui.localise import days_phrase, here
from bot.ui.screens import ack, show
from storage.models import Member

router = Router(name=__name__)


class Forget(CallbackData, prefix="fg"):
    step: str  # "ask" or "yes"


def privacy_text(settings: Settings) -> str:
    return _(
        "<b>Your privacy</b>\n\n"
        "This bot keeps only:\n"
        "• a random member code (networks see this code, never your name);\n"
        "• your Telegram account number, only so that replies can reach you;\n"
        "• the language you chose, and your settings here;\n"
        "• your country, only if you asked the bot to remember it;\n"
        "• the dates you first and last wrote;\n"
        "• requests you send, encrypted with a key of your own; closed ones are deleted "
        "after {days};\n"
        "• for 48 hours, the numbers of this chat's messages (never their text), so that "
        "“Clear this chat” works.\n\n"
        "It never asks for your real name, phone number, documents, location or photos. "
        "It does not share anything with police or platforms.\n\n"
        "Chats with bots are not end-to-end encrypted. /exit clears this chat; /forget "
        "deletes everything the bot keeps about you."
    ).format(days=days_phrase(settings.retention_days, here()))


def privacy_keyboard() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text="🛡 " + _("Privacy check-up"), callback_data=CheckUp(page=0))
    kb.button(text="🕶 " + _("Discreet mode"), callback_data=Discreet(op=DiscreetOp.SHOW))
    kb.button(text="🔢 " + _("PIN for “My requests”"), callback_data=PinMenu(op=PinOp.SHOW))
    kb.button(text="🗑 " + _("Delete my data"), callback_data=Forget(step="ask"))
    kb.adjust(2, 1, 1)
    kb.row(clear_chat_button())
    kb.row(menu_button())
    return kb.as_markup()


@router.message(Command("privacy"))
async def cmd_privacy(message: Message, settings: Settings) -> None:
    await message.answer(privacy_text(settings), reply_markup=privacy_keyboard())


@router.callback_query(Menu.filter(F.section == "privacy"))
async def show_privacy(query: CallbackQuery, settings: Settings) -> None:
    await show(query, privacy_text(settings), privacy_keyboard())


def confirm_keyboard() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("Yes, delete everything"), callback_data=Forget(step="yes"))
    kb.button(text=_("No, keep it"), callback_data=Menu(section="privacy"))
    kb.adjust(1)
    return kb.as_markup()


def confirm_text() -> str:
    return _(
        "Delete everything the bot keeps about you? Your member code, language, saved "
        "country, settings and PIN are erased. Your requests are withdrawn and their texts "
        "destroyed: networks see only “withdrawn by the member”. This chat's messages of the "
        "last 48 hours are deleted. This cannot be undone."
    )


def done_text() -> str:
    return _(
        "Done. The bot no longer keeps anything about you.\n\n"
        "Messages older than 48 hours stay in this chat: bots cannot delete them. To remove "
        "them, use “Clear history” in the chat's menu in Telegram. Send /start to begin again."
    )


@router.message(Command("forget"))
async def cmd_forget(message: Message) -> None:
    await message.answer(confirm_text(), reply_markup=confirm_keyboard())


@router.callback_query(Forget.filter(F.step == "ask"))
async def ask_forget(query: CallbackQuery) -> None:
    await show(query, confirm_text(), confirm_keyboard())


@router.callback_query(Forget.filter(F.step == "yes"))
async def forget(
    query: CallbackQuery,
    bot: Bot,
    app: App,
    member: Member | None,
    session: AsyncSession,
    state: FSMContext,
) -> None:
    await ack(query)
    if query.message is None or query.message.chat.type != ChatType.PRIVATE:
        return
    chat_id = query.message.chat.id
    # The conversation state may hold a half-written request.
    await state.clear()
    if member is not None:
        await forget_member(app, session, bot, member, chat_id)
    # Whoever starts again is new here: the check-up is offered again (tour [27]).
    again = InlineKeyboardBuilder()
    again.button(text="🛡 " + _("Privacy check-up (1 min)"), callback_data=CheckUp(page=0))
    again.row(menu_button())
    await bot.send_message(chat_id, done_text(), reply_markup=again.as_markup())


__all__ = ["main_menu", "router"]
