"""The shared country choice: region -> country buttons, or the name typed in any language.

Any flow that needs the member's country (Services, /network, "Ask a network") uses it:

    from bot.directory.countries import ask_country, country_chosen

    # 1. Register what happens once a country is chosen. Purpose: a short id, [a-z]{1,8}.
    @country_chosen("ask")
    async def on_country(event: Message | CallbackQuery, country: str, data: dict[str, Any]):
        ...  # `country` is a valid ISO 3166-1 alpha-2 code; `data` is the handler's workflow
        ...  # data: state, member, members, directory, i18n, session, settings, bot, ...
        ...  # Answer with `bot.ui.show(event, ...)`: it edits after a button, sends after text.

    # 2. Ask from any handler; this shows the picker and sets the FSM state `CountryChoice.typing`.
    await ask_country(query_or_message, state, "ask", member=member, directory=directory)

The picker shows the remembered country first (when the member saved one), then the regions; a
region shows its countries in the member's language (Babel's CLDR names), sorted and paginated.
While the picker is open the member may type the name instead, in English, French, Spanish,
Russian, Chinese or Arabic, with typos (rapidfuzz over Babel's names in all six languages plus
the short aliases below). When the chosen country differs from the saved one, the member is
asked once whether to remember it; it is stored (members.country) only on "yes", and /forget
deletes it with the member row. The consumer is called after that answer, with the FSM state
cleared (its data is kept, minus the picker's own key). A flow that waits for typed text next
(Ask a network) registers with `keep_inline=True`: its consumer is called at once and shows
`keep_button(...)` on its own screen, so the text typed next is never taken for an answer.
Chinese lists sort by pinyin and everyday names ("ЮАР", "Штаты") are matched: country_names.py.

Callback data: `CountryPick` (cp:<purpose>:<code>), `CountryRegion` (cr:<purpose>:<region>:<page>),
`CountryKeep` (ck:<purpose>:<code>:<0|1>), `CountryForget` (cf:<purpose>); every field is
validated, and stale or forged data gets a short message and the main menu.
"""

from __future__ import annotations

import contextlib
import html
import math
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import get_i18n
from aiogram.utils.keyboard import InlineKeyboardBuilder
from babel import Locale
from rapidfuzz import fuzz, process

from bot.config import LANGUAGES
from bot.directory.country_names import aliases, sort_key
from bot.directory.model import Directory, country_codes
from bot.i18n import _
from bot.ui.keyboards import main_menu, menu_button, pager
from bot.ui.localise import fill
from bot.ui.screens import ack, show, stale_button
from storage.models import Member
from storage.repositories import MemberRepo

router = Router(name=__name__)

Event = Message | CallbackQuery
Consumer = Callable[[Event, str, dict[str, Any]], Awaitable[None]]
ExtraButtons = Callable[[], list[InlineKeyboardButton]]
PURPOSE_RE = re.compile(r"^[a-z]{1,8}$")
PAGE_SIZE = 16  # 8 rows of 2: long names stay readable, no keyboard scrolls off a phone screen
PURPOSE_KEY = "country_purpose"
# Places with no permanent civilian population (or a few dozen people): routing keeps them, but
# they only lengthen the pickers (tour [22]). Typing the name still finds them.
NOT_IN_PICKERS = frozenset({"IO", "GS", "PN", "CC"})
DECLINED_KEY = "country_not_saved"

# Common names CLDR (and so Babel) lacks: official short forms, older names, abbreviations.
# Babel already covers the standard name in each of the six languages.
ALIASES: dict[str, tuple[str, ...]] = {
    "US": ("USA", "US", "America", "EEUU", "EE UU", "США", "Америка", "美國", "أمريكا"),
    "GB": (
        "UK",
        "Britain",
        "Great Britain",
        "England",
        "Scotland",
        "Wales",
        "Angleterre",
        "Inglaterra",
        "Англия",
        "Британия",
        "英格兰",
        "بريطانيا",
        "إنجلترا",
    ),
    "KG": ("Кыргызстан", "Киргизстан", "Kyrgyz Republic", "Kirghizia"),
    # "Congo" alone is ambiguous: both Congos are offered.
    "CD": ("Congo", "DRC", "DR Congo", "RDC", "ДРК", "ДР Конго", "刚果民主共和国", "Zaire"),
    "CI": ("Ivory Coast", "Costa de Marfil", "Берег Слоновой Кости"),
    "CZ": ("Czech Republic", "République tchèque", "República Checa", "Чешская Республика"),
    "MK": ("Macedonia", "Macédoine", "Македония"),
    "SZ": ("Swaziland", "Suazilandia", "Свазиленд"),
    "TR": ("Turkey",),
    "MM": ("Burma", "Birmanie", "Birmania", "Бирма"),
    "HK": ("Hong Kong", "香港", "هونغ كونغ"),
    "MO": ("Macau", "Macao", "澳门"),
    "AE": ("UAE", "Emirates", "EAU", "الإمارات"),
    "PS": ("Palestine", "Palestina", "Палестина", "巴勒斯坦", "فلسطين"),
    "MD": ("Молдавия",),
    "BY": ("Белоруссия",),
    "TM": ("Туркмения",),
    "NL": ("Holland", "Голландия"),
    "TL": ("East Timor",),
}


