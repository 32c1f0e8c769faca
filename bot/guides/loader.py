"""Read and validate `guides/`: every problem is collected, with its file and line.

Layout: `guides/topics.yaml` (the topic vocabulary), then one folder per guide holding
`guide.yaml` (kind, topics, year, source_url, order, related) and `<lang>.md` per language (YAML
front matter: title, short_title, summary, review, reviewer, updated; then `## ` sections, one
page each). Folders
with neither file (the directory's `services/`) belong to other features and are skipped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field

from bot.config import LANGUAGES
from bot.guides import links
from bot.guides.compile import (
    FOOTER_MAX,
    NOTICE_MAX,
    PLACEHOLDER,
    SHARED,
    SLUG_MAX,
    SLUG_RE,
    RenderCache,
    Strict,
    page_budget,
    placeholder_problems,
    read_yaml,
    schema_problems,
)
from bot.guides.model import FALLBACK, KINDS, Guide, Library, Topic, Version
from bot.guides.search import Synonyms, normalise
from bot.problems import ContentError, Problem

__all__ = [
    "FOOTER_MAX",
    "NOTICE_MAX",
    "PLACEHOLDER",
    "SLUG_MAX",
    "SLUG_RE",
    "LibraryHolder",
    "inspect",
    "load_library",
    "page_budget",
]

GUIDE_FILE = "guide.yaml"
TOPICS_FILE = "topics.yaml"
SYNONYMS_FILE = "synonyms.yaml"


class Source(Strict):
    url: str
    seen: dt.date


class GuideMeta(Strict):
    kind: str
    topics: list[str] = Field(min_length=1)
    # The publication's year; `unknown` only with a `year_note` saying why (members see no year).
    year: Annotated[int, Field(ge=1985, le=2100)] | Literal["unknown"]
    year_note: str | None = Field(default=None, min_length=10)
    # Per language: the publication's own page, or `en` (no page in that language: members are
    # told it opens in English). Every language file needs a line (bot/guides/links.py).
    source_url: dict[str, str]
    source_seen: dict[str, dt.date] = Field(default_factory=dict)  # day each address was read
    order: int = 1000
    related: str | None = None  # the slug of the shorter or fuller guide on the same subject
    sources: list[Source] = Field(default_factory=list)  # where the facts come from


def valid_url(url: str) -> bool:
    """An address a member's phone can open: http(s), a host with a dot, no spaces."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = parts.hostname or ""
    return (
        parts.scheme in ("https", "http")
        and "." in host
        and not any(c.isspace() for c in url)
        and all(part for part in host.split("."))
    )


@dataclass
class _Draft:
    guide: Guide
    title_lines: dict[str, tuple[Path, int]]  # language -> (file, line of the title)
    terms: dict[str, tuple[str, str]]
    meta_path: Path
    related_line: int
    source_lines: dict[str, int]  # language -> line of its source_url entry
    source_url: dict[str, str]  # as written, with the `en` markers


