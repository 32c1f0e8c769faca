"""One voice per language: `guides/glossary/<lang>.yaml` checked against the guides and the UI.

`avoid` words are never right in the bot's own voice; `prefer` maps the preferred term to the
variants to replace. Both are reported as `path:line: message` by `guides check`. Text inside
quotation marks is skipped (a guide may quote a law or an opponent), and so are the proper names
the glossary's `allow` list holds (organisations that reclaim a word, laws). Matching is
case-insensitive after NFC, on whole words (`stem*` for any ending); Chinese and Arabic entries
match anywhere, since those scripts attach or do not separate words.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.config import LANGUAGES
from bot.problems import Problem

GLOSSARY_DIR = "glossary"
SUBSTRING_LANGUAGES = frozenset({"zh", "ar"})
# Quotation pairs whose content is skipped: “…”, «…», „…“, 「…」, 『…』, and straight "…".
_QUOTED = re.compile(r"“[^”]*”|«[^»]*»|„[^“”]*[“”]|「[^」]*」|『[^』]*』|\"[^\"]*\"")
_FRONT_VALUE = re.compile(r'^(title|short_title|summary): "(.*)"\s*$')


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    word: str
    message: str


@dataclass(frozen=True)
class Glossary:
    language: str
    rules: tuple[Rule, ...]
    allow: re.Pattern[str] | None

    def problems(self, path: Path, lines: Iterable[tuple[int, str]]) -> Iterator[Problem]:
        for number, text in lines:
            text = unicodedata.normalize("NFC", text)
            if self.allow is not None:
                text = self.allow.sub(" ", text)
            text = _QUOTED.sub(" ", text)
            for rule in self.rules:
                if rule.pattern.search(text):
                    yield Problem(path, number, rule.message)


def _pattern(entry: str, language: str) -> re.Pattern[str]:
    entry = unicodedata.normalize("NFC", entry.strip())
    stem = entry.endswith("*")
    body = re.escape(entry.rstrip("*"))
    if language in SUBSTRING_LANGUAGES:
        return re.compile(body, re.IGNORECASE)
    tail = r"\w*" if stem else r"(?!\w)"
    return re.compile(rf"(?<!\w){body}{tail}", re.IGNORECASE)


def load(path: Path, language: str) -> Glossary:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    rules: list[Rule] = []
    for word, entry in (data.get("avoid") or {}).items():
        use = entry.get("use", "") if isinstance(entry, dict) else ""
        rules.append(
            Rule(
                _pattern(str(word), language), str(word), f"glossary: avoid '{word}': use '{use}'"
            )
        )
    for preferred, variants in (data.get("prefer") or {}).items():
        for variant in variants or ():
            rules.append(
                Rule(
                    _pattern(str(variant), language),
                    str(variant),
                    f"glossary: '{variant}': the glossary prefers '{preferred}'",
                )
            )
    names = [unicodedata.normalize("NFC", str(n)) for n in data.get("allow") or ()]
    allow = (
        re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)), re.I)
        if names
        else None
    )
    return Glossary(language, tuple(rules), allow)


def guide_lines(text: str) -> Iterator[tuple[int, str]]:
    """A guide file's lines, front matter values unquoted (they are YAML strings)."""
    for number, line in enumerate(text.splitlines(), 1):
        found = _FRONT_VALUE.match(line)
        yield number, found.group(2) if found else line


def catalog_lines(text: str, source: bool) -> Iterator[tuple[int, str]]:
    """The translated strings of a .po file (`source`: the msgids, for English), by line."""
    wanted = ("msgid", "msgid_plural") if source else ("msgstr",)
    current = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#") or not line.strip():
            current = False
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            value = line
        elif keyword.split("[")[0] in ("msgid", "msgid_plural", "msgstr", "msgctxt"):
            current = keyword.split("[")[0] in wanted
            value = rest
        else:
            continue
        if current:
            try:
                yield number, str(ast.literal_eval(value.strip()))
            except (ValueError, SyntaxError):
                yield number, value


def check(guides_dir: Path, locales_dir: Path) -> list[Problem]:
    """Every guide file and every UI catalog, against its language's glossary."""
    problems: list[Problem] = []
    for language in LANGUAGES:
        path = guides_dir / GLOSSARY_DIR / f"{language}.yaml"
        if not path.exists():
            continue
        try:
            glossary = load(path, language)
        except (yaml.YAMLError, AttributeError, TypeError) as exc:
            problems.append(Problem(path, 1, f"glossary does not load: {exc}"))
            continue
        for guide_file in sorted(guides_dir.glob(f"*/{language}.md")):
            text = guide_file.read_text(encoding="utf-8")
            problems += glossary.problems(guide_file, guide_lines(text))
        catalog = locales_dir / language / "LC_MESSAGES" / "messages.po"
        if catalog.exists():
            text = catalog.read_text(encoding="utf-8")
            problems += glossary.problems(catalog, catalog_lines(text, language == "en"))
    return problems
