"""The network's publication catalogue (`guides/publications.yaml`), checked against the library.

The catalogue lists every Smart Guide, Community Guide and statement the global network publishes
(titles, years and languages as its own pages give them, each with the page it was read on) and
the guide in `guides/` that covers it, if any. It is how `guides coverage` shows that the library
holds *every* publication, and which ones are still missing.

`check` reports, as `path:line: message`: entries that do not fit the schema, duplicate entries,
unknown guide ids, a guide named by two publications, a guide whose kind or year disagrees with
its entry, and a guide that no entry names (the catalogue would then not be complete).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field

from bot import yaml_lines
from bot.config import LANGUAGES
from bot.guides.compile import SLUG_RE, ParsedYaml, Strict, schema_problems
from bot.guides.loader import GUIDE_FILE, valid_url
from bot.guides.model import Guide, Library
from bot.problems import Problem

CATALOGUE_FILE = "publications.yaml"
# Catalogue kinds that a guide can be (its `kind` in guide.yaml); other kinds (the network's
# tools) may name a guide that presents them, without being that guide's own publication.
GUIDE_KIND = {"smart-guide": "smart", "community-guide": "community", "statement": "statement"}
KINDS = (*GUIDE_KIND, "tool")


class Entry(Strict):
    title: str = Field(min_length=3, max_length=250)
    kind: Literal["smart-guide", "community-guide", "statement", "tool"]
    # Only what the network's pages say: no year or no languages when they do not.
    year: Annotated[int, Field(ge=1985, le=2100)] | None = None
    languages: list[str] = Field(default_factory=list)
    source: str
    source_seen: dt.date
    guide: str | None = None  # the guide id (folder in guides/) that covers it; none yet: missing
    note: str | None = Field(default=None, min_length=10)


@dataclass(frozen=True, slots=True)
class Publication:
    title: str
    kind: str
    year: int | None
    languages: tuple[str, ...]
    source: str
    source_seen: dt.date
    guide: str | None
    note: str | None
    line: int  # of the entry in publications.yaml


def _key(title: str) -> str:
    """Titles compared without case, punctuation or a leading "The"."""
    words = re.sub(r"[^\w]+", " ", title.casefold()).split()
    return " ".join(words[1:] if words[:1] == ["the"] else words)


def read(guides_dir: Path) -> tuple[list[Publication] | None, list[Problem]]:
    """The catalogue's entries, or None when the file is absent or unreadable."""
    path = guides_dir / CATALOGUE_FILE
    if not path.exists():
        return None, []
    problems: list[Problem] = []
    try:
        data, duplicates = yaml_lines.parse(path.read_text(encoding="utf-8"), yaml_lines.FAST_BASE)
    except (yaml.YAMLError, ValueError) as exc:
        return None, [Problem(path, 1, f"invalid YAML: {exc}")]
    problems += [Problem(path, line, message) for line, message in duplicates]
    if not isinstance(data, yaml_lines.LineList):
        return None, [Problem(path, 1, "expected a list of publications (- title: …)")]
    out: list[Publication] = []
    for index, item in enumerate(data):
        line = data.lines[index]
        if not isinstance(item, yaml_lines.LineDict):
            problems.append(Problem(path, line, "expected a publication: title, kind, source…"))
            continue
        lines = {str(k): v for k, v in item.lines.items()}
        entry, errors = schema_problems(Entry, ParsedYaml(item, lines), line)
        problems += [Problem(path, at, message) for at, message in errors]
        if not isinstance(entry, Entry):
            continue
        ok = True
        if not valid_url(entry.source):
            problems.append(Problem(path, lines["source"], "source: not a web address"))
            ok = False
        for code in entry.languages:
            if code not in LANGUAGES:
                problems.append(
                    Problem(path, lines["languages"], f"languages: unknown language {code!r}")
                )
                ok = False
        if len(set(entry.languages)) != len(entry.languages):
            problems.append(Problem(path, lines["languages"], "languages: a language twice"))
            ok = False
        if entry.guide is not None and not SLUG_RE.match(entry.guide):
            message = f"guide {entry.guide!r}: not a guide id"
            problems.append(Problem(path, lines["guide"], message))
            ok = False
        if ok:
            out.append(
                Publication(
                    entry.title,
                    entry.kind,
                    entry.year,
                    tuple(entry.languages),
                    entry.source,
                    entry.source_seen,
                    entry.guide,
                    entry.note,
                    line,
                )
            )
    return out, problems


