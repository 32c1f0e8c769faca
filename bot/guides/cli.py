"""Maintainer commands: `python -m bot guides check | coverage | new <slug>`."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import yaml
from babel.messages.pofile import read_po

from bot.config import LANGUAGES, Settings
from bot.guides import glossary, links, publications
from bot.guides.loader import GUIDE_FILE, PLACEHOLDER, SLUG_MAX, SLUG_RE, inspect
from bot.guides.model import FALLBACK, Guide
from bot.problems import Problem


def shown(path: Path) -> str:
    """A path as the maintainer typed it: relative to the working folder when inside it."""
    absolute = path.absolute()
    return str(absolute.relative_to(Path.cwd()) if absolute.is_relative_to(Path.cwd()) else path)


def directory_check() -> Callable[[Path], list[Problem]] | None:
    """The services directory lives in the same folder; its checks run here too."""
    try:
        from bot.directory import model as directory
    except ImportError:  # the directory feature is optional
        return None
    return directory.check


def answers_check() -> Callable[[Path], list[Problem]] | None:
    """The secretariat's shared saved answers (guides/answers/) are content too (bot/desk)."""
    try:
        from bot.desk import answers
    except ImportError:  # the desk feature is optional
        return None
    return answers.check


def check(guides_dir: Path, locales_dir: Path | None = None) -> int:
    library, problems = inspect(guides_dir)
    # One voice: the glossary of each language, on the guides and on the UI catalogs.
    problems = problems + glossary.check(guides_dir, locales_dir or guides_dir / "no-locales")
    check_directory = directory_check()
    if check_directory is not None:
        problems = problems + check_directory(guides_dir)
    check_answers = answers_check()
    if check_answers is not None:
        problems = problems + check_answers(guides_dir)
    # The publication catalogue: every publication the network lists, and the guide for each.
    problems = problems + publications.check(guides_dir, library)
    problems = sorted(problems)
    for p in problems:
        print(f"{shown(p.path)}:{p.line}: {p.message}")
    if problems or library is None:
        print(f"{len(problems)} problem(s) found.", file=sys.stderr)
        return 1
    print(
        f"OK: {len(library.guides)} guides, {library.version_count} language versions and "
        f"{len(library.topics)} topics"
        + (", and the services directory," if check_directory is not None else "")
        + " are valid."
    )
    return 0


def catalog_share(locales_dir: Path, language: str) -> tuple[int, int] | None:
    """(translated, total) messages in a language's catalog, or None when there is none."""
    path = locales_dir / language / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return None
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    total = translated = 0
    for message in catalog:
        if not message.id:
            continue
        total += 1
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        translated += bool(all(strings) and not message.fuzzy)
    return translated, total


def _cell(guide: Guide, language: str) -> str:
    version = guide.versions.get(language)
    if version is None:
        return "missing"
    return "reviewed" if version.reviewed else "draft"


def source_counts(guides: Iterable[Guide], language: str) -> tuple[int, int, int]:
    """Guides whose `language` link is a publication's own page, a listing, or English."""
    own = listing = english = 0
    for guide in guides:
        if guide.source_in_english(language):
            english += 1
        elif links.is_listing(guide.source_url(language)):
            listing += 1
        else:
            own += 1
    return own, listing, english


