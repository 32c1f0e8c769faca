"""The guide library without Telegram: parsing, rendering, page splitting, search (R15, R19)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiogram.utils.i18n import I18n
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import LANGUAGES, PROJECT_ROOT
from bot.guides import Library, LibraryHolder, inspect, load_library
from bot.guides.compile import SHARED, RenderCache
from bot.guides.handlers import card_text, notice, page_text
from bot.guides.loader import NOTICE_MAX, page_budget
from bot.guides.markdown import render
from bot.guides.search import normalise, tokens
from bot.problems import ContentError
from bot.telegram.html import TEXT_LIMIT, parse_html, utf16_len
from tests.seed import seed_library

GUIDES = PROJECT_ROOT / "guides"
SEED = seed_library()
I18N = I18n(path=PROJECT_ROOT / "locales", default_locale="en")
PAGES = [
    (guide.slug, language, index)
    for guide in SEED.guides
    for language, version in guide.versions.items()
    for index in range(len(version.pages))
]


@contextmanager
def locale(language: str) -> Iterator[None]:
    with I18N.context(), I18N.use_locale(language):
        yield


def fits(text: str) -> bool:
    return 0 < utf16_len(parse_html(text)) <= TEXT_LIMIT


# -- the seed content ---------------------------------------------------------------------------
def test_seed_library_is_complete() -> None:
    """At least 16 guides, both kinds, each in the five languages with 3-6 pages."""
    assert len(SEED.guides) >= 16
    assert len(SEED.of_kind("smart")) >= 8 and len(SEED.of_kind("community")) >= 8
    assert SEED.get("consensus-statement") is not None
    for guide in SEED.guides:
        assert {"en", "fr", "es", "ru", "zh"} <= set(guide.versions), guide.slug
        for version in guide.versions.values():
            assert 3 <= len(version.pages) <= 6, (guide.slug, version.language)
            assert len(version.summary) <= 300
        assert guide.source_url("en").startswith("https://")


@settings(max_examples=300, deadline=None)
@given(page=st.sampled_from(PAGES), member=st.sampled_from(LANGUAGES))
def test_every_seed_page_renders_valid_html_under_the_limit(
    page: tuple[str, str, int], member: str
) -> None:
    """R15: any page of any guide, shown to a member of any language (with the notice), fits."""
    slug, language, index = page
    guide = SEED.get(slug)
    assert guide is not None
    shown_language = member if guide.has(member) else "en"
    if index >= len(guide.version(shown_language).pages) or (
        shown_language != language and language != "en"
    ):
        return  # that page is not what this member would see
    with locale(member):
        assert fits(page_text(guide, member, index))
        assert fits(card_text(guide, member))


def test_every_seed_page_fits_exhaustively() -> None:
    """The same check over every page, card and member language, for certainty."""
    for guide in SEED.guides:
        for member in LANGUAGES:
            with locale(member):
                assert fits(card_text(guide, member))
                for index in range(len(guide.version(member).pages)):
                    assert fits(page_text(guide, member, index)), (guide.slug, member, index)


def test_notice_fits_its_reserved_room_in_every_language() -> None:
    """The missing-language notice must stay within the room the page budget leaves for it."""
    for member in LANGUAGES:
        with locale(member):
            assert utf16_len(notice(member)) <= NOTICE_MAX


# -- rendering ----------------------------------------------------------------------------------
def test_markdown_becomes_telegram_html() -> None:
    """Bold, italic, links, lists, quotes and escaping map onto Telegram's HTML subset."""
    body = (
        "## Rights & wrongs: 1 < 2 > 0\n\n"
        "Text with **bold**, *italic*, ~~old~~, `code` and [a link](https://nswp.org/x?a=1&b=2).\n"
        "A soft break.\n\n"
        "- first\n- second **item**\n  - nested\n\n"
        "1. one\n2. two\n\n"
        "> A quote\n\n"
        "### A subheading\n"
    )
    out = render(body, 0, 4000)
    assert out.problems == []
    (page,) = out.pages
    assert page.heading == "Rights & wrongs: 1 < 2 > 0"
    assert page.html.startswith("<b>Rights &amp; wrongs: 1 &lt; 2 &gt; 0</b>\n\n")
    assert "<b>bold</b>, <i>italic</i>, <s>old</s>, <code>code</code>" in page.html
    assert '<a href="https://nswp.org/x?a=1&amp;b=2">a link</a>' in page.html
    assert "A soft break" in page.html and "link</a>.\nA soft" not in page.html
    assert "• first\n• second <b>item</b>\n    ◦ nested" in page.html
    assert "1. one\n2. two" in page.html
    assert "<blockquote>A quote</blockquote>" in page.html
    assert "<b>A subheading</b>" in page.html
    parse_html(page.html)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Intro first\n\n## Page\n\nText", "text before the first '## ' heading"),
        ("# Title\n\n## Page\n\nText", "use '## ' for page headings"),
        ("## Page\n\n![a photo](https://x.org/p.png)", "images are not supported"),
        ("## Page\n\n<div>block</div>", "HTML blocks are not supported"),
        ("## Page\n\nA <font>tag</font>", "unsupported HTML"),
        ("## Page\n\nA <b>bold start", "unsupported HTML '<b>'; use Markdown"),
        ("## Page\n\n[relative](/page)", "must be a full address"),
        ("## Page\n\n---\n\nMore", "horizontal rules are not supported"),
        ("## Empty page\n\n## Next\n\nText", "this page is empty"),
        ("Just text, no headings", "text before the first '## ' heading"),
        ("", "no pages"),
    ],
)
def test_unsupported_markdown_is_a_problem_with_its_line(body: str, message: str) -> None:
    """Each construct Telegram cannot show is reported, never silently dropped."""
    out = render(body, 10, 4000)
    assert any(message in text for _, text in out.problems), out.problems
    assert all(line > 10 for line, _ in out.problems)