class _Loader:
    def __init__(self, directory: Path, cache: RenderCache) -> None:
        self.directory = directory
        self.cache = cache
        self.keys: set[str] = set()  # cache entries this library uses
        self.problems: list[Problem] = []
        self._related_line = 1  # of the guide.yaml read last
        self._source_lines: dict[str, int] = {}  # of the guide.yaml read last

    def problem(self, path: Path, line: int, message: str) -> None:
        self.problems.append(Problem(path, line, message))

    def topics(self) -> tuple[Topic, ...]:
        path = self.directory / TOPICS_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            self.problem(path, 1, "missing: the topic vocabulary is needed")
            return ()
        parsed = read_yaml(text, 1)
        if isinstance(parsed, tuple):
            self.problem(path, *parsed)
            return ()
        if not isinstance(parsed.data, dict):
            self.problem(path, 1, "expected topic ids, each with a name per language")
            return ()
        topics = []
        for topic_id, names in parsed.data.items():
            line = parsed.lines.get(str(topic_id), 1)
            if not isinstance(topic_id, str) or not SLUG_RE.match(topic_id) or len(topic_id) > 40:
                self.problem(path, line, f"topic id {topic_id!r}: use a-z, 0-9 and '-'")
                continue
            if not isinstance(names, dict) or not all(
                isinstance(v, str) and v.strip() for v in names.values()
            ):
                self.problem(path, line, f"topic '{topic_id}': expected a name per language")
                continue
            unknown = sorted(str(k) for k in names if k not in LANGUAGES)
            if unknown:
                self.problem(path, line, f"topic '{topic_id}': unknown language {unknown[0]!r}")
            if FALLBACK not in names:
                self.problem(path, line, f"topic '{topic_id}': the English name is missing")
                continue
            clean = {str(k): str(v).strip() for k, v in names.items() if k in LANGUAGES}
            topics.append(Topic(topic_id, MappingProxyType(clean)))
        return tuple(topics)

    def synonyms(self) -> dict[str, Synonyms]:
        """Hidden search words (optional file): `<section>: {word: [guide words]}`, where a
        section is a language or `<lang>-en` (English words for a query in that language)."""
        path = self.directory / SYNONYMS_FILE
        if not path.exists():
            return {}
        parsed = read_yaml(path.read_text(encoding="utf-8"), 1)
        if isinstance(parsed, tuple):
            self.problem(path, *parsed)
            return {}
        if not isinstance(parsed.data, dict):
            self.problem(path, 1, "expected a section per language: word: [guide words]")
            return {}
        sections = set(LANGUAGES) | {f"{code}-{FALLBACK}" for code in LANGUAGES}
        out: dict[str, Synonyms] = {}
        for section, table in parsed.data.items():
            line = parsed.lines.get(str(section), 1)
            if section not in sections:
                self.problem(path, line, f"unknown section {section!r}: a language or '<lang>-en'")
                continue
            if not isinstance(table, dict) or not all(
                isinstance(k, str)
                and isinstance(v, list)
                and v
                and all(isinstance(w, str) and w.strip() for w in v)
                for k, v in table.items()
            ):
                self.problem(path, line, f"{section}: expected word: [guide words, ...] lines")
                continue
            out[section] = MappingProxyType(
                {
                    " ".join(normalise(k).split()): tuple(str(w) for w in v)
                    for k, v in table.items()
                }
            )
        return out

    def guide_dirs(self) -> Iterator[Path]:
        for entry in sorted(self.directory.iterdir()):
            if not entry.is_dir() or entry.name.startswith("."):
                continue
            if (entry / GUIDE_FILE).exists() or any(entry.glob("*.md")):
                yield entry

    def guide(self, folder: Path, topic_ids: set[str]) -> _Draft | None:
        slug = folder.name
        meta_path = folder / GUIDE_FILE
        ok = True
        if not SLUG_RE.match(slug) or len(slug) > SLUG_MAX:
            self.problem(
                folder, 1, f"folder name {slug!r}: use a-z, 0-9 and '-', at most {SLUG_MAX}"
            )
            ok = False
        present = {p.stem for p in folder.glob("*.md") if p.stem in LANGUAGES}
        meta = self.guide_meta(meta_path, topic_ids, present)
        versions: dict[str, Version] = {}
        title_lines: dict[str, tuple[Path, int]] = {}
        terms: dict[str, tuple[str, str]] = {}
        for path in sorted(folder.glob("*.md")):
            language = path.stem
            if language not in LANGUAGES:
                self.problem(
                    path,
                    1,
                    f"unknown language file {path.name}: use one of "
                    + ", ".join(f"{code}.md" for code in LANGUAGES),
                )
                continue
            key, compiled = self.cache.compile(path.read_bytes())
            self.keys.add(key)
            for line, message in compiled.problems:
                self.problem(path, line, message)
            if compiled.problems or compiled.meta is None:
                ok = False
                continue
            versions[language] = Version(language, *compiled.meta, pages=compiled.pages)
            title_lines[language] = (path, compiled.lines.get("title", 2))
            terms[language] = compiled.terms
        if FALLBACK not in versions and not (folder / f"{FALLBACK}.md").exists():
            self.problem(folder / f"{FALLBACK}.md", 1, "missing: every guide needs English")
            ok = False
        if meta is None or not ok:
            return None
        guide = Guide(
            slug,
            meta.kind,
            tuple(meta.topics),
            None if meta.year == "unknown" else meta.year,
            meta.order,
            MappingProxyType(
                {k: v for k, v in meta.source_url.items() if v.strip() != links.IN_ENGLISH}
            ),
            MappingProxyType(dict(sorted(versions.items()))),
            meta.related,
        )
        return _Draft(
            guide,
            title_lines,
            terms,
            meta_path,
            self._related_line,
            self._source_lines,
            dict(meta.source_url),
        )

    def guide_meta(
        self, path: Path, topic_ids: set[str], languages: set[str] | None = None
    ) -> GuideMeta | None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            self.problem(path, 1, "missing: kind, topics and source_url go here")
            return None
        key, parsed = self.cache.read_yaml(text)
        self.keys.add(key)
        if isinstance(parsed, tuple):
            self.problem(path, *parsed)
            return None
        meta, problems = schema_problems(GuideMeta, parsed, 1)
        for line, message in problems + placeholder_problems(text):
            self.problem(path, line, message)
        if not isinstance(meta, GuideMeta):
            return None
        found = len(self.problems)
        lines = parsed.lines
        self._related_line = lines.get("related", 1)
        if meta.year == "unknown" and not meta.year_note:
            self.problem(
                path, lines["year"], "year: unknown needs a year_note saying why it is not known"
            )
        if meta.year != "unknown" and meta.year_note:
            self.problem(path, lines["year_note"], "year_note: only with year: unknown")
        if meta.kind not in KINDS:
            self.problem(
                path, lines["kind"], f"unknown kind {meta.kind!r}: use {' or '.join(KINDS)}"
            )
        for topic in meta.topics:
            if topic not in topic_ids:
                self.problem(path, lines["topics"], f"unknown topic {topic!r}: see {TOPICS_FILE}")
        url_lines = links.key_lines(text, lines["source_url"])
        self._source_lines = {k: url_lines.get(k, lines["source_url"]) for k in meta.source_url}
        for language, url in meta.source_url.items():
            if language not in LANGUAGES:
                self.problem(
                    path, lines["source_url"], f"source_url: unknown language {language!r}"
                )
            if not valid_url(url) and not (
                language != FALLBACK and url.strip() == links.IN_ENGLISH
            ):
                self.problem(
                    path,
                    self._source_lines[language],
                    f"source_url.{language}: not a web address (https://host.example/…)"
                    + ("" if language == FALLBACK else f", or '{language}: en'"),
                )
        seen_line = lines.get("source_seen", 1)
        for line, message in links.problems(
            meta.source_url,
            meta.source_seen,
            languages or (),
            self._source_lines,
            lines["source_url"],
            links.key_lines(text, seen_line) if "source_seen" in lines else {},
            seen_line,
            dt.date.today(),
        ):
            self.problem(path, line, message)
        for number, source in enumerate(meta.sources):
            if not valid_url(source.url):
                self.problem(path, lines["sources"], f"sources.{number}.url: not a web address")
        if FALLBACK not in meta.source_url:
            self.problem(path, lines["source_url"], "source_url: the English address is missing")
        return meta if len(self.problems) == found else None

    def duplicate_titles(self, drafts: list[_Draft]) -> None:
        seen: dict[tuple[str, str], str] = {}
        for draft in drafts:
            for language, version in draft.guide.versions.items():
                key = (language, normalise(version.title).strip())
                if key in seen:
                    path, line = draft.title_lines[language]
                    self.problem(
                        path, line, f"duplicate title: the guide '{seen[key]}' has the same title"
                    )
                else:
                    seen[key] = draft.guide.slug

    def short_titles(self, drafts: list[_Draft]) -> None:
        """Buttons must tell guides apart: a short title is unique in its language."""
        seen: dict[tuple[str, str], str] = {}
        for draft in drafts:
            for language, version in draft.guide.versions.items():
                if version.short_title == version.title:
                    continue  # a short title in full: duplicate_titles reports it
                key = (language, normalise(version.short_title).strip())
                if key in seen:
                    path, line = draft.title_lines[language]
                    self.problem(
                        path,
                        line,
                        f"duplicate short_title: the guide '{seen[key]}' has the same one",
                    )
                else:
                    seen[key] = draft.guide.slug

    def shared_sources(self, drafts: list[_Draft]) -> None:
        """No page is the source of two guides, or of two languages of one (links rule 4); no
        English page of a site with language sections behind another language (rule 3)."""
        every = [
            links.Link(d.guide.slug, language, url, d.source_lines.get(language, 1))
            for d in drafts
            for language, url in d.source_url.items()
        ]
        paths = {d.guide.slug: d.meta_path for d in drafts}
        for link, message in links.shared(every) + links.english_in_disguise(every):
            self.problem(paths[link.guide], link.line, message)

    def related(self, drafts: list[_Draft]) -> None:
        """`related` names another guide that exists, of another kind, on a shared topic."""
        by_slug = {d.guide.slug: d.guide for d in drafts}
        for draft in drafts:
            guide = draft.guide
            if guide.related is None:
                continue
            other = by_slug.get(guide.related)
            if other is None or other.slug == guide.slug:
                message = f"related: no other guide named {guide.related!r}"
            elif other.kind == guide.kind:
                message = f"related: '{other.slug}' is the same kind ({other.kind})"
            elif not set(other.topics) & set(guide.topics):
                message = f"related: '{other.slug}' shares no topic with this guide"
            else:
                continue
            self.problem(draft.meta_path, draft.related_line, message)

    def load(self) -> Library | None:
        if not self.directory.is_dir():
            self.problem(self.directory, 1, "no such folder")
            return None
        topics = self.topics()
        synonyms = self.synonyms()
        topic_ids = {t.id for t in topics}
        drafts = [d for folder in self.guide_dirs() if (d := self.guide(folder, topic_ids))]
        self.duplicate_titles(drafts)
        self.short_titles(drafts)
        self.shared_sources(drafts)
        self.related(drafts)
        if not drafts and not self.problems:
            self.problem(self.directory, 1, "no guides found")
        if self.problems:
            return None
        drafts.sort(key=lambda d: (d.guide.order, d.guide.slug))
        index = self.cache.index(
            [
                (position, _search_title(d.guide, version), version.summary, d.terms[language])
                for position, d in enumerate(drafts)
                for language, version in d.guide.versions.items()
            ]
        )
        return Library.create(tuple(d.guide for d in drafts), topics, index, synonyms)


