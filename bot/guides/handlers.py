"""Guides: browse by kind or topic, read page by page in one message, search, share, reload.

Every screen edits the message whose button was pressed, so reading a guide never floods the
chat. Callback data carries only a slug and numbers; all of it is checked against the library
currently loaded, because a reload may have removed what an old button points to.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiogram import BaseMiddleware, Dispatcher, F, Router
from aiogram.enums import ChatType, ParseMode
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQuery,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
    TelegramObject,
)
from aiogram.types.inline_query_result_union import InlineQueryResultUnion
from aiogram.utils.i18n import I18n, get_i18n
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.config import Settings
from bot.directory.model import Directory
from bot.guides import SLUG_MAX, SLUG_RE, Guide, Library, LibraryHolder
from bot.guides.model import KINDS
from bot.i18n import _, language_name, ngettext
from bot.problems import ContentError, Problem
from bot.telegram.html import TEXT_LIMIT
from bot.ui.keyboards import Menu, main_menu, menu_button, pager
from bot.ui.localise import fill, isolate, rtl_line
from bot.ui.screens import show, unknown_command
from storage.models import Member

router = Router(name=__name__)
# Members read guides in private; in a staff group, text is for the group, never a search.
router.message.filter(F.chat.type == ChatType.PRIVATE)
log = logging.getLogger(__name__)

PER_PAGE = 8
INLINE_RESULTS = 50  # Telegram's maximum per answer
QUERY_MAX = 200
PAYLOAD_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what Telegram allows in a start parameter
LINK_PREFIX = "g-"
MARK = "[EN] "  # in lists: not yet in the member's language


class GuideList(CallbackData, prefix="gl"):
    by: str  # "k": a kind, "t": a topic
    key: str
    p: int = 0


class GuideTopics(CallbackData, prefix="gt"):
    """The topic chooser."""


class GuideCard(CallbackData, prefix="gc"):
    s: str


class GuideRead(CallbackData, prefix="gr"):
    s: str
    p: int


class GuideBack(CallbackData, prefix="gb"):
    """Back from a card to the list the member opened it from (remembered in FSM data)."""


class Guides(StatesGroup):
    # While set, plain text is a search. Set on entering the section, cleared on leaving it.
    browsing = State()


OUR_DATA = frozenset({GuideTopics().pack(), GuideBack().pack(), Menu(section="guides").pack()})
OUR_PREFIXES = tuple(f"{c.__prefix__}:" for c in (GuideList, GuideCard, GuideRead))
BACK_KEY = "guides_back"
SEARCH_KEY = "guides_search"  # the words of the last search, so Back returns to its results


class LeaveGuides(BaseMiddleware):
    """Another section's button or a command ends the Guides section, so its text is its own."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        state: FSMContext | None = data.get("state")
        if (
            state is not None
            and _leaves(event)
            and await state.get_state() == Guides.browsing.state
        ):
            await state.set_state(None)
        return await handler(event, data)


def _leaves(event: TelegramObject) -> bool:
    if isinstance(event, CallbackQuery):
        data = event.data or ""
        return data not in OUR_DATA and not data.startswith(OUR_PREFIXES)
    if isinstance(event, Message):
        text = event.text or ""
        return text.startswith("/") and not text.startswith(("/search", "/start g-"))
    return False


def setup(dp: Dispatcher) -> None:
    """On the dispatcher, not this router: features tried earlier must end the section too."""
    leave = LeaveGuides()
    dp.message.outer_middleware(leave)
    dp.callback_query.outer_middleware(leave)


# -- texts ---------------------------------------------------------------------------------------
def esc(text: str) -> str:
    return html.escape(text, quote=False)


def ui_language() -> str:
    """The language of the update being answered (set by the i18n middleware)."""
    return str(get_i18n().current_locale)


def kind_name(kind: str) -> str:
    if kind == "smart":
        return _("Smart Guides")
    if kind == "statement":
        return _("Statements")
    return _("Community Guides")


def kind_label(kind: str) -> str:
    """One publication's kind: the Consensus Statement is a statement, not a guide."""
    if kind == "smart":
        return _("Smart Guide")
    if kind == "statement":
        return _("Statement")
    return _("Community Guide")