def test_long_section_is_split_at_paragraphs_under_the_same_heading() -> None:
    """A section longer than a page becomes several pages, each whole paragraphs."""
    paragraph = "Sex workers' rights are human rights. " * 20  # ~760 characters
    body = "## Long section\n\n" + "\n\n".join(f"{i}. {paragraph}" for i in range(12))
    out = render(body.replace(". Sex", " sex"), 0, 2000)
    assert out.problems == []
    assert len(out.pages) > 3
    for page in out.pages:
        assert page.html.startswith("<b>Long section</b>\n\n")
        assert utf16_len(parse_html(page.html)) <= 2000


def test_lists_split_between_items_and_emoji_count_twice() -> None:
    """Telegram counts UTF-16 units: a page of emoji fills up twice as fast."""
    items = "\n".join(f"- item {i} " + "🙂" * 100 for i in range(30))
    out = render("## Emoji\n\n" + items, 0, 1000)
    assert out.problems == []
    assert len(out.pages) >= 6
    for page in out.pages:
        assert utf16_len(parse_html(page.html)) <= 1000
        assert "\n\n• item" in page.html  # a page opens with a whole item after the heading


def test_paragraph_too_long_for_any_page_is_a_problem() -> None:
    """A single paragraph over the limit cannot be split at a paragraph boundary."""
    out = render("## Page\n\n" + "word " * 1000, 4, 3000)
    assert out.pages == []
    ((line, message),) = out.problems
    assert line == 7 and "break it into shorter paragraphs" in message


texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1
).filter(lambda s: s.strip())
STYLES = ["", "**", "*", "`", "- ", "> ", "1. ", "[", "<b>", "<i>", "<u>", "### "]


