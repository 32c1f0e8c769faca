"""Saved answers: a network's own (`/saved` in its group, stored) and the global secretariat's
shared ones (content files `guides/answers/<name>.yaml`, one text per language).

A shared answer file:

    source: [https://…]      # where every fact in it was read
    source_seen: 2026-11-29
    review: draft            # draft (machine or first draft) | reviewed
    text:
      en: |
        …
      fr: …

`python -m bot guides check` validates them (`check`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bot.config import LANGUAGES
from bot.problems import Problem
from bot.telegram.html import utf16_len

ANSWERS_DIR = "answers"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
# A saved answer travels as a staff reply (STAFF_REPLY_LIMIT, 3,500), with room for a notice.
ANSWER_LIMIT = 3200
REVIEW = frozenset({"draft", "reviewed"})


@dataclass(frozen=True)
class SharedAnswer:
    name: str
    texts: dict[str, str]
    sources: tuple[str, ...]
    review: str


def _problems(path: Path, data: Any) -> list[Problem]:
    def problem(message: str) -> Problem:
        return Problem(path, 1, message)

    if not isinstance(data, dict):
        return [problem("a shared answer is a mapping with source, source_seen, review, text")]
    found: list[Problem] = []
    if not NAME_RE.match(path.stem):
        found.append(problem("the file name must be a short name: a-z, 0-9 and '-'"))
    sources = data.get("source")
    if not isinstance(sources, list) or not sources:
        found.append(problem("'source' lists the public pages every fact was read in"))
    elif not all(isinstance(s, str) and s.startswith("https://") for s in sources):
        found.append(problem("every 'source' is an https:// address"))
    if not isinstance(data.get("source_seen"), dt.date):
        found.append(problem("'source_seen' is the date the sources were read (YYYY-MM-DD)"))
    if data.get("review") not in REVIEW:
        found.append(problem("'review' is draft or reviewed"))
    texts = data.get("text")
    if not isinstance(texts, dict) or "en" not in texts:
        found.append(problem("'text' maps languages to the answer, English (en) at least"))
        return found
    for language, text in texts.items():
        if language not in LANGUAGES:
            found.append(problem(f"unknown language {language!r}"))
        elif not isinstance(text, str) or not text.strip():
            found.append(problem(f"the {language} text is empty"))
        elif utf16_len(text.strip()) > ANSWER_LIMIT:
            found.append(problem(f"the {language} text is over {ANSWER_LIMIT} characters"))
    return found


def check(guides_dir: Path) -> list[Problem]:
    problems: list[Problem] = []
    for path in sorted((guides_dir / ANSWERS_DIR).glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            problems.append(Problem(path, 1, f"not valid YAML: {exc}"))
            continue
        problems += _problems(path, data)
    return problems


@cache
def shared_answers(guides_dir: Path) -> dict[str, SharedAnswer]:
    """The secretariat's shared answers by name; a file with a problem is left out (the
    check reports it)."""
    found: dict[str, SharedAnswer] = {}
    for path in sorted((guides_dir / ANSWERS_DIR).glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            continue
        if _problems(path, data):
            continue
        found[path.stem] = SharedAnswer(
            name=path.stem,
            texts={str(k): str(v).strip() for k, v in data["text"].items()},
            sources=tuple(data["source"]),
            review=str(data["review"]),
        )
    return found
