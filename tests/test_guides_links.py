"""Issue 14 item 2: per-language source links (bot/guides/links.py), as `guides check` enforces
them and as a member sees them ("Full document" says when the document opens in English).

Finding (content review, section 1, "Across all guides"): every source_url had only English, so
French, Spanish, Russian and Chinese readers were sent to English pages without being told.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.__main__ import main
from bot.config import LANGUAGES, PROJECT_ROOT
from bot.guides import LibraryHolder
from bot.guides.handlers import GuideCard, GuideList
from bot.guides.links import IN_ENGLISH, is_listing, language_path, page_key
from tests.fakes import Chat
from tests.seed import seed_library
from tests.test_guides_flows import (  # noqa: F401  (fixtures)
    guide,
    holder,
    press,
    settings,
    url_buttons,
)

GUIDES = PROJECT_ROOT / "guides"
SEED = seed_library()


def staged(tmp_path: Path) -> Path:
    target = tmp_path / "guides"
    shutil.copytree(GUIDES, target)
    return target


def check_output(target: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["guides", "--dir", str(target), "check"])
    return code, capsys.readouterr().out


def without_block(text: str, key: str) -> str:
    """`text` without the top-level `key:` mapping (so a test can write its own)."""
    out, skipping = [], False
    for line in text.splitlines():
        if line.startswith(f"{key}:"):
            skipping = True
            continue
        if skipping and line.startswith((" ", "#")):
            continue
        skipping = False
        out.append(line)
    return "\n".join(out) + "\n"


def line_of(text: str, start: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(start))


# -- what the member sees -----------------------------------------------------------------------
async def test_review_english_only_links_say_the_document_opens_in_english(
    new_chat: Any,
    holder: LibraryHolder,  # noqa: F811
) -> None:
    """A Spanish reader gets the Spanish page as "Full document"; a Russian reader, for whom
    the statement has no Russian page (`ru: en`), is told the document is in English."""
    statement = guide(holder, "consensus-statement")
    assert not statement.source_in_english("es") and statement.source_in_english("ru")
    chat_es: Chat = new_chat("es")
    await chat_es.say("/guides")
    await press(chat_es, GuideList(by="k", key="statement").pack())
    await press(chat_es, GuideCard(s="consensus-statement").pack())
    assert url_buttons(chat_es)["📄 Documento completo"] == statement.source_url("es")
    chat_ru: Chat = new_chat("ru")
    await chat_ru.say("/start g-consensus-statement")
    buttons = url_buttons(chat_ru)
    assert buttons["📄 Полный документ (на английском)"] == statement.source_url("en")
    chat_en: Chat = new_chat("en")
    await chat_en.say("/start g-consensus-statement")
    assert url_buttons(chat_en)["📄 Full document"] == statement.source_url("en")


# -- the seed follows the rule ------------------------------------------------------------------
def test_every_language_file_has_its_own_page_or_says_english() -> None:
    """Rule 1, read from the files themselves: a line per language file, a URL or `en`."""
    for path in sorted(GUIDES.glob("*/guide.yaml")):
        meta = yaml.safe_load(path.read_text(encoding="utf-8"))
        files = {p.stem for p in path.parent.glob("*.md") if p.stem in LANGUAGES}
        assert files <= set(meta["source_url"]), path
        for language, url in meta["source_url"].items():
            if url == IN_ENGLISH:
                assert language != "en", path
                continue
            assert url.startswith("https://"), (path, language)
            found = language_path(url)  # a site's language section, if the address has one
            expected = {"en": "", "zh": "zh-hans"}.get(language, language)
            assert found in ("", expected), (path, language, url)


def test_seed_own_pages_belong_to_one_guide_each() -> None:
    """Rule 4 on the seed: a publication's own page (not a listing) is linked by one guide."""
    owners: dict[str, str] = {}
    for guide_ in SEED.guides:
        for url in set(guide_.source_urls.values()):
            if is_listing(url):
                continue
            key = page_key(url)
            assert owners.setdefault(key, guide_.slug) == guide_.slug, (url, owners[key])