def styled(text: str, style: str) -> str:
    line = " ".join(text.split())
    if style in ("**", "*", "`"):
        return f"{style}{line}{style}"
    if style == "[":
        return f"[{line}](https://www.nswp.org/?q=1&r=<2>)"
    if style.startswith("<"):
        return f"{style}{line}</{style[1:]}"
    return style + line


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    paragraphs=st.lists(st.tuples(texts, st.sampled_from(STYLES)), max_size=8),
    budget=st.integers(min_value=200, max_value=4000),
)
def test_any_markdown_renders_valid_html_within_budget_or_reports(
    paragraphs: list[tuple[str, str]], budget: int
) -> None:
    """R15/R16: any text (<>&, RTL, emoji, raw tags) gives valid pages that fit, or a problem.

    The page's text, as Telegram will count it, must be exactly what the renderer measured.
    """
    body = "## Heading\n\n" + "\n\n".join(styled(t, s) for t, s in paragraphs)
    out = render(body, 0, budget)
    assert len(out.pages) == len(out.text)
    for page, text in zip(out.pages, out.text, strict=True):
        assert parse_html(page.html) == text
        assert utf16_len(text) <= budget


# -- loading ------------------------------------------------------------------------------------
def copy_seed(tmp_path: Path) -> Path:
    target = tmp_path / "guides"
    shutil.copytree(GUIDES, target)
    return target


def test_missing_language_falls_back_to_english(tmp_path: Path) -> None:
    """A guide without a Russian file serves English to Russian readers."""
    guides = copy_seed(tmp_path)
    (guides / "swit" / "ru.md").unlink()
    library = load_library(guides)
    swit = library.get("swit")
    assert swit is not None and not swit.has("ru")
    assert swit.version("ru").language == "en"
    assert swit.source_url("ru") == swit.source_url("en")


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    """Start-up refuses with the whole list, not only the first problem (R19)."""
    guides = copy_seed(tmp_path)
    meta = guides / "swit" / "guide.yaml"
    meta.write_text(meta.read_text().replace("kind: smart", "kind: handbook"))
    (guides / "cedaw" / "en.md").unlink()
    with pytest.raises(ContentError) as caught:
        load_library(guides)
    messages = [str(p) for p in caught.value.problems]
    assert any("swit/guide.yaml:1: unknown kind 'handbook'" in m for m in messages)
    assert any("cedaw/en.md:1: missing" in m for m in messages)


def test_folders_of_other_features_are_left_alone(tmp_path: Path) -> None:
    """`services/` and top-level YAML files belong to the directory, not to the guides."""
    library, problems = inspect(copy_seed(tmp_path))
    assert problems == [] and library is not None
    assert library.get("services") is None


def test_page_budget_leaves_room_for_the_screen() -> None:
    """The title line, the notice and the footer always fit beside a full page."""
    title = "T" * 150
    assert page_budget(title) + 150 + NOTICE_MAX + 48 + 6 <= TEXT_LIMIT


async def test_reload_swaps_only_when_valid(tmp_path: Path) -> None:
    """A broken file leaves the old library in place; a good edit replaces it whole."""
    guides = copy_seed(tmp_path)
    holder = LibraryHolder.load(guides)
    before = holder.current
    en = guides / "swit" / "en.md"
    original = en.read_text()
    en.write_text(original.replace("## ", "<b>## ", 1))
    with pytest.raises(ContentError):
        await holder.reload()
    assert holder.current is before
    en.write_text(original.replace('title: "', 'title: "Updated: ', 1))
    after = await holder.reload()
    assert holder.current is after is not before
    swit = after.get("swit")
    assert swit is not None and swit.version("en").title.startswith("Updated: ")


def warmed(cache: RenderCache) -> RenderCache:
    """Pages the seed already rendered in this process (the cache is keyed by content)."""
    cache.entries.update(SHARED.entries)
    return cache


