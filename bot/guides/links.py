"""Per-language source links (`source_url` in guide.yaml): the rule `guides check` enforces.

1. Every language the guide has a file for (`<lang>.md`) has a line under `source_url`: the
   publication's own page in that language, or `en` when there is none, so the member's
   "Full document" button says it opens in English. A missing line is a problem: nobody decided.
2. A language line never silently repeats the English address: that is what `en` is for.
3. An address in a site's language section matches its line: `fr` under `/fr/`, `zh` under
   `/zh-hans/` (or `/zh/`), `en` under none; a French page behind the Russian line is a mistake.
   On a site whose language sections the library uses, a non-English line on the English page's
   site but outside any language section is an English page in disguise.
4. One publication page is the source of one guide only: a page shared by two guides belongs to
   another publication, and members would open the wrong document. Within a guide, two languages
   never share one page either (one of them is in the wrong language). Listings (`/resources/…`,
   `/tags/…`, `/taxonomy/…`, `/page/…`, in any language section) describe several publications and
   are used where a publication's own page was not found; they are exempt, and `guides coverage`
   counts them so they can be replaced.
5. `source_seen` (optional) gives the day each own-language address was read; it names only
   languages with their own address, and no day after today.

No site is named here: the rule reads the addresses themselves (the organisation's name stays
out of the code, see tests/test_privacy_branding.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

IN_ENGLISH = "en"  # the marker: this language has no page of its own; the English one is used
# Language sections as sites write them (`/fr/…`, `/zh-hans/…`); English pages have none.
LANGUAGE_PATHS = {
    "fr": ("fr",),
    "es": ("es",),
    "ru": ("ru",),
    "zh": ("zh-hans", "zh"),
    "ar": ("ar",),
}
SECTIONS = {section: code for code, sections in LANGUAGE_PATHS.items() for section in sections}
NAMES = {"fr": "French", "es": "Spanish", "ru": "Russian", "zh": "Chinese", "ar": "Arabic"}


@dataclass(frozen=True, slots=True)
class Link:
    guide: str
    language: str
    url: str
    line: int


def key_lines(text: str, block_line: int) -> dict[str, int]:
    """Line of each `<key>:` directly under the mapping that starts at `block_line` (1-based).

    The cached parse keeps only top-level lines, so nested ones are read from the text."""
    out: dict[str, int] = {}
    lines = text.splitlines()
    indent: int | None = None
    for number in range(block_line + 1, len(lines) + 1):
        raw = lines[number - 1]
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        width = len(raw) - len(raw.lstrip())
        if width == 0:
            break
        if indent is None:
            indent = width
        if width == indent and ":" in stripped:
            out[stripped.split(":", 1)[0].strip().strip("'\"")] = number
    return out


def site(url: str) -> str:
    """A site however its address is written: case and a leading `www.` aside."""
    host = (urlsplit(url.strip()).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


def page_key(url: str) -> str:
    """One page however it is written: scheme, `www.`, case and end slash aside."""
    parts = urlsplit(url.strip())
    query = f"?{parts.query}" if parts.query else ""
    return f"{site(url)}{parts.path.rstrip('/').lower()}{query}"


def language_path(url: str) -> str:
    """The address's language section (`fr`, `zh-hans`), or '' outside any."""
    first = urlsplit(url.strip()).path.strip("/").split("/", 1)[0].lower()
    return first if first in SECTIONS else ""


LISTINGS = ("resources", "tags", "taxonomy", "page")


def is_listing(url: str) -> bool:
    """A listing of several publications (a filter, tag or index page), in any section."""
    steps = [step for step in urlsplit(url.strip()).path.lower().split("/") if step]
    if steps and steps[0] in SECTIONS:
        steps = steps[1:]
    return not steps or steps[0] in LISTINGS


def problems(
    source_url: Mapping[str, str],
    source_seen: Mapping[str, dt.date],
    languages: Iterable[str],
    lines: Mapping[str, int],
    block_line: int,
    seen_lines: Mapping[str, int],
    seen_line: int,
    today: dt.date,
) -> list[tuple[int, str]]:
    """Rules 1, 2, 3 and 5 for one guide.yaml, as (line, message)."""
    out: list[tuple[int, str]] = []
    english = source_url.get(IN_ENGLISH)
    for language in sorted(set(languages) - set(source_url) - {IN_ENGLISH}):
        name = NAMES.get(language, language)
        out.append(
            (
                block_line,
                f"source_url.{language}: missing: the {name} page of this publication, or "
                f"'{language}: en' if it has none (members are told it opens in English)",
            )
        )
    for language, url in source_url.items():
        line = lines.get(language, block_line)
        if language == IN_ENGLISH:  # `en: en` is not a web address: the loader says so
            if language_path(url):
                out.append(
                    (
                        line,
                        f"source_url.en: a page in another language (/{language_path(url)}/): "
                        "give the English page",
                    )
                )
            continue
        if url.strip() == IN_ENGLISH:
            continue
        if english and english != IN_ENGLISH and page_key(url) == page_key(english):
            out.append(
                (
                    line,
                    f"source_url.{language}: the English address: write '{language}: en' so "
                    "members are told it opens in English",
                )
            )
            continue
        found = language_path(url)
        expected = LANGUAGE_PATHS.get(language, ())
        if found and found not in expected:
            out.append(
                (
                    line,
                    f"source_url.{language}: a page in another language (/{found}/): give the "
                    f"/{expected[0] if expected else language}/ page, or '{language}: en'",
                )
            )
    for language, day in source_seen.items():
        line = seen_lines.get(language, seen_line)
        url = source_url.get(language, "").strip()
        if not url or (url == IN_ENGLISH and language != IN_ENGLISH):
            out.append((line, f"source_seen.{language}: no address of its own under source_url"))
        elif day > today:
            out.append((line, f"source_seen.{language}: {day.isoformat()} is after today"))
    return out


def shared(links: Iterable[Link]) -> list[tuple[Link, str]]:
    """Rule 4: an address given by two guides (reported at the second, naming the first)."""
    first: dict[str, Link] = {}
    out: list[tuple[Link, str]] = []
    for link in links:
        if link.url.strip() == IN_ENGLISH or is_listing(link.url):
            continue
        key = page_key(link.url)
        earlier = first.get(key)
        if earlier is None:
            first[key] = link
        elif earlier.guide != link.guide:
            out.append(
                (
                    link,
                    f"source_url.{link.language}: the same page as the guide '{earlier.guide}' "
                    f"(source_url.{earlier.language}): link this publication's own page",
                )
            )
        elif IN_ENGLISH not in (earlier.language, link.language):  # English: rule 2 says it
            out.append(
                (
                    link,
                    f"source_url.{link.language}: the same page as source_url.{earlier.language}:"
                    " one of them is in the wrong language",
                )
            )
    return out


def english_in_disguise(links: Iterable[Link]) -> list[tuple[Link, str]]:
    """Rule 3, across the library: a non-English line on a site whose language sections the
    library uses, but outside any section, points at that site's English page."""
    every = [link for link in links if link.url.strip() != IN_ENGLISH]
    sectioned = {site(link.url) for link in every if language_path(link.url)}
    return [
        (
            link,
            f"source_url.{link.language}: an English page of {site(link.url)} (outside its "
            f"language sections): give the /{LANGUAGE_PATHS[link.language][0]}/ page, or "
            f"'{link.language}: en'",
        )
        for link in every
        if link.language != IN_ENGLISH
        and link.language in LANGUAGE_PATHS
        and site(link.url) in sectioned
        and not language_path(link.url)
    ]