# -- `guides check` on real mistakes ------------------------------------------------------------
def test_check_catches_silent_english_wrong_language_and_missing_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each real mistake gives `path:line: message` at the offending line."""
    target = staged(tmp_path)
    meta = target / "travel-restrictions" / "guide.yaml"
    text = meta.read_text()
    english = yaml.safe_load(text)["source_url"]["en"]
    french = yaml.safe_load(text)["source_url"]["fr"]
    # The English address copied under es: must be `es: en` instead.
    meta.write_text(text.replace("  es: en\n", f"  es: {english}\n"))
    code, out = check_output(target, capsys)
    line = line_of(meta.read_text(), "  es:")
    assert code == 1
    assert f"travel-restrictions/guide.yaml:{line}: source_url.es: the English address" in out
    # The French page under ru.
    ru = line_of(text, "  ru:")
    wrong = "\n".join(
        f"  ru: {french}" if n == ru else x for n, x in enumerate(text.splitlines(), 1)
    )
    meta.write_text(wrong + "\n")
    out = check_output(target, capsys)[1]
    assert f"guide.yaml:{ru}: source_url.ru: a page in another language (/fr/)" in out
    # A language file without its line.
    meta.write_text(text.replace("  zh: en\n", ""))
    out = check_output(target, capsys)[1]
    assert "source_url.zh: missing: the Chinese page of this publication, or 'zh: en'" in out
    # `en: en` is no address.
    meta.write_text(text.replace(f"  en: {english}\n", "  en: en\n"))
    assert "source_url.en: not a web address" in check_output(target, capsys)[1]


def test_check_catches_another_publications_page_but_not_a_shared_listing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rule 4: the CEDAW guide pointing at the SWIT guide's page fails; two guides on one of
    the network's listings (a known gap, counted by `guides coverage`) do not."""
    target = staged(tmp_path)
    swit = yaml.safe_load((target / "swit" / "guide.yaml").read_text())["source_url"]["en"]
    meta = target / "cedaw" / "guide.yaml"
    text = meta.read_text()
    english = yaml.safe_load(text)["source_url"]["en"]
    meta.write_text(text.replace(f"  en: {english}\n", f"  en: {swit}\n"))
    code, out = check_output(target, capsys)
    assert code == 1
    swit_line = line_of((target / "swit" / "guide.yaml").read_text(), "  en:")
    assert (  # reported at the second guide in folder order, naming the first
        f"swit/guide.yaml:{swit_line}: source_url.en: the same page as the guide "
        "'cedaw' (source_url.en): link this publication's own page" in out
    )
    listing = "https://www.nswp.org/resources/types/nswp-smart-guides-249"
    assert is_listing(listing) and is_listing("https://www.nswp.org/fr/resources/tags/x")
    assert not is_listing(swit)
    meta.write_text(text.replace(f"  en: {english}\n", f"  en: {listing}\n"))
    other = target / "global-fund" / "guide.yaml"
    other_text = other.read_text()
    other_en = yaml.safe_load(other_text)["source_url"]["en"]
    other.write_text(other_text.replace(f"  en: {other_en}\n", f"  en: {listing}\n"))
    assert check_output(target, capsys)[0] == 0
    # Within one guide: the French page (not on the network's site) under es as well.
    statement = target / "consensus-statement" / "guide.yaml"
    st_text = statement.read_text()
    french = yaml.safe_load(st_text)["source_url"]["fr"]
    spanish = yaml.safe_load(st_text)["source_url"]["es"]
    statement.write_text(st_text.replace(f"  es: {spanish}\n", f"  es: {french}\n"))
    assert (
        f"consensus-statement/guide.yaml:{line_of(st_text, '  es:')}: source_url.es: the same "
        "page as source_url.fr: one of them is in the wrong language"
        in check_output(target, capsys)[1]
    )


def test_source_seen_names_only_own_pages_and_no_future_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = staged(tmp_path)
    meta = target / "cedaw" / "guide.yaml"
    text = without_block(meta.read_text(), "source_seen")
    meta.write_text(text + "source_seen:\n  en: 2999-01-01\n  ru: 2026-11-30\n")
    out = check_output(target, capsys)[1]
    total = len(text.splitlines())
    assert f"cedaw/guide.yaml:{total + 2}: source_seen.en: 2999-01-01 is after today" in out
    assert f"cedaw/guide.yaml:{total + 3}: source_seen.ru: no address of its own" in out


def test_coverage_counts_own_pages_listings_and_english(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["guides", "coverage"]) == 0
    out = capsys.readouterr().out
    for code in LANGUAGES:
        english = sum(g.source_in_english(code) for g in SEED.guides)
        assert f"\n{code}: " in out and f" listing, {english} in English" in out
