"""One file at a time: YAML with line numbers, the schemas, and a language file made into pages.

Rendering a language file is the slow part of loading (markdown-it is pure Python), and it
depends only on the file's text, so results are kept by content hash in a `RenderCache`: a
reload renders only the files that changed, and with a cache file a restart renders none.
"""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import frontmatter.default_handlers
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot import yaml_lines
from bot.guides import markdown, search
from bot.guides.markdown import Page, render
from bot.guides.search import Document, SearchIndex
from bot.telegram.html import TEXT_LIMIT, utf16_len

log = logging.getLogger(__name__)

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MAX = 40  # keeps callback data (prefix, slug, page) under Telegram's 64 bytes
TITLE_MAX = 150
SHORT_TITLE_MAX = 32  # Telegram cuts a phone-width button at about 30-40 characters
SUMMARY_MAX = 300
# Room a reading screen needs beside the page: the title line, the one-line notice shown when a
# guide is not in the member's language (NOTICE_MAX), "page x / y" (FOOTER_MAX), blank lines.
NOTICE_MAX = 200
FOOTER_MAX = 48
SCREEN_RESERVE = NOTICE_MAX + FOOTER_MAX + 8
PLACEHOLDER = "TODO"
MAX_ENTRIES = 50_000
_FRONT = frontmatter.default_handlers.YAMLHandler()


def page_budget(title: str) -> int:
    return TEXT_LIMIT - utf16_len(title) - 1 - SCREEN_RESERVE


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FrontMatter(Strict):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    short_title: str | None = Field(default=None, min_length=1, max_length=SHORT_TITLE_MAX)
    summary: str = Field(min_length=1)
    review: Literal["draft", "reviewed"]
    reviewer: str | None = Field(default=None, min_length=1, max_length=200)
    updated: dt.date


@dataclass
class ParsedYaml:
    data: Any = None
    lines: dict[str, int] = field(default_factory=dict)  # top-level key -> line


def read_yaml(text: str, first_line: int) -> ParsedYaml | tuple[int, str]:
    """YAML with the line of each top-level key, or (line, message) if it does not parse."""
    try:
        data, _duplicates = yaml_lines.parse(text, yaml_lines.FAST_BASE)
    except yaml.MarkedYAMLError as exc:
        # An unclosed [list], {map} or quote is noticed lines later; point at where it opened.
        opened = exc.context_mark if exc.context and "block" not in exc.context else None
        mark = opened or exc.problem_mark or exc.context_mark
        line = first_line + (mark.line if mark else 0)
        context = f"{exc.context}: " if opened else ""
        return line, f"invalid YAML: {context}{exc.problem or exc.context}"
    except (yaml.YAMLError, ValueError) as exc:  # e.g. a date like 2024-13-45
        return first_line, f"invalid YAML: {exc}"
    lines: dict[str, int] = {}
    if isinstance(data, yaml_lines.LineDict):
        lines = {str(key): first_line - 1 + line for key, line in data.lines.items()}
    return ParsedYaml(data, lines)


def schema_problems(
    model: type[Strict], parsed: ParsedYaml, first_line: int
) -> tuple[Any, list[tuple[int, str]]]:
    """Validate with pydantic; each error becomes (line of its key, plain message)."""
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


def placeholder_problems(text: str) -> list[tuple[int, str]]:
    for number, content in enumerate(text.splitlines(), 1):
        if PLACEHOLDER in content:
            return [(number, f"placeholder '{PLACEHOLDER}' left from `guides new`")]
    return []


class Meta(NamedTuple):
    """The front matter once valid (plain values: thousands come back from the cache)."""

    title: str
    summary: str
    reviewed: bool
    reviewer: str | None
    updated: dt.date
    short_title: str


@dataclass(frozen=True)
class Compiled:
    """One language file, parsed and rendered; a function of the file's text alone."""

    meta: Meta | None
    pages: tuple[Page, ...]
    terms: tuple[str, str]  # the body's words for the search index (see search.terms)
    lines: Mapping[str, int]
    problems: tuple[tuple[int, str], ...]

    def to_json(self) -> list[Any]:
        meta = (
            [*self.meta[:4], self.meta.updated.isoformat(), self.meta.short_title]
            if self.meta
            else None
        )
        pages = [[p.heading, p.html] for p in self.pages]
        return [meta, pages, list(self.terms), dict(self.lines), [list(p) for p in self.problems]]

    @classmethod
    def from_json(cls, data: list[Any]) -> Compiled:
        meta, pages, terms, lines, problems = data
        return cls(
            Meta(meta[0], meta[1], meta[2], meta[3], dt.date.fromisoformat(meta[4]), meta[5])
            if meta
            else None,
            tuple(Page(*page) for page in pages),
            (terms[0], terms[1]),
            MappingProxyType(lines),
            tuple((int(line), str(message)) for line, message in problems),
        )


def _failed(line: int, message: str) -> Compiled:
    return Compiled(None, (), ("", ""), MappingProxyType({}), ((line, message),))


