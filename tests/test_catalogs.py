"""Every UI string is translated in every catalog; no fuzzy entries; placeholders survive."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.config import LANGUAGES, PROJECT_ROOT

LOCALES = PROJECT_ROOT / "locales"
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
COUNTS = {"{n}", "{count}"}
TAG = re.compile(r"</?[a-z-]+>")


def catalog(lang: str):  # type: ignore[no-untyped-def]
    with (LOCALES / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def template_ids() -> set[str]:
    with (LOCALES / "messages.pot").open("rb") as fh:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}


@pytest.mark.parametrize("lang", [code for code in LANGUAGES if code != "en"])
def test_catalog_is_complete(lang: str) -> None:
    """No empty or fuzzy msgstr, the same placeholders and tags as the English."""
    problems = []
    cat = catalog(lang)
    ids = set()
    for message in cat:
        if not message.id:
            continue
        source = message.id if isinstance(message.id, str) else message.id[0]
        ids.add(source)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            problems.append(f"fuzzy: {source!r}")
        if not all(strings):
            problems.append(f"untranslated: {source!r}")
            continue
        wanted = set(PLACEHOLDER.findall(source))
        for s in strings:
            found = set(PLACEHOLDER.findall(s))
            # A plural form may spell its number out (Arabic "صفحتان", two pages): only the
            # count may be left out, and only in a plural entry.
            optional = COUNTS if isinstance(message.id, tuple) else set()
            if not (wanted - optional <= found <= wanted):
                problems.append(f"placeholders differ: {source!r}")
            if sorted(TAG.findall(s)) != sorted(TAG.findall(source)):
                problems.append(f"tags differ: {source!r}")
    missing = template_ids() - ids
    problems += [f"missing (run make locales): {m!r}" for m in sorted(missing)]
    assert not problems, "\n".join(problems)


def test_template_matches_the_code(tmp_path: Path) -> None:
    """locales/messages.pot is up to date with the strings in bot/ (run `make locales`)."""
    from babel.messages.extract import extract_from_dir

    found = {
        (m[2] if isinstance(m[2], str) else m[2][0])
        for m in extract_from_dir(
            str(PROJECT_ROOT / "bot"),
            keywords={"_": None, "ngettext": (1, 2), "lazy_gettext": None},
        )
    }
    stale = found - template_ids()
    assert not stale, f"strings missing from messages.pot (run make locales): {sorted(stale)}"