# -- names and matching (pure) ---------------------------------------------------------------


def current_language() -> str:
    try:
        return str(get_i18n().current_locale)
    except LookupError:  # outside an update (tests, benchmarks)
        return "en"


@cache
def _territories(lang: str) -> dict[str, str]:
    names = Locale.parse(lang).territories
    return {code: _tidy(str(names.get(code, code))) for code in country_codes()}


def _tidy(name: str) -> str:
    """CLDR's "Congo - Kinshasa" reads as a typo in a button: "Congo (Kinshasa)"."""
    if " - " not in name:
        return name
    head, tail = name.split(" - ", 1)
    return f"{head} ({tail})"


def country_name(code: str, lang: str | None = None) -> str:
    """The country's name in the member's language, from CLDR."""
    lang = lang if lang in LANGUAGES else current_language()
    return _territories(lang).get(code, code)


def normalise(text: str) -> str:
    """Case, accents and punctuation folded: "Kyrgyzstán" -> "kyrgyzstan", "Ёлка" -> "елка"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.category(ch).startswith("M"))
    return " ".join(re.sub(r"[\W_]+", " ", bare).split())


def collation_key(name: str) -> str:
    """Sort key: accent- and case-folded, so É sorts with E (CLDR collation needs ICU)."""
    return normalise(name)


def script(text: str) -> str:
    """The writing system of a normalised name: its first letter's Unicode script, roughly."""
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            return name.split(" ", 1)[0] if name else "OTHER"
    return "OTHER"


@dataclass(frozen=True)
class Match:
    """`country` when the typed name is clear; otherwise up to five `candidates` to offer."""

    country: str | None
    candidates: tuple[str, ...] = ()


class CountryMatcher:
    """Typed country names -> codes, tolerant of case, accents and typos."""

    CONFIDENT = 88  # a best score this high, clearly ahead of the next country, is the answer
    LEAD = 8
    SUGGEST = 75  # candidates offered as buttons

    def __init__(self, names: Iterable[tuple[str, str]]) -> None:
        self.exact: dict[str, set[str]] = {}
        choices: dict[str, str] = {}
        for code, name in names:
            key = normalise(name)
            if key:
                self.exact.setdefault(key, set()).add(code)
                choices.setdefault(key, code)
        self.keys = list(choices)
        self.codes = [choices[k] for k in self.keys]
        # Per script, for the slower scorer: a Cyrillic query never needs the Latin names.
        self.by_script: dict[str, tuple[list[str], list[str]]] = {}
        for key, code in zip(self.keys, self.codes, strict=True):
            keys, codes = self.by_script.setdefault(script(key), ([], []))
            keys.append(key)
            codes.append(code)

    @classmethod
    def from_babel(cls) -> CountryMatcher:
        def names() -> Iterable[tuple[str, str]]:
            for lang in LANGUAGES:
                for code, name in _territories(lang).items():
                    yield code, name
                    # "Myanmar (Burma)", "Гонконг (САР)": the name before the brackets alone.
                    head = re.split(r"\s*[(（]", name, maxsplit=1)[0]
                    if head != name:
                        yield code, head
            for code, names in ALIASES.items():
                for alias in names:
                    yield code, alias
            yield from aliases()  # guides/country-aliases.yaml

        return cls(names())

    def match(self, text: str) -> Match:
        query = normalise(text)[:64]
        if not query:
            return Match(None)
        exact = self.exact.get(query)
        if exact:
            return (
                Match(next(iter(exact))) if len(exact) == 1 else Match(None, tuple(sorted(exact)))
            )
        # The plain edit-distance ratio settles most typos quickly. WRatio also tolerates extra
        # words ("I live in Kenya") but is slower and finds any 1-3 letter string inside longer
        # names, so it runs only when the ratio is unsure, and only on longer queries.
        ranked = self._rank(query, fuzz.ratio, self.keys, self.codes)
        if not self._confident(ranked) and len(query) >= 4:
            keys, codes = self.by_script.get(script(query), (self.keys, self.codes))
            ranked = self._rank(query, fuzz.WRatio, keys, codes)
        if self._confident(ranked):
            return Match(ranked[0][0])
        return Match(None, tuple(code for code, _ in ranked[:5]))

    def _rank(
        self, query: str, scorer: Any, keys: list[str], codes: list[str]
    ) -> list[tuple[str, float]]:
        hits = process.extract(
            query, keys, scorer=scorer, processor=None, limit=25, score_cutoff=self.SUGGEST
        )
        best: dict[str, float] = {}
        for _key, score, index in hits:
            code = codes[index]
            best[code] = max(best.get(code, 0.0), float(score))
        return sorted(best.items(), key=lambda item: -item[1])

    def _confident(self, ranked: list[tuple[str, float]]) -> bool:
        if not ranked:
            return False
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        return ranked[0][1] >= self.CONFIDENT and ranked[0][1] - runner_up >= self.LEAD