def notice(language: str) -> str:
    """One line, shown when a guide is not yet in the member's language (≤ NOTICE_MAX)."""
    return fill(
        _("Not yet available in {language}: here it is in English."),
        language,
        language=language_name(language),
    )


def english_mark(language: str) -> str:
    return fill(
        _("{mark} not yet in {language}: opens in English."),
        language,
        mark=MARK.strip(),
        language=language_name(language),
    )


def home_text() -> str:
    return _(
        "<b>Guides</b>\n\n"
        "Short versions of the network's Smart Guides and Community Guides, on rights, "
        "health, safety and work.\n\n"
        "Choose below, or type a few words to search (for example: decriminalisation)."
    )


def card_text(guide: Guide, language: str) -> str:
    version = guide.version(language)
    pages = len(version.pages)
    facts = [kind_label(guide.kind)]
    if guide.year:
        facts.append(isolate(guide.year, language))  # a year takes no thousands separator
    facts.append(fill(ngettext("{n} page", "{n} pages", pages), language, n=pages))
    lines = [f"<b>{esc(version.title)}</b>", "<i>" + esc(" · ".join(facts)) + "</i>"]
    if not guide.has(language):
        lines.append(f"<i>{esc(notice(language))}</i>")
    return "\n".join(lines) + "\n\n" + esc(version.summary)


def page_text(guide: Guide, language: str, index: int) -> str:
    """A reading screen; the loader keeps every page small enough for this to fit 4,096."""
    version = guide.version(language)
    head = f"<b>{esc(version.title)}</b>"
    if not guide.has(language):
        head += f"\n<i>{esc(notice(language))}</i>"
    footer = fill(_("Page {n} of {total}"), language, n=index + 1, total=len(version.pages))
    return f"{head}\n\n{version.pages[index].html}\n\n<i>{esc(footer)}</i>"


def deep_link(bot_username: str, slug: str) -> str:
    return f"https://t.me/{bot_username}?start={LINK_PREFIX}{slug}"


# -- keyboards -----------------------------------------------------------------------------------
def home_keyboard(library: Library) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    language = ui_language()
    for kind in KINDS:
        count = len(library.of_kind(kind))
        if count:
            kb.button(
                text=rtl_line(f"{kind_name(kind)} ({fill('{n}', language, n=count)})", language),
                callback_data=GuideList(by="k", key=kind),
            )
    if library.used_topics():
        kb.button(text=_("By topic"), callback_data=GuideTopics())
    kb.adjust(1)
    kb.row(menu_button())
    return kb.as_markup()


def guide_label(guide: Guide, language: str) -> str:
    """A list button: the short title (the full one is on the guide's first screen)."""
    return ("" if guide.has(language) else MARK) + guide.version(language).short_title


def list_keyboard(guides: Sequence[Guide], language: str) -> InlineKeyboardBuilder:
    kb = InlineKeyboardBuilder()
    for guide in guides:
        kb.row(
            InlineKeyboardButton(
                text=guide_label(guide, language), callback_data=GuideCard(s=guide.slug).pack()
            )
        )
    return kb


def card_keyboard(
    guide: Guide, language: str, bot_username: str, sharing: bool = True
) -> InlineKeyboardMarkup:
    """`sharing` False (a risk notice for the member's country says so): no Share, no links out."""
    kb = InlineKeyboardBuilder()
    kb.row(
        InlineKeyboardButton(
            text="📖 " + _("Read"), callback_data=GuideRead(s=guide.slug, p=0).pack()
        )
    )
    if sharing:
        label = (
            _("Full document (in English)")
            if guide.source_in_english(language)
            else _("Full document")
        )
        kb.row(InlineKeyboardButton(text="📄 " + label, url=guide.source_url(language)))
    if bot_username and sharing:
        link = deep_link(bot_username, guide.slug)
        title = guide.version(language).title
        share = f"https://t.me/share/url?url={quote(link, safe='')}&text={quote(title, safe='')}"
        kb.row(InlineKeyboardButton(text="↗ " + _("Share"), url=share))
    kb.row(
        InlineKeyboardButton(text="‹ " + _("Back"), callback_data=GuideBack().pack()),
        menu_button(),
    )
    return kb.as_markup()


def related_label(guide: Guide, other: Guide) -> str:
    if guide.kind == "smart" and other.kind == "community":
        return _("The shorter Community Guide")
    if guide.kind == "community" and other.kind == "smart":
        return _("The full Smart Guide")
    return kind_label(other.kind)