def inspect(
    directory: Path, cache: RenderCache | None = None
) -> tuple[Library | None, list[Problem]]:
    """Load and validate; the library is None when anything is wrong."""
    loader = _Loader(directory, cache or SHARED)
    library = loader.load()
    if cache is not None:
        cache.keep_only(loader.keys)
    return library, sorted(loader.problems)


def load_library(directory: Path, cache: RenderCache | None = None) -> Library:
    library, problems = inspect(directory, cache)
    if library is None:
        raise ContentError(problems)
    return library


class LibraryHolder:
    """The library currently served; a reload swaps it whole, or not at all."""

    def __init__(self, library: Library, directory: Path, cache: RenderCache | None) -> None:
        self._current = library
        self.directory = directory
        self.cache = cache
        self._lock = asyncio.Lock()

    @classmethod
    def load(cls, directory: Path, cache_file: Path | None = None) -> LibraryHolder:
        """Load at start; `cache_file` keeps rendered pages for the next start."""
        cache = RenderCache(cache_file) if cache_file is not None else None
        try:
            return cls(load_library(directory, cache), directory, cache)
        finally:
            if cache is not None:
                cache.save()

    @property
    def current(self) -> Library:
        return self._current

    async def reload(self) -> Library:
        """Re-read and validate; raises ContentError and keeps the old library on failure."""
        async with self._lock:
            try:
                library = await asyncio.to_thread(load_library, self.directory, self.cache)
                self._current = library  # one reference assignment: readers see old or new
            finally:
                if self.cache is not None:  # after the swap: members need not wait for it
                    await asyncio.to_thread(self.cache.save)
            return library


def _search_title(guide: Guide, version: Version) -> str:
    # The English version also answers to the slug's words ("digital-security").
    if version.language == FALLBACK:
        return f"{version.title} {guide.slug.replace('-', ' ')}"
    return version.title
