"""Read and validate `guides/`: every problem is collected, with its file and line.

Layout: `guides/topics.yaml` (the topic vocabulary), then one folder per guide holding
`guide.yaml` (kind, topics, year, source_url, order) and `<lang>.md` per language (YAML front
matter: title, summary, review, reviewer, updated; then `## ` sections, one page each). Folders
with neither file (the directory's `services/`) belong to other features and are skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from pydantic import Field

from bot.config import LANGUAGES
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
from bot.guides.search import normalise
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


class GuideMeta(Strict):
    kind: str
    topics: list[str] = Field(min_length=1)
    year: int | None = Field(default=None, ge=1985, le=2100)
    source_url: dict[str, str]
    order: int = 1000


@dataclass
class _Draft:
    guide: Guide
    title_lines: dict[str, tuple[Path, int]]  # language -> (file, line of the title)
    terms: dict[str, tuple[str, str]]


class _Loader:
    def __init__(self, directory: Path, cache: RenderCache) -> None:
        self.directory = directory
        self.cache = cache
        self.keys: set[str] = set()  # cache entries this library uses
        self.problems: list[Problem] = []

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
        meta = self.guide_meta(meta_path, topic_ids)
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
            meta.year,
            meta.order,
            MappingProxyType(dict(meta.source_url)),
            MappingProxyType(dict(sorted(versions.items()))),
        )
        return _Draft(guide, title_lines, terms)

    def guide_meta(self, path: Path, topic_ids: set[str]) -> GuideMeta | None:
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
        if meta.kind not in KINDS:
            self.problem(
                path, lines["kind"], f"unknown kind {meta.kind!r}: use {' or '.join(KINDS)}"
            )
        for topic in meta.topics:
            if topic not in topic_ids:
                self.problem(path, lines["topics"], f"unknown topic {topic!r}: see {TOPICS_FILE}")
        for language, url in meta.source_url.items():
            if language not in LANGUAGES:
                self.problem(
                    path, lines["source_url"], f"source_url: unknown language {language!r}"
                )
            if not url.startswith(("https://", "http://")):
                self.problem(
                    path, lines["source_url"], f"source_url.{language}: not a web address"
                )
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

    def load(self) -> Library | None:
        if not self.directory.is_dir():
            self.problem(self.directory, 1, "no such folder")
            return None
        topics = self.topics()
        topic_ids = {t.id for t in topics}
        drafts = [d for folder in self.guide_dirs() if (d := self.guide(folder, topic_ids))]
        self.duplicate_titles(drafts)
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
        return Library.create(tuple(d.guide for d in drafts), topics, index)


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