def reading_keyboard(
    guide: Guide, language: str, index: int, library: Library | None = None
) -> InlineKeyboardMarkup:
    total = len(guide.version(language).pages)
    kb = InlineKeyboardBuilder()
    kb.row(*pager(index, total, lambda p: GuideRead(s=guide.slug, p=p)))
    other = library.get(guide.related) if library is not None and guide.related else None
    if other is not None and index == total - 1:
        kb.row(
            InlineKeyboardButton(
                text="📘 " + related_label(guide, other),
                callback_data=GuideCard(s=other.slug).pack(),
            )
        )
    # Not "About this guide": many first pages have that heading, so it read as "to page 1".
    kb.row(
        InlineKeyboardButton(
            text="‹ " + _("Guide overview"), callback_data=GuideCard(s=guide.slug).pack()
        ),
        menu_button(),
    )
    return kb.as_markup()


# -- screens -------------------------------------------------------------------------------------
async def enter(state: FSMContext) -> None:
    await state.set_state(Guides.browsing)


async def stale(target: CallbackQuery | Message, library: Library) -> None:
    """An old or forged button: say so kindly and offer the section again."""
    text = _("This guide or page is not available any more.") + "\n\n" + home_text()
    await show(target, text, home_keyboard(library))


def current_language(i18n: I18n) -> str:
    return str(i18n.current_locale)


@router.callback_query(Menu.filter(F.section == "guides"))
async def show_home(query: CallbackQuery, library: LibraryHolder, state: FSMContext) -> None:
    await enter(state)
    await show(query, home_text(), home_keyboard(library.current))


@router.message(Command("guides"))
async def cmd_guides(message: Message, library: LibraryHolder, state: FSMContext) -> None:
    await enter(state)
    await message.answer(home_text(), reply_markup=home_keyboard(library.current))


@router.callback_query(GuideTopics.filter())
async def show_topics(
    query: CallbackQuery, library: LibraryHolder, i18n: I18n, state: FSMContext
) -> None:
    await enter(state)
    lib = library.current
    await show(query, _("<b>Guides by topic</b>"), topics_keyboard(lib, current_language(i18n)))


