"""Read and validate `guides/`: every problem is collected, with its file and line.

Layout: `guides/topics.yaml` (the topic vocabulary), then one folder per guide holding
`guide.yaml` (kind, topics, year, source_url, order) and `<lang>.md` per language (YAML front
matter: title, summary, review, reviewer, updated; then `## ` sections, one page each). Folders
with neither file (the directory's `services/`) belong to other features and are skipped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import frontmatter.default_handlers
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.config import LANGUAGES
from bot.content.markdown import Page, render
from bot.content.model import FALLBACK, KINDS, Guide, Library, Topic, Version
from bot.content.search import SearchIndex, normalise
from bot.localapi import TEXT_LIMIT, utf16_len
from bot.problems import ContentError, Problem

GUIDE_FILE = "guide.yaml"
TOPICS_FILE = "topics.yaml"
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MAX = 40  # keeps callback data (prefix, slug, page) under Telegram's 64 bytes
TITLE_MAX = 150
SUMMARY_MAX = 300
# Room a reading screen needs beside the page: the title line, the one-line notice shown when a
# guide is not in the member's language (NOTICE_MAX), "page x / y" (FOOTER_MAX), blank lines.
NOTICE_MAX = 200
FOOTER_MAX = 48
SCREEN_RESERVE = NOTICE_MAX + FOOTER_MAX + 8
PLACEHOLDER = "TODO"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FRONT = frontmatter.default_handlers.YAMLHandler()


def page_budget(title: str) -> int:
    return TEXT_LIMIT - utf16_len(title) - 1 - SCREEN_RESERVE


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class GuideMeta(_Strict):
    kind: str
    topics: list[str] = Field(min_length=1)
    year: int | None = Field(default=None, ge=1985, le=2100)
    source_url: dict[str, str]
    order: int = 1000


class FrontMatter(_Strict):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    summary: str = Field(min_length=1)
    review: Literal["draft", "reviewed"]
    reviewer: str | None = Field(default=None, min_length=1, max_length=200)
    updated: dt.date


@dataclass
class _Yaml:
    data: Any = None
    lines: dict[str, int] = field(default_factory=dict)  # top-level key -> line


def _read_yaml(text: str, first_line: int) -> _Yaml | tuple[int, str]:
    """YAML with the line of each top-level key, or (line, message) if it does not parse."""
    loader = _YAML_LOADER(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        # An unclosed [list], {map} or quote is noticed lines later; point at where it opened.
        opened = exc.context_mark if exc.context and "block" not in exc.context else None
        mark = opened or exc.problem_mark or exc.context_mark
        line = first_line + (mark.line if mark else 0)
        context = f"{exc.context}: " if opened else ""
        return line, f"invalid YAML: {context}{exc.problem or exc.context}"
    except (yaml.YAMLError, ValueError) as exc:  # e.g. a date like 2024-13-45
        return first_line, f"invalid YAML: {exc}"
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, _value in node.value:
            if isinstance(key, yaml.ScalarNode):
                lines[str(key.value)] = first_line + key.start_mark.line
    return _Yaml(data, lines)


def _schema_problems(
    model: type[_Strict], parsed: _Yaml, first_line: int
) -> tuple[Any, list[tuple[int, str]]]:
    if not isinstance(parsed.data, dict):
        return None, [(first_line, "expected key: value lines")]
    try:
        return model.model_validate(parsed.data), []
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else ""
            line = parsed.lines.get(name, first_line)
            if err["type"] == "missing":
                out.append((line, f"missing field '{name}'"))
            elif err["type"] == "extra_forbidden":
                out.append((line, f"unknown field '{name}'"))
            else:
                where = ".".join(str(p) for p in err["loc"])
                out.append((line, f"{where}: {err['msg']}"))
        return None, out


@dataclass(frozen=True)
class _Compiled:
    """One language file, parsed and rendered; depends only on the file's text."""

    meta: FrontMatter | None
    pages: tuple[Page, ...]
    text: tuple[str, ...]  # pages without tags, for search
    lines: Mapping[str, int]
    problems: tuple[tuple[int, str], ...]


# Rendering dominates loading; a reload re-renders only files whose text changed.
_memo: dict[str, _Compiled] = {}
_memo_lock = threading.Lock()
MEMO_MAX = 20_000


def _compile(text: str) -> _Compiled:
    key = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    found = _memo.get(key)
    if found is not None:
        return found
    compiled = _compile_uncached(text)
    with _memo_lock:
        if len(_memo) >= MEMO_MAX:
            _memo.clear()
        _memo[key] = compiled
    return compiled


def clear_memo() -> None:
    with _memo_lock:
        _memo.clear()


