"""The catch-all: anything no other handler took gets a short, kind way back to the menu."""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.directory.callbacks import AfterViolence
from bot.guides.loader import LibraryHolder
from bot.i18n import _
from bot.ui.callbacks import GuideLink
from bot.ui.keyboards import Menu, main_menu, menu_button
from bot.ui.screens import stale_button, unknown_command

router = Router(name=__name__)


@router.callback_query()
async def unknown_button(query: CallbackQuery) -> None:
    # Stale buttons from an old message, or forged data: never trust it, just lead back.
    await stale_button(query)


router.message(F.text.startswith("/"))(unknown_command)


# Words of someone asking for help, in the six languages (lower case, matched anywhere).
CRIES = (
    "help",
    "aide",
    "aidez",
    "au secours",
    "ayuda",
    "ayúdame",
    "socorro",
    "помог",
    "помощ",
    "спасите",
    "帮",
    "救命",
    "求助",
    "مساعد",
    "ساعد",
    "النجدة",
)
FOUND_MAX = 5
QUERY_MAX = 100


def is_cry_for_help(text: str) -> bool:
    lowered = text.lower()
    return any(cry in lowered for cry in CRIES)


@router.message(F.text)
async def not_understood(message: Message, library: LibraryHolder, i18n: I18n) -> None:
    """Free text at the top level (tour [26]): a guide search, and "Ask a network" when
    nothing matches or the words ask for help."""
    words = " ".join((message.text or "").split())[:QUERY_MAX]
    language = i18n.current_locale
    found = library.current.search(words, FOUND_MAX) if words else []
    cry = is_cry_for_help(words)
    kb = InlineKeyboardBuilder()
    if cry:
        # Someone who may be hurt: a network, and what to do right now (tour [26]).
        kb.row(ask_button())
        kb.row(now_button())
    for guide in found:
        version = guide.version(language)
        kb.row(
            InlineKeyboardButton(text=version.title, callback_data=GuideLink(s=guide.slug).pack())
        )
    if found and not cry:
        text = _("I looked in the guides for «{words}»:").format(words=html.escape(words))
    elif found:
        text = _(
            "You can send a private request to a network: they answer here. I also looked in "
            "the guides for «{words}»:"
        ).format(words=html.escape(words))
    else:
        text = _(
            "I found no guide for «{words}». You can send a private request to a network, "
            "or choose an option below."
        ).format(words=html.escape(words))
        if not cry:
            kb.row(ask_button())
    text += "\n\n" + _(
        "Tip: /search finds guides, /ask writes to a network, /help lists the rest."
    )
    kb.row(menu_button())
    await message.answer(text, reply_markup=kb.as_markup())


def ask_button() -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text="✉️ " + _("Ask a network"), callback_data=Menu(section="ask").pack()
    )


def now_button() -> InlineKeyboardButton:
    """The "what to do now" card (/now), as the law screens offer it."""
    return InlineKeyboardButton(
        text="🩹 " + _("Hurt or in danger? What to do now"), callback_data=AfterViolence().pack()
    )


@router.message()
async def not_text(message: Message) -> None:
    # Media outside a request is never stored or passed on: a photo can identify a person.
    await message.answer(
        _(
            "I can only read text here. To send a network a photo or a voice note, answer "
            "its message in /requests."
        ),
        reply_markup=main_menu(),
    )