def guide_ids(guides_dir: Path) -> list[str]:
    """Guide folders (those with a guide.yaml), whether or not they load."""
    return sorted(p.parent.name for p in guides_dir.glob(f"*/{GUIDE_FILE}"))


def check(guides_dir: Path, library: Library | None) -> list[Problem]:
    """Problems in the catalogue and between it and the library (no file: nothing to check)."""
    publications, problems = read(guides_dir)
    if publications is None:
        return problems
    path = guides_dir / CATALOGUE_FILE
    ids = set(guide_ids(guides_dir))
    guides: Mapping[str, Guide] = library.by_slug if library is not None else {}
    titles: dict[str, int] = {}
    owners: dict[str, int] = {}  # guide id -> line of the publication it is the guide of
    for pub in publications:
        key = _key(pub.title)
        if key in titles:
            problems.append(
                Problem(path, pub.line, f"duplicate entry: the same title as line {titles[key]}")
            )
        else:
            titles[key] = pub.line
        if pub.guide is None:
            continue
        if pub.guide not in ids:
            problems.append(
                Problem(path, pub.line, f"unknown guide {pub.guide!r}: no guides/{pub.guide}/")
            )
            continue
        own_kind = GUIDE_KIND.get(pub.kind)
        if own_kind is None:
            continue  # a tool presented inside a guide of another kind
        if pub.guide in owners:
            problems.append(
                Problem(
                    path,
                    pub.line,
                    f"guide {pub.guide!r} is already the guide of line {owners[pub.guide]}",
                )
            )
        else:
            owners[pub.guide] = pub.line
        guide = guides.get(pub.guide)
        if guide is None:
            continue  # the guide does not load: `inspect` reports why
        if guide.kind != own_kind:
            problems.append(
                Problem(
                    path,
                    pub.line,
                    f"kind: {pub.kind} here, but guides/{pub.guide}/{GUIDE_FILE} "
                    f"says {guide.kind}",
                )
            )
        if pub.year is not None and guide.year != pub.year:
            said = "unknown" if guide.year is None else str(guide.year)
            problems.append(
                Problem(
                    path,
                    pub.line,
                    f"year: {pub.year} here, but guides/{pub.guide}/{GUIDE_FILE} says {said}",
                )
            )
    for slug in sorted(ids - set(owners)):
        problems.append(
            Problem(
                guides_dir / slug / GUIDE_FILE,
                1,
                f"not in {CATALOGUE_FILE}: add the publication this guide covers",
            )
        )
    return problems


def _cell(guide: Guide | None, language: str) -> str:
    if guide is None or language not in guide.versions:
        return "-"
    return "reviewed" if guide.versions[language].reviewed else "draft"


def coverage(guides_dir: Path, library: Library) -> list[str] | None:
    """The catalogue's coverage as lines to print, or None when there is no catalogue."""
    publications, problems = read(guides_dir)
    if publications is None:
        return None
    out = ["", f"Publications ({CATALOGUE_FILE}): every publication the network lists"]
    out += [f"{p.path.name}:{p.line}: {p.message}" for p in problems]
    covered = [p for p in publications if p.guide in library.by_slug]
    out.append(
        f"{len(publications)} publications: {len(covered)} with a guide, "
        f"{len(publications) - len(covered)} missing"
    )
    width = max([len(p.guide or "") for p in publications] + [len("MISSING")])
    header = f"{'kind':<15} {'year':<4}  {'guide':<{width}}  " + " ".join(
        f"{code:<8}" for code in LANGUAGES
    )
    out += [header + "  title"]
    for pub in publications:
        guide = library.by_slug.get(pub.guide or "")
        cells = " ".join(f"{_cell(guide, code):<8}" for code in LANGUAGES)
        year = str(pub.year) if pub.year else "?"
        slug = guide.slug if guide is not None else "MISSING"
        out.append(f"{pub.kind:<15} {year:<4}  {slug:<{width}}  {cells}  {pub.title}")
    out.append("")
    unknown = sum(not p.languages for p in publications)
    for code in LANGUAGES:
        done = sum(_cell(library.by_slug.get(p.guide or ""), code) != "-" for p in publications)
        network = sum(code in p.languages for p in publications)
        out.append(
            f"{code}: {done} of {len(publications)} publications have a guide in {code} "
            f"(the network's pages name {code} for {network}; {unknown} name no languages)"
        )
    missing = [p for p in publications if p.guide not in library.by_slug]
    if missing:
        out += ["", "Missing (no guide yet):"]
        for pub in missing:
            out.append(f"- {pub.title} ({pub.kind}) {pub.source}")
            if pub.note:
                out.append(f"  {pub.note}")
    return out
