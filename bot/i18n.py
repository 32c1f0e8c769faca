"""Languages: which one a member gets, and their names from Babel's locale data.

Use `_("text")` for strings and `ngettext("{n} guide", "{n} guides", n)` for plurals.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware, lazy_gettext, ngettext
from aiogram.utils.i18n import gettext as _
from babel import Locale
from sqlalchemy import inspect

from bot.config import LANGUAGES

__all__ = [
    "LANGUAGES",
    "MemberI18nMiddleware",
    "_",
    "language_name",
    "lazy_gettext",
    "ngettext",
    "resolve_language",
]


def resolve_language(code: str | None, default: str = "en") -> str:
    """Map Telegram's language_code to a supported language: fr-CA -> fr, zh-hans -> zh."""
    if not code:
        return default
    base = code.replace("_", "-").split("-", 1)[0].lower()
    return base if base in LANGUAGES else default


@cache
def language_name(code: str) -> str:
    """The language's name in itself ("Français", "Русский"), from the CLDR data Babel ships."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


class MemberI18nMiddleware(I18nMiddleware):
    """A saved choice wins; then Telegram's language_code; then the default language."""

    def __init__(self, i18n: I18n) -> None:
        super().__init__(i18n)

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        member = data.get("member")
        # Read without loading: after a handler failed, its transaction is rolled back and the
        # member expired, yet the error handler must still answer in their language.
        language = inspect(member).dict.get("language") if member is not None else None
        if language:
            return str(language)
        user: User | None = data.get("event_from_user")
        return resolve_language(user.language_code if user else None, self.i18n.default_locale)
