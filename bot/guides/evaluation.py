"""The search evaluation (`guides/search-eval.yaml`): queries as members type them, and the guides
that answer each. A query passes when one of its expected guides is in the first three results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.guides.model import Library

EVAL_FILE = "search-eval.yaml"
TOP = 3


@dataclass(frozen=True)
class Case:
    language: str
    query: str
    expect: tuple[str, ...]


@dataclass(frozen=True)
class Score:
    passed: int
    total: int

    @property
    def share(self) -> float:
        return self.passed / self.total if self.total else 1.0


def read_cases(guides_dir: Path) -> list[Case]:
    data = yaml.safe_load((guides_dir / EVAL_FILE).read_text(encoding="utf-8")) or []
    return [Case(str(c["lang"]), str(c["q"]), tuple(c["expect"])) for c in data]


def passes(library: Library, case: Case, synonyms: bool = True) -> bool:
    found = library.search(case.query, TOP, case.language if synonyms else None)
    return any(g.slug in case.expect for g in found)


def evaluate(
    library: Library, cases: Sequence[Case], synonyms: bool = True
) -> tuple[Score, dict[str, Score]]:
    """Top-3 accuracy overall and per language (in the order the cases first name them)."""
    per: dict[str, list[int]] = {}
    for case in cases:
        tally = per.setdefault(case.language, [0, 0])
        tally[0] += passes(library, case, synonyms)
        tally[1] += 1
    by_language = {code: Score(p, t) for code, (p, t) in per.items()}
    return (
        Score(sum(s.passed for s in by_language.values()), len(cases)),
        by_language,
    )


def report(overall: Score, by_language: dict[str, Score]) -> str:
    parts = [f"{code} {s.share:.0%} ({s.passed}/{s.total})" for code, s in by_language.items()]
    return f"top-{TOP} {overall.share:.1%} ({overall.passed}/{overall.total}): " + ", ".join(parts)