def topics_keyboard(library: Library, language: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for topic in library.used_topics():
        kb.button(text=topic.name(language), callback_data=GuideList(by="t", key=topic.id))
    kb.adjust(1)
    kb.row(
        InlineKeyboardButton(text="‹ " + _("Guides"), callback_data=Menu(section="guides").pack()),
        menu_button(),
    )
    return kb.as_markup()


@router.callback_query(GuideList.filter())
async def show_list(
    query: CallbackQuery,
    callback_data: GuideList,
    library: LibraryHolder,
    i18n: I18n,
    state: FSMContext,
) -> None:
    lib = library.current
    language = current_language(i18n)
    by, key, page = callback_data.by, callback_data.key, callback_data.p
    if by == "k" and key in KINDS:
        guides, title = lib.of_kind(key), kind_name(key)
        back = InlineKeyboardButton(
            text="‹ " + _("Guides"), callback_data=Menu(section="guides").pack()
        )
    elif by == "t" and (topic := lib.topic(key)) is not None:
        guides, title = lib.on_topic(key), topic.name(language)
        back = InlineKeyboardButton(text="‹ " + _("Topics"), callback_data=GuideTopics().pack())
    else:
        await stale(query, lib)
        return
    pages = max(1, -(-len(guides) // PER_PAGE))
    if not guides or not 0 <= page < pages:
        await stale(query, lib)
        return
    await enter(state)
    await state.update_data({BACK_KEY: callback_data.pack(), SEARCH_KEY: None})
    shown = guides[page * PER_PAGE : (page + 1) * PER_PAGE]
    text = f"<b>{esc(title)}</b>"
    if pages > 1:
        text += "\n" + esc(fill(_("Page {n} of {total}"), language, n=page + 1, total=pages))
    if any(not g.has(language) for g in shown):
        text += "\n\n" + esc(english_mark(language))
    kb = list_keyboard(shown, language)
    kb.row(*pager(page, pages, lambda p: GuideList(by=by, key=key, p=p)))
    kb.row(back, menu_button())
    await show(query, text, kb.as_markup())


@router.callback_query(GuideCard.filter())
async def show_card(
    query: CallbackQuery,
    callback_data: GuideCard,
    library: LibraryHolder,
    i18n: I18n,
    state: FSMContext,
    directory: Directory,
    member: Member | None,
    bot_username: str = "",
) -> None:
    lib = library.current
    guide = lib.get(callback_data.s)
    if guide is None:
        await stale(query, lib)
        return
    await enter(state)
    language = current_language(i18n)
    sharing = not directory.law.hides_sharing(member.country if member else None)
    markup = card_keyboard(guide, language, bot_username, sharing)
    await show(query, card_text(guide, language), markup)


@router.callback_query(GuideBack.filter())
async def go_back(
    query: CallbackQuery, library: LibraryHolder, i18n: I18n, state: FSMContext
) -> None:
    data = await state.get_data()
    words = data.get(SEARCH_KEY)
    if isinstance(words, str) and words:
        await answer_search(query, words, library.current, current_language(i18n), state)
        return
    try:
        origin = GuideList.unpack(str(data.get(BACK_KEY, "")))
    except (TypeError, ValueError):
        await show_home(query, library, state)
        return
    await show_list(query, origin, library, i18n, state)


@router.callback_query(GuideRead.filter())
async def show_page(
    query: CallbackQuery,
    callback_data: GuideRead,
    library: LibraryHolder,
    i18n: I18n,
    state: FSMContext,
) -> None:
    lib = library.current
    guide = lib.get(callback_data.s)
    language = current_language(i18n)
    if guide is None or not 0 <= callback_data.p < len(guide.version(language).pages):
        await stale(query, lib)
        return
    await enter(state)
    index = callback_data.p
    await show(
        query, page_text(guide, language, index), reading_keyboard(guide, language, index, lib)
    )


# -- search --------------------------------------------------------------------------------------
def shown_words(words: str) -> str:
    """The member's words as echoed back: one line, at most QUERY_MAX characters."""
    words = " ".join(words.split())
    return words if len(words) <= QUERY_MAX else words[: QUERY_MAX - 1] + "…"


async def answer_search(
    target: Message | CallbackQuery,
    words: str,
    library: Library,
    language: str,
    state: FSMContext,
) -> None:
    """Results for typed words; any text at all gets a clear answer (empty, emoji only, a
    4,000-character paste, a language the guides are not in)."""
    await enter(state)
    words = " ".join(words.split())
    found = library.search(words[:QUERY_MAX], PER_PAGE, language) if words else []
    echo = esc(shown_words(words))
    if not found:
        if not any(c.isalnum() for c in words):
            text = _("Type a few words to search the guides, for example: digital security.")
        else:
            text = fill(
                _("Nothing found for «{words}». Try other words, or choose a topic:"),
                language,
                words=echo,
            )
        await show(target, text, topics_keyboard(library, language))
        return
    text = fill(_("<b>Guides for «{words}»</b>"), language, words=echo)
    if any(not g.has(language) for g in found):
        text += "\n\n" + esc(english_mark(language))
    kb = list_keyboard(found, language)
    kb.row(
        InlineKeyboardButton(text="‹ " + _("Guides"), callback_data=Menu(section="guides").pack()),
        menu_button(),
    )
    await state.update_data({BACK_KEY: None, SEARCH_KEY: words[:QUERY_MAX]})
    await show(target, text, kb.as_markup())


@router.message(Command("search"))
async def cmd_search(
    message: Message, command: CommandObject, library: LibraryHolder, i18n: I18n, state: FSMContext
) -> None:
    if not command.args or not command.args.strip():
        await enter(state)
        await message.answer(
            _("Type a few words to search the guides, for example: digital security."),
            reply_markup=home_keyboard(library.current),
        )
        return
    await answer_search(message, command.args, library.current, current_language(i18n), state)


@router.message(Guides.browsing, F.text, ~F.text.startswith("/"))
async def typed_search(
    message: Message, library: LibraryHolder, i18n: I18n, state: FSMContext
) -> None:
    await answer_search(
        message, message.text or "", library.current, current_language(i18n), state
    )


# -- sharing -------------------------------------------------------------------------------------
@router.message(CommandStart(deep_link=True, magic=F.args.startswith(LINK_PREFIX)))
async def open_link(
    message: Message,
    command: CommandObject,
    library: LibraryHolder,
    i18n: I18n,
    state: FSMContext,
    directory: Directory,
    member: Member | None,
    bot_username: str = "",
) -> None:
    payload = command.args or ""
    slug = payload[len(LINK_PREFIX) :]
    guide = (
        library.current.get(slug)
        if PAYLOAD_RE.match(payload) and SLUG_RE.match(slug) and len(slug) <= SLUG_MAX
        else None
    )
    if guide is None:
        await message.answer(
            _("Sorry, this guide is not available any more. Here is the main menu."),
            reply_markup=main_menu(),
        )
        return
    await enter(state)
    language = current_language(i18n)
    sharing = not directory.law.hides_sharing(member.country if member else None)
    await message.answer(
        card_text(guide, language),
        reply_markup=card_keyboard(guide, language, bot_username, sharing),
    )


@router.inline_query()
async def inline_guides(
    query: InlineQuery,
    library: LibraryHolder,
    i18n: I18n,
    directory: Directory,
    member: Member | None,
    bot_username: str = "",
) -> None:
    lib = library.current
    language = current_language(i18n)
    words = " ".join(query.query.split())[:QUERY_MAX]
    guides = (
        lib.search(words, INLINE_RESULTS, language) if words else list(lib.guides[:INLINE_RESULTS])
    )
    if directory.law.hides_sharing(member.country if member else None):
        # Inline results are posted into other chats: sharing, which the member's country's
        # risk notice advises against.
        guides = []
    results: list[InlineQueryResultUnion] = []
    for guide in guides:
        version = guide.version(language)
        buttons = []
        if bot_username:
            buttons.append(
                [
                    InlineKeyboardButton(
                        text=_("Open in the bot"), url=deep_link(bot_username, guide.slug)
                    )
                ]
            )
        results.append(
            InlineQueryResultArticle(
                id=guide.slug,
                title=version.title,
                description=version.summary,
                input_message_content=InputTextMessageContent(
                    message_text=card_text(guide, language), parse_mode=ParseMode.HTML
                ),
                reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None,
            )
        )
    # Personal: answers are in the asker's language, so Telegram must not share its cache.
    await query.answer(results, cache_time=10, is_personal=True)


# -- maintainers ---------------------------------------------------------------------------------
def problem_lines(problems: Sequence[Problem], root: Path) -> list[str]:
    out = []
    for p in problems:
        try:
            path = p.path.relative_to(root.parent)
        except ValueError:
            path = p.path
        out.append(esc(f"{path}:{p.line}: {p.message}"))
    return out


def chunks(head: str, lines: Sequence[str], limit: int = TEXT_LIMIT - 96) -> list[str]:
    """Messages under Telegram's limit, split between lines (each line is escaped already)."""
    out, current = [], head
    for line in lines:
        line = line if len(line) < limit // 2 else line[: limit // 2] + "…"
        if len(current) + 1 + len(line) > limit:
            out.append(current)
            current = line
        else:
            current += "\n" + line
    out.append(current)
    return out


@router.message(Command("reload"))
async def cmd_reload(message: Message, library: LibraryHolder, settings: Settings) -> None:
    if message.from_user is None or message.from_user.id not in settings.admin_ids:
        await unknown_command(message)  # deny by default, without revealing the command
        return
    try:
        lib = await library.reload()
    except ContentError as exc:
        language = ui_language()
        head = fill(
            ngettext(
                "Not reloaded: {n} problem. Members still see the previous guides.",
                "Not reloaded: {n} problems. Members still see the previous guides.",
                len(exc.problems),
            ),
            language,
            n=len(exc.problems),
        )
        for text in chunks(esc(head) + "\n", problem_lines(exc.problems, library.directory)):
            await message.answer(text)
        log.warning("reload refused: %d problem(s) in the guides", len(exc.problems))
        return
    topics = len(lib.topics)
    await message.answer(
        fill(
            _("Guides reloaded: {guides} guides, {versions} language versions, {topics} topics."),
            ui_language(),
            guides=len(lib.guides),
            versions=lib.version_count,
            topics=topics,
        )
    )
    log.info("guides reloaded by an admin: %d guides", len(lib.guides))