@cache
def matcher() -> CountryMatcher:
    return CountryMatcher.from_babel()


def sorted_countries(codes: Iterable[str], lang: str) -> list[str]:
    # Pinyin order for Chinese (tour finding 20), folded names elsewhere: country_names.py.
    return sorted(codes, key=lambda c: sort_key(country_name(c, lang), lang))


# -- callback data and state -----------------------------------------------------------------


class CountryPick(CallbackData, prefix="cp"):
    p: str  # purpose
    c: str  # ISO 3166-1 alpha-2


class CountryRegion(CallbackData, prefix="cr"):
    p: str
    r: str = ""  # region id; empty: the list of regions
    n: int = 0  # page


class CountryKeep(CallbackData, prefix="ck"):
    p: str
    c: str
    keep: int  # 1: remember it, 0: don't


class CountryForget(CallbackData, prefix="cf"):
    p: str


class CountryChoice(StatesGroup):
    typing = State()


_consumers: dict[str, Consumer] = {}
# Purposes whose next screen offers "Remember it" as a button (`keep_button`) instead of the
# question stopping the flow: text typed next is then never taken for an answer to it.
_keeps_inline: set[str] = set()
_extras: dict[str, ExtraButtons] = {}


def country_chosen(purpose: str, *, keep_inline: bool = False) -> Callable[[Consumer], Consumer]:
    """Register the function called with the chosen country for `purpose`.

    With `keep_inline`, the consumer is called at once and shows `keep_button(...)` itself.
    """
    if not PURPOSE_RE.match(purpose):
        raise ValueError(f"purpose must match {PURPOSE_RE.pattern}: {purpose!r}")

    def register(consumer: Consumer) -> Consumer:
        _consumers[purpose] = consumer
        if keep_inline:
            _keeps_inline.add(purpose)
        return consumer

    return register


def keep_button(
    purpose: str, code: str, member: Member | None, fsm: dict[str, Any]
) -> InlineKeyboardButton | None:
    """ "📍 Remember <country>", when the member has not saved it and did not decline."""
    if member is None or member.country == code or fsm.get(DECLINED_KEY):
        return None
    return InlineKeyboardButton(
        text="📍 " + _("Remember {country}").format(country=country_name(code)),
        callback_data=CountryKeep(p=purpose, c=code, keep=1).pack(),
    )


def picker_buttons(purpose: str) -> Callable[[ExtraButtons], ExtraButtons]:
    """Register buttons shown above the regions for `purpose` (e.g. "what to do now")."""

    def register(factory: ExtraButtons) -> ExtraButtons:
        _extras[purpose] = factory
        return factory

    return register


def _valid(purpose: str, code: str | None = None) -> bool:
    return purpose in _consumers and (code is None or code in country_codes())


# -- screens ---------------------------------------------------------------------------------


def regions_keyboard(
    purpose: str, directory: Directory, saved: str | None, lang: str
) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if saved:
        kb.button(
            text="📍 " + country_name(saved, lang), callback_data=CountryPick(p=purpose, c=saved)
        )
    if purpose in _extras:
        for extra in _extras[purpose]():
            kb.add(extra)
    for region in directory.regions:
        kb.button(text=region.name(lang), callback_data=CountryRegion(p=purpose, r=region.id))
    if saved:
        kb.button(text="🗑 " + _("Forget my saved country"), callback_data=CountryForget(p=purpose))
    kb.adjust(1)
    kb.row(menu_button())
    return kb.as_markup()


