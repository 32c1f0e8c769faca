"""Welcome, main menu and help."""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.config import Settings
from bot.i18n import _
from bot.ui.callbacks import CheckUp
from bot.ui.keyboards import Menu, main_menu
from bot.ui.screens import menu_text, show

router = Router(name=__name__)


def welcome_text(settings: Settings) -> str:
    # Only ORG_NAME may say what this is: a neutral name leaves a neutral welcome (tour [8]).
    return _(
        "Hello! This is <b>{org}</b>.\n\n"
        "Here you can:\n"
        "• read short guides on rights, health, safety and work;\n"
        "• find organisations listed by regional networks, and the law where you are;\n"
        "• send a private request to a regional network.\n\n"
        "I never ask for your real name, phone number or documents. Choose an option below."
    ).format(org=html.escape(settings.org_name))


def checkup_offer(text: str, markup: InlineKeyboardMarkup) -> tuple[str, InlineKeyboardMarkup]:
    """The welcome for a first /start: the same text and menu, with the check-up offered."""
    text += "\n\n" + _("New here? A one-minute privacy check-up shows how to stay safe here.")
    offer = [
        InlineKeyboardButton(
            text="🛡 " + _("Privacy check-up (1 min)"), callback_data=CheckUp(page=0).pack()
        ),
        InlineKeyboardButton(text=_("Skip"), callback_data=CheckUp(page=-1).pack()),
    ]
    return text, InlineKeyboardMarkup(inline_keyboard=[offer, *markup.inline_keyboard])


@router.message(CommandStart())
async def cmd_start(
    message: Message, command: CommandObject, settings: Settings, new_member: bool
) -> None:
    if command.args:
        # Feature routers handle the links they know; anything left is stale or forged.
        await message.answer(_("This link does not work any more. Here is the main menu."))
    text, markup = welcome_text(settings), main_menu()
    if new_member:
        text, markup = checkup_offer(text, markup)  # the privacy check-up, in one message
    await message.answer(text, reply_markup=markup)


@router.callback_query(CheckUp.filter(F.page == -1))
async def skip_checkup(query: CallbackQuery, settings: Settings) -> None:
    """Skipped: the welcome stays, without the offer."""
    await show(query, welcome_text(settings), main_menu())


@router.message(Command("menu"))
async def cmd_menu(message: Message) -> None:
    await message.answer(menu_text(), reply_markup=main_menu())


@router.callback_query(Menu.filter(F.section == "home"))
async def show_menu(query: CallbackQuery) -> None:
    await show(query, menu_text(), main_menu())


@router.message(Command("cancel"))
async def cmd_cancel(message: Message, state: FSMContext) -> None:
    """/cancel with nothing under way (a step's own /cancel is tried first): still an answer."""
    await state.set_state(None)
    await message.answer(
        _("Nothing is under way, so nothing was cancelled. Here is the main menu."),
        reply_markup=main_menu(),
    )


@router.message(Command("help"))
async def cmd_help(message: Message) -> None:
    await message.answer(
        _(
            "<b>How to use this bot</b>\n\n"
            "/menu: the main menu\n"
            "/guides: short guides on rights, health, safety and work\n"
            "/search words: search the guides\n"
            "/services: find services by country, need or location\n"
            "/network: your regional network\n"
            "/ask: send a private request to a regional network\n"
            "/requests: your requests, their answers; withdraw or delete them\n"
            "/language: change the language\n"
            "/privacy: what the bot stores and how to delete it\n"
            "/discreet: discreet mode (neutral first line, quiet replies)\n"
            "/exit: clear this chat now\n"
            "/forget: delete everything the bot keeps about you\n"
            "/cancel: stop what you are doing (nothing is sent)\n"
            "/help: this message\n\n"
            "You can also tap the buttons under my messages, or just write a few words: I "
            "look for them in the guides."
        ),
        reply_markup=main_menu(),
    )
