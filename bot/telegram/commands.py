"""The command menu and the bot's descriptions, set per language at start."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand
from aiogram.utils.i18n import I18n

from bot.config import LANGUAGES, Settings
from bot.i18n import _

log = logging.getLogger(__name__)


def commands() -> list[BotCommand]:
    # Translated at call time, inside the language's context.
    return [
        BotCommand(command="start", description=_("Start and main menu")),
        BotCommand(command="menu", description=_("Main menu")),
        BotCommand(command="guides", description=_("Short guides on rights, health and work")),
        BotCommand(command="search", description=_("Search the guides")),
        BotCommand(command="services", description=_("Find services and organisations")),
        BotCommand(command="network", description=_("Your regional network")),
        BotCommand(command="law", description=_("The law where you are")),
        BotCommand(command="now", description=_("Hurt or in danger? What to do now")),
        BotCommand(command="ask", description=_("Send a private request to a network")),
        BotCommand(command="requests", description=_("Your requests and their answers")),
        BotCommand(command="alerts", description=_("Safety alerts and news you ask for")),
        BotCommand(command="language", description=_("Change the language")),
        BotCommand(command="privacy", description=_("What the bot stores; delete it")),
        BotCommand(command="discreet", description=_("Discreet mode: neutral, quiet messages")),
        BotCommand(command="exit", description=_("Clear this chat now")),
        BotCommand(command="help", description=_("How to use this bot")),
    ]


def description(settings: Settings) -> str:
    # Public, and shown before anyone writes: only ORG_NAME may say what this is (tour [8]).
    return _(
        "{org}: short guides on rights, health, safety and work; services and organisations; "
        "and private requests to regional networks. No real names needed."
    ).format(org=settings.org_name)


def short_description(settings: Settings) -> str:
    return _("{org}: guides, services and help from regional networks.").format(
        org=settings.org_name
    )


async def publish(bot: Bot, i18n: I18n, settings: Settings) -> None:
    """Set commands and descriptions per language; the unqualified set uses the default one."""
    for code in (None, *LANGUAGES):
        with i18n.context(), i18n.use_locale(code or settings.default_language):
            try:
                await bot.set_my_commands(commands(), language_code=code)
                await bot.set_my_description(description(settings), language_code=code)
                await bot.set_my_short_description(short_description(settings), language_code=code)
            except TelegramAPIError as exc:
                # Cosmetic: the bot works without its menu, so warn and go on.
                log.warning("could not set commands for %s: %s", code or "default", exc.message)