def _compile_uncached(text: str) -> _Compiled:
    if not _FRONT.detect(text):
        return _Compiled(
            None, (), (), {}, ((1, "missing front matter: start the file with a '---' line"),)
        )
    try:
        front, body = _FRONT.split(text)
    except ValueError:
        return _Compiled(None, (), (), {}, ((1, "front matter is not closed by a '---' line"),))
    problems: list[tuple[int, str]] = []
    parsed = _read_yaml(front, 1)
    if isinstance(parsed, tuple):
        return _Compiled(None, (), (), {}, (parsed,))
    meta, problems = _schema_problems(FrontMatter, parsed, 2)
    lines = parsed.lines
    if isinstance(meta, FrontMatter):
        if len(meta.summary) > SUMMARY_MAX:
            problems.append(
                (
                    lines["summary"],
                    f"summary is {len(meta.summary)} characters; the limit is {SUMMARY_MAX}",
                )
            )
        if meta.review == "reviewed" and not meta.reviewer:
            problems.append((lines["review"], "a reviewed version names its reviewer"))
    title = meta.title if isinstance(meta, FrontMatter) else "x" * TITLE_MAX
    offset = text[: len(text) - len(body)].count("\n")
    rendered = render(body, offset, page_budget(title))
    problems += rendered.problems
    for number, line in enumerate(text.splitlines(), 1):
        if PLACEHOLDER in line:
            problems.append((number, f"placeholder '{PLACEHOLDER}' left from `guides new`"))
            break
    return _Compiled(
        meta if isinstance(meta, FrontMatter) else None,
        tuple(rendered.pages),
        tuple(rendered.text),
        MappingProxyType(dict(lines)),
        tuple(problems),
    )


@dataclass
class _Draft:
    guide: Guide
    title_lines: dict[str, tuple[Path, int]]  # language -> (file, line of the title)
    texts: dict[str, tuple[str, ...]]


class _Loader:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
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
        parsed = _read_yaml(text, 1)
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
        texts: dict[str, tuple[str, ...]] = {}
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
            compiled = _compile(path.read_text(encoding="utf-8"))
            for line, message in compiled.problems:
                self.problem(path, line, message)
            if compiled.problems or compiled.meta is None:
                ok = False
                continue
            m = compiled.meta
            versions[language] = Version(
                language, m.title, m.summary, m.review == "reviewed", m.reviewer, m.updated,
                compiled.pages,
            )  # fmt: skip
            title_lines[language] = (path, compiled.lines.get("title", 2))
            texts[language] = compiled.text
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
        return _Draft(guide, title_lines, texts)

    def guide_meta(self, path: Path, topic_ids: set[str]) -> GuideMeta | None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            self.problem(path, 1, "missing: kind, topics and source_url go here")
            return None
        parsed = _read_yaml(text, 1)
        if isinstance(parsed, tuple):
            self.problem(path, *parsed)
            return None
        meta, problems = _schema_problems(GuideMeta, parsed, 1)
        for number, content in enumerate(text.splitlines(), 1):
            if PLACEHOLDER in content:
                problems.append((number, f"placeholder '{PLACEHOLDER}' left from `guides new`"))
        for line, message in problems:
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
        index = SearchIndex.build(
            (position, _search_title(d.guide, version), version.summary, d.texts[language])
            for position, d in enumerate(drafts)
            for language, version in d.guide.versions.items()
        )
        return Library.create(tuple(d.guide for d in drafts), topics, index)


def inspect(directory: Path) -> tuple[Library | None, list[Problem]]:
    """Load and validate; the library is None when anything is wrong."""
    loader = _Loader(directory)
    library = loader.load()
    return library, sorted(loader.problems)


def load_library(directory: Path) -> Library:
    library, problems = inspect(directory)
    if library is None:
        raise ContentError(problems)
    return library


class LibraryHolder:
    """The library currently served; a reload swaps it whole, or not at all."""

    def __init__(self, library: Library, directory: Path) -> None:
        self._current = library
        self.directory = directory
        self._lock = asyncio.Lock()

    @classmethod
    def load(cls, directory: Path) -> LibraryHolder:
        return cls(load_library(directory), directory)

    @property
    def current(self) -> Library:
        return self._current

    async def reload(self) -> Library:
        """Re-read and validate; raises ContentError and keeps the old library on failure."""
        async with self._lock:
            library = await asyncio.to_thread(load_library, self.directory)
            self._current = library  # one reference assignment: readers see old or new
            return library


def _search_title(guide: Guide, version: Version) -> str:
    # The English version also answers to the slug's words ("digital-security").
    if version.language == FALLBACK:
        return f"{version.title} {guide.slug.replace('-', ' ')}"
    return version.title