def coverage(guides_dir: Path, locales_dir: Path) -> int:
    library, problems = inspect(guides_dir)
    if library is None:
        for p in problems:
            print(f"{shown(p.path)}:{p.line}: {p.message}")
        print("Fix these first (see `python -m bot guides check`).", file=sys.stderr)
        return 1
    width = max(len(g.slug) for g in library.guides)
    print(f"{'guide':<{width}}  " + "  ".join(f"{code:<8}" for code in LANGUAGES))
    for guide in library.guides:
        cells = "  ".join(f"{_cell(guide, code):<8}" for code in LANGUAGES)
        print(f"{guide.slug:<{width}}  {cells}")
    print()
    for code in LANGUAGES:
        reviewed = sum(_cell(g, code) == "reviewed" for g in library.guides)
        draft = sum(_cell(g, code) == "draft" for g in library.guides)
        print(
            f"{code}: guides {reviewed} reviewed, {draft} draft, "
            f"{len(library.guides) - reviewed - draft} missing"
        )
    print()
    print("Source links (guide.yaml source_url): own page / listing / in English:")
    for code in LANGUAGES:
        own, listing, english = source_counts(library.guides, code)
        print(f"{code}: {own} own page, {listing} listing, {english} in English")
    print()
    print("Interface catalogs (locales/<lang>/LC_MESSAGES/messages.po):")
    for code in LANGUAGES:
        share = catalog_share(locales_dir, code)
        if code == FALLBACK:
            print(f"{code}: the source language ({share[1] if share else 0} messages)")
            continue
        if share is None:
            print(f"{code}: no catalog")
            continue
        done, total = share
        percent = 100 * done // total if total else 100
        print(f"{code}: {done}/{total} messages translated ({percent}%)")
    for line in publications.coverage(guides_dir, library) or ():
        print(line)
    return 0


GUIDE_TEMPLATE = """\
kind: community  # smart | community
topics: [{topic}]  # ids from topics.yaml
year: {year}
source_url:  # per language: the publication's own page, or `en` (it opens in English)
  en: https://www.nswp.org/{placeholder}
  fr: en
  es: en
  ru: en
  zh: en
  ar: en
order: {order}
"""

VERSION_TEMPLATE = """\
---
title: "{placeholder}: title in {language}"
summary: "{placeholder}: one or two sentences, at most 300 characters."
review: draft
updated: {today}
---

## {placeholder}: first page heading

{placeholder}: short paragraphs. Each '## ' heading starts a new page in the bot.

## {placeholder}: second page heading

- {placeholder}: a list item
"""


def new(guides_dir: Path, slug: str) -> int:
    if not SLUG_RE.match(slug) or len(slug) > SLUG_MAX:
        print(
            f"Invalid name {slug!r}: use lowercase a-z, 0-9 and '-', at most {SLUG_MAX} "
            "characters (for example: social-protection).",
            file=sys.stderr,
        )
        return 1
    folder = guides_dir / slug
    if folder.exists():
        print(f"{shown(folder)} already exists; pick another name.", file=sys.stderr)
        return 1
    topics = yaml.safe_load((guides_dir / "topics.yaml").read_text(encoding="utf-8")) or {}
    orders = []
    for meta in guides_dir.glob(f"*/{GUIDE_FILE}"):
        try:
            data = yaml.safe_load(meta.read_text(encoding="utf-8"))
            orders.append(int(data.get("order", 0)))
        except (yaml.YAMLError, AttributeError, TypeError, ValueError):
            continue
    folder.mkdir(parents=True)
    (folder / GUIDE_FILE).write_text(
        GUIDE_TEMPLATE.format(
            topic=next(iter(topics), "rights"),
            year=dt.date.today().year,
            order=max(orders, default=0) + 10,
            placeholder=PLACEHOLDER,
        ),
        encoding="utf-8",
    )
    for code in LANGUAGES:
        (folder / f"{code}.md").write_text(
            VERSION_TEMPLATE.format(
                placeholder=PLACEHOLDER, language=code, today=dt.date.today().isoformat()
            ),
            encoding="utf-8",
        )
    print(
        f"Created {shown(folder)}/ with {GUIDE_FILE} and "
        + ", ".join(f"{code}.md" for code in LANGUAGES)
        + "."
    )
    print(
        f"Replace every '{PLACEHOLDER}', delete the language files you have no translation for "
        f"(members then get {FALLBACK}.md), add the publication it covers to "
        f"{publications.CATALOGUE_FILE}, and run `python -m bot guides check`."
    )
    return 0


def run_guides_command(args: argparse.Namespace, settings: Settings) -> int:
    guides_dir: Path = args.dir or settings.guides_dir
    if args.guides_command == "check":
        return check(guides_dir, settings.locales_dir)
    if args.guides_command == "coverage":
        return coverage(guides_dir, settings.locales_dir)
    return new(guides_dir, args.slug)