def test_render_cache_survives_a_restart_and_notices_edits(tmp_path: Path) -> None:
    """A restart reads rendered pages from the cache file; an edited file is rendered anew."""
    guides = copy_seed(tmp_path)
    cache_file = tmp_path / "cache" / "guides.json"
    cache = warmed(RenderCache(cache_file))
    first = load_library(guides, cache)
    cache.save()
    assert cache_file.exists()
    restarted = RenderCache(cache_file)
    assert len(restarted.entries) == first.version_count
    again = load_library(guides, restarted)
    assert [g.versions for g in again.guides] == [g.versions for g in first.guides]
    assert again.search("数字安全", 3) == first.search("数字安全", 3)
    en = guides / "swit" / "en.md"
    en.write_text(en.read_text().replace("## ", "## Changed: ", 1))
    edited = LibraryHolder.load(guides, cache_file).current
    swit = edited.get("swit")
    assert swit is not None and swit.version("en").pages[0].heading.startswith("Changed: ")


@pytest.mark.parametrize("damage", ["{not json", '{"version": "old", "entries": {}}', "[]"])
def test_a_damaged_or_stale_cache_is_ignored(tmp_path: Path, damage: str) -> None:
    """The cache is only a shortcut: anything odd in it is ignored and rewritten."""
    guides = copy_seed(tmp_path)
    cache_file = tmp_path / "guides.json"
    cache_file.write_text(damage)
    cache = warmed(RenderCache(cache_file))
    library = load_library(guides, cache)
    cache.save()
    assert library.version_count == SEED.version_count
    assert json.loads(cache_file.read_text())["version"] == RenderCache().version


def test_cache_entries_are_checked_like_files(tmp_path: Path) -> None:
    """A broken file cached as broken is still reported after a restart."""
    guides = copy_seed(tmp_path)
    (guides / "swit" / "en.md").write_text("no front matter")
    cache_file = tmp_path / "guides.json"
    for _ in range(2):
        with pytest.raises(ContentError) as caught:
            LibraryHolder.load(guides, cache_file)
        assert "missing front matter" in str(caught.value.problems[0])


# -- search -------------------------------------------------------------------------------------
def slugs(library: Library, query: str, limit: int = 5) -> list[str]:
    return [g.slug for g in library.search(query, limit)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("decriminalisation", "decriminalisation"),
        ("Decriminalization", "decriminalisation"),  # US spelling: one letter off
        ("decriminalsation", "decriminalisation"),  # a typo
        ("descriminalización", "decriminalisation"),  # Spanish, accent
        ("sécurité numérique", "digital-security"),
        ("securite numerique", "digital-security"),  # accents left out
        ("цифровая безопасность", "digital-security"),
        ("цифровая безопастность", "digital-security"),  # Russian typo
        ("数字安全", "digital-security"),  # Chinese without spaces
        ("全球基金", "global-fund"),
        ("young", "young-sex-workers"),
        ("CEDAW", "cedaw"),
    ],
)
def test_search_tolerates_accents_typos_and_scripts(query: str, expected: str) -> None:
    """Titles, summaries and bodies in every language; the right guide ranks near the top."""
    found = slugs(SEED, query)
    assert any(expected in slug for slug in found[:3]), found


def test_search_ranks_title_matches_first() -> None:
    """A word in a guide's title beats the same word in another guide's body."""
    assert slugs(SEED, "third parties")[0] == "third-parties"
    assert slugs(SEED, "covid")[0] in {"covid-19", "covid-19-community"}  # both titles say it


@pytest.mark.parametrize("query", ["", "   ", "zzqxv", "!!!", "🙂"])
def test_search_with_nothing_to_find(query: str) -> None:
    """Empty, junk or emoji-only queries find nothing and never fail."""
    assert SEED.search(query) == []


def test_tokens_cut_chinese_into_pairs_and_fold_accents() -> None:
    """Chinese has no spaces: overlapping character pairs; accents and case fold away."""
    assert tokens("数字安全") == ["数字", "字安", "安全"]
    assert tokens("Sécurité Ёлка") == ["securite", "елка"]
    assert normalise("ÉCOLE") == "ecole"