def regions_text(saved: str | None, prompt: str | None, lang: str) -> str:
    lines = [prompt or _("Which country are you in?")]
    if saved:
        lines.append(
            _("Your saved country: {country}. Tap it, or choose another.").format(
                country=html.escape(country_name(saved, lang))
            )
        )
    lines.append(_("Choose a region below, or type the name of your country."))
    return "\n\n".join(lines)


def countries_keyboard(
    purpose: str, directory: Directory, region_id: str, page: int, lang: str
) -> tuple[InlineKeyboardMarkup, int, int] | None:
    """The page's keyboard, the page shown and the page count; None for an unknown region."""
    region = directory.region(region_id)
    if region is None:
        return None
    codes = sorted_countries(region.countries - NOT_IN_PICKERS, lang)
    pages = max(1, math.ceil(len(codes) / PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    kb = InlineKeyboardBuilder()
    for code in codes[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]:
        kb.button(text=country_name(code, lang), callback_data=CountryPick(p=purpose, c=code))
    kb.adjust(2)
    kb.row(
        *pager(
            page,
            pages,
            lambda n: CountryRegion(p=purpose, r=region.id, n=n),
            "◀ " + _("Back"),
            _("More") + " ▶",
        )
    )
    kb.row()
    kb.button(text="↩ " + _("Regions"), callback_data=CountryRegion(p=purpose))
    kb.row(menu_button())
    return kb.as_markup(), page, pages


async def ask_country(
    target: Event,
    state: FSMContext,
    purpose: str,
    *,
    member: Member | None,
    directory: Directory,
    prompt: str | None = None,
) -> None:
    """Show the country picker; the consumer registered for `purpose` gets the answer.

    `prompt` replaces the first line ("Which country are you in?"); it is HTML, escape your
    own content in it.
    """
    if purpose not in _consumers:
        raise ValueError(f"no @country_chosen({purpose!r}) consumer is registered")
    lang = current_language()
    saved = member.country if member is not None and member.country in country_codes() else None
    await state.set_state(CountryChoice.typing)
    await state.update_data({PURPOSE_KEY: purpose})
    await show(
        target,
        regions_text(saved, prompt, lang),
        regions_keyboard(purpose, directory, saved, lang),
    )


async def chosen(event: Event, purpose: str, code: str, data: dict[str, Any]) -> None:
    """A country was picked or typed: offer to remember it, or go straight to the consumer."""
    member: Member | None = data.get("member")
    state: FSMContext = data["state"]
    await state.set_state(None)
    declined = (await state.get_data()).get(DECLINED_KEY)
    inline = purpose in _keeps_inline
    if not declined and not inline and member is not None and member.country != code:
        name = html.escape(country_name(code))
        text = _(
            "Country: <b>{country}</b>.\n\n"
            "Shall I remember it for next time? I keep it only if you say yes, and /forget "
            "deletes it."
        ).format(country=name)
        kb = InlineKeyboardBuilder()
        kb.button(text=_("Yes, remember it"), callback_data=CountryKeep(p=purpose, c=code, keep=1))
        kb.button(
            text=_("No, just this time"), callback_data=CountryKeep(p=purpose, c=code, keep=0)
        )
        kb.button(text="↩ " + _("Another country"), callback_data=CountryRegion(p=purpose))
        kb.adjust(1)
        await show(event, text, kb.as_markup())
        return
    await finish(event, purpose, code, data)


async def finish(event: Event, purpose: str, code: str, data: dict[str, Any]) -> None:
    state: FSMContext = data["state"]
    await state.set_state(None)
    fsm = await state.get_data()
    if PURPOSE_KEY in fsm:
        fsm.pop(PURPOSE_KEY)
        await state.set_data(fsm)
    await _consumers[purpose](event, code, data)


# -- handlers --------------------------------------------------------------------------------


@router.callback_query(CountryRegion.filter())
async def show_region(
    query: CallbackQuery,
    callback_data: CountryRegion,
    state: FSMContext,
    member: Member | None,
    directory: Directory,
) -> None:
    purpose = callback_data.p
    if not _valid(purpose):
        await stale_button(query)
        return
    lang = current_language()
    await state.set_state(CountryChoice.typing)
    await state.update_data({PURPOSE_KEY: purpose})
    if not callback_data.r:
        saved = member.country if member is not None else None
        await show(
            query,
            regions_text(saved, None, lang),
            regions_keyboard(purpose, directory, saved, lang),
        )
        return
    built = countries_keyboard(purpose, directory, callback_data.r, callback_data.n, lang)
    if built is None:
        await stale_button(query)
        return
    markup, page, pages = built
    region = directory.region(callback_data.r)
    assert region is not None
    text = f"<b>{html.escape(region.name(lang))}</b>\n\n" + _(
        "Choose your country, or type its name."
    )
    if pages > 1:
        text += "\n" + fill(_("Page {page} of {pages}."), lang, page=page + 1, pages=pages)
    await show(query, text, markup)


@router.callback_query(CountryPick.filter())
async def pick_country(query: CallbackQuery, callback_data: CountryPick, **data: Any) -> None:
    if not _valid(callback_data.p, callback_data.c):
        await stale_button(query)
        return
    await ack(query)
    await chosen(query, callback_data.p, callback_data.c, data)


@router.callback_query(CountryKeep.filter())
async def keep_country(
    query: CallbackQuery,
    callback_data: CountryKeep,
    member: Member | None,
    members: MemberRepo,
    **data: Any,
) -> None:
    if not _valid(callback_data.p, callback_data.c) or callback_data.keep not in (0, 1):
        await stale_button(query)
        return
    state: FSMContext = data["state"]
    if callback_data.p in _keeps_inline:
        # A button on the consumer's own screen: save, drop the button, and stay on that step.
        if callback_data.keep and member is not None:
            await members.set_country(member, callback_data.c)
            await ack(query, _("Saved. /forget deletes it."))
        else:
            await state.update_data({DECLINED_KEY: True})
            await ack(query)
        await drop_button(query, callback_data.pack())
        return
    if callback_data.keep and member is not None:
        await members.set_country(member, callback_data.c)
        await ack(query, _("Saved. /forget deletes it."))
    else:
        # Not asked again until the conversation state is reset.
        await state.update_data({DECLINED_KEY: True})
        await ack(query)
    await finish(
        query, callback_data.p, callback_data.c, {**data, "member": member, "members": members}
    )


async def drop_button(query: CallbackQuery, data: str) -> None:
    message = query.message
    if not isinstance(message, Message) or message.reply_markup is None:
        return
    rows = [
        [b for b in row if b.callback_data != data] for row in message.reply_markup.inline_keyboard
    ]
    markup = InlineKeyboardMarkup(inline_keyboard=[row for row in rows if row])
    with contextlib.suppress(TelegramBadRequest):
        await message.edit_reply_markup(reply_markup=markup)


@router.callback_query(CountryForget.filter())
async def forget_country(
    query: CallbackQuery,
    callback_data: CountryForget,
    state: FSMContext,
    member: Member | None,
    members: MemberRepo,
    directory: Directory,
) -> None:
    if not _valid(callback_data.p):
        await stale_button(query)
        return
    if member is not None:
        await members.set_country(member, None)
    await ack(query, _("Your saved country is deleted."))
    await ask_country(query, state, callback_data.p, member=member, directory=directory)


@router.message(CountryChoice.typing, F.text, ~F.text.startswith("/"))
async def type_country(
    message: Message, state: FSMContext, directory: Directory, **data: Any
) -> None:
    purpose = (await state.get_data()).get(PURPOSE_KEY)
    if not isinstance(purpose, str) or not _valid(purpose):
        await state.set_state(None)
        await message.answer(_("Here is the main menu."), reply_markup=main_menu())
        return
    found = matcher().match(message.text or "")
    if found.country is not None:
        await chosen(
            message, purpose, found.country, {**data, "state": state, "directory": directory}
        )
        return
    lang = current_language()
    kb = InlineKeyboardBuilder()
    for code in found.candidates:
        kb.button(text=country_name(code, lang), callback_data=CountryPick(p=purpose, c=code))
    kb.button(text="↩ " + _("Choose from the list"), callback_data=CountryRegion(p=purpose))
    kb.adjust(1)
    kb.row(menu_button())
    if found.candidates:
        text = _("Did you mean one of these?")
    else:
        text = _(
            "I could not find that country. Please check the spelling, or choose from the list."
        )
        # Never a dead end: the global network answers from anywhere.
        network = directory.global_network
        text += (
            "\n\n"
            + _("The global network can help:")
            + f"\n<b>{html.escape(network.name)}</b>\n{html.escape(network.description(lang))}"
        )
        if network.website:
            kb.row(InlineKeyboardButton(text="🌐 " + _("Website"), url=network.website))
    await message.answer(text, reply_markup=kb.as_markup())