def compile_text(text: str) -> Compiled:
    if not _FRONT.detect(text):
        return _failed(1, "missing front matter: start the file with a '---' line")
    try:
        front, body = _FRONT.split(text)
    except ValueError:
        return _failed(1, "front matter is not closed by a '---' line")
    parsed = read_yaml(front, 1)
    if isinstance(parsed, tuple):
        return _failed(*parsed)
    meta, problems = schema_problems(FrontMatter, parsed, 2)
    lines = parsed.lines
    if isinstance(meta, FrontMatter):
        if len(meta.summary) > SUMMARY_MAX:
            problems.append(
                (
                    lines["summary"],
                    f"summary is {len(meta.summary)} characters; the limit is {SUMMARY_MAX}",
                )
            )
        if meta.short_title is None and len(meta.title) > SHORT_TITLE_MAX:
            problems.append(
                (
                    lines["title"],
                    f"title is {len(meta.title)} characters: add a short_title of at most "
                    f"{SHORT_TITLE_MAX} for buttons and lists",
                )
            )
        if meta.review == "reviewed" and not meta.reviewer:
            problems.append((lines["review"], "a reviewed version names its reviewer"))
    title = meta.title if isinstance(meta, FrontMatter) else "x" * TITLE_MAX
    offset = text[: len(text) - len(body)].count("\n")
    rendered = render(body, offset, page_budget(title))
    problems += rendered.problems + placeholder_problems(text)
    return Compiled(
        Meta(
            meta.title,
            meta.summary,
            meta.review == "reviewed",
            meta.reviewer,
            meta.updated,
            meta.short_title or meta.title,
        )
        if isinstance(meta, FrontMatter)
        else None,
        tuple(rendered.pages),
        search.terms(rendered.text),
        MappingProxyType(dict(lines)),
        tuple(problems),
    )


def _code_version() -> str:
    """Rendering rules live in these files: a change to any of them makes old entries stale."""
    digest = hashlib.blake2b(digest_size=8)
    for module in (markdown, search):
        digest.update(Path(str(module.__file__)).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


class RenderCache:
    """Compiled files by content hash, in memory and, given a path, in a JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.entries: dict[str, Compiled] = {}
        self.yamls: dict[str, ParsedYaml] = {}
        self.version = _code_version()
        self._lock = threading.Lock()
        self._dirty = False
        self._index: tuple[str, SearchIndex] | None = None  # (signature of its documents, index)
        self._stored_index: dict[str, Any] | None = None  # as read from the file, not decoded
        if path is not None:
            self._read(path)

    def _read(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") == self.version:
                self.entries = {k: Compiled.from_json(v) for k, v in data["entries"].items()}
                self.yamls = {
                    k: ParsedYaml(d, lines) for k, (d, lines) in data.get("yaml", {}).items()
                }
                self._stored_index = data.get("index")
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            # A cache is only ever a shortcut: a damaged one is ignored and rewritten.
            log.warning("ignoring the guide render cache %s: %s", path, type(exc).__name__)

    def read_yaml(self, text: str) -> tuple[str, ParsedYaml | tuple[int, str]]:
        """A whole YAML file (guide.yaml), remembered by content when it parses; and its key."""
        key = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        found = self.yamls.get(key)
        if found is not None:
            return key, found
        parsed = read_yaml(text, 1)
        if isinstance(parsed, ParsedYaml):
            try:
                json.dumps(parsed.data)
            except (TypeError, ValueError):  # a date or the like: not worth a cache entry
                return key, parsed
            with self._lock:
                self.yamls[key] = parsed
                self._dirty = True
        return key, parsed

    def compile(self, raw: bytes) -> tuple[str, Compiled]:
        """A file's bytes, compiled (decoding only when not cached); returns its key too."""
        key = hashlib.blake2b(raw, digest_size=16).hexdigest()
        found = self.entries.get(key)
        if found is None:
            try:
                found = compile_text(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                found = _failed(raw[: exc.start].count(b"\n") + 1, "not UTF-8 text")
            with self._lock:
                if len(self.entries) >= MAX_ENTRIES:  # only the shared one can grow this far
                    self.entries.clear()
                    self.yamls.clear()
                self.entries[key] = found
                self._dirty = True
        return key, found

    def index(self, docs: Sequence[Document]) -> SearchIndex:
        """The search index for these documents: the last one built if they are the same."""
        digest = hashlib.blake2b(digest_size=16)
        for group, title, summary, (words, freqs) in docs:
            digest.update(f"{group}\0{title}\0{summary}\0{words}\0{freqs}\1".encode())
        signature = digest.hexdigest()
        with self._lock:
            if self._index is not None and self._index[0] == signature:
                return self._index[1]
            stored, self._stored_index = self._stored_index, None
        index = None
        if stored is not None and stored.get("signature") == signature:
            try:
                index = SearchIndex.from_json(stored["data"])
            except (ValueError, KeyError, TypeError, binascii.Error):
                index = None
        if index is None:
            index = SearchIndex.build(docs)
            self._dirty = True
        with self._lock:
            self._index = (signature, index)
        return index

    def keep_only(self, keys: set[str]) -> None:
        """Forget files no longer in the library, so the cache does not grow with edits."""
        with self._lock:
            if set(self.entries) - keys or set(self.yamls) - keys:
                self.entries = {k: v for k, v in self.entries.items() if k in keys}
                self.yamls = {k: v for k, v in self.yamls.items() if k in keys}
                self._dirty = True

    def save(self) -> None:
        if self.path is None or not self._dirty:
            return
        payload: dict[str, Any] = {
            "version": self.version,
            "entries": {k: v.to_json() for k, v in self.entries.items()},
            "yaml": {k: [v.data, v.lines] for k, v in self.yamls.items()},
        }
        if self._index is not None:
            signature, index = self._index
            payload["index"] = {"signature": signature, "data": index.to_json()}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
            os.replace(partial, self.path)  # readers see the old file or the new one
            self._dirty = False
        except OSError as exc:
            log.warning("could not write the guide render cache: %s", exc.strerror)


# Used when no cache is given (`guides check`, tests): still spares re-rendering in one process.
SHARED = RenderCache()
