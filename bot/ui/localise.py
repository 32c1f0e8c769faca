"""What a member reads around numbers and mixed scripts: Babel formats every number in the
member's locale (`2 000` in French), and right-to-left lines isolate what is interpolated.

In Arabic, a Latin token or a number dropped into a sentence ("[EN]", a code, a date, a network's
English name) pulls the surrounding punctuation into the wrong order. Each interpolated value is
wrapped in FIRST STRONG ISOLATE … POP DIRECTIONAL ISOLATE (Unicode bidi isolation), so it is laid
out on its own and the sentence keeps its direction.
"""

from __future__ import annotations

from aiogram.utils.i18n import get_i18n
from babel.numbers import format_decimal

from bot.i18n import ngettext

RTL = frozenset({"ar"})
FSI, PDI, RLM = "\u2068", "\u2069", "\u200f"


def here() -> str:
    """The language of the update being handled, or "en" outside one (tests, the CLI)."""
    try:
        return str(get_i18n().current_locale)
    except LookupError:
        return "en"


def is_rtl(language: str) -> bool:
    return language in RTL


def isolate(value: object, language: str) -> str:
    """A value as it goes into a sentence in `language`: isolated when the line is RTL."""
    text = str(value)
    if not text or language not in RTL:
        return text
    return f"{FSI}{text}{PDI}"


def number(value: int | float, language: str) -> str:
    """A number in the member's locale: 2 000 (fr), 2,000 (en), 2.000 (es)."""
    return format_decimal(value, locale=language)


def fill(template: str, language: str, /, **values: object) -> str:
    """`template.format(**values)` with numbers through Babel and values isolated in RTL."""
    shown = {
        key: isolate(
            number(v, language) if isinstance(v, int | float) and not isinstance(v, bool) else v,
            language,
        )
        for key, v in values.items()
    }
    return template.format(**shown)


def days_phrase(days: int, language: str) -> str:
    """ "90 days" with the plural the language needs (Arabic: يومًا / أيام / يومان)."""
    # NOTE: as in "deleted after {n} days" (Arabic: after بعد, so the dual is يومين).
    phrase = ngettext("{n} day", "{n} days", days)
    return fill(phrase, language, n=days)


def rtl_line(text: str, language: str) -> str:
    """A line for an RTL locale that may start with a Latin word or a digit: a leading RLM makes
    the whole line right-to-left, as the rest of the screen is."""
    return RLM + text if language in RTL and text and not text.startswith(RLM) else text
