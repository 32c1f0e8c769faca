"""Full-text search over every language version: accent- and typo-tolerant, Chinese by bigrams.

Built once per library load. Postings are compact arrays (document << 4 | field << 2 | frequency),
so a thousand guides in five languages stay small in memory and a query touches only its words.
Typos are matched with rapidfuzz against words of similar length in the same script.
"""

from __future__ import annotations

import bisect
import heapq
import math
import re
import unicodedata
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(f"[{_CJK}]+|[^\\W{_CJK}]+")
# Accents and other combining marks (Latin, Cyrillic й/ё, Arabic harakat), dropped after NFKD.
_MARKS = re.compile("[\u0300-\u036f\u0483-\u0489\u064b-\u065f\u0670]")
TITLE, SUMMARY, BODY = 3, 2, 1
MAX_QUERY_TOKENS = 8
PREFIX_LIMIT = 12


def normalise(text: str) -> str:
    return _MARKS.sub("", unicodedata.normalize("NFKD", text.casefold()))


def _is_cjk(token: str) -> bool:
    return "\u3400" <= token[0] <= "\ufaff"


def tokens(text: str) -> list[str]:
    """Words, with runs of Chinese characters cut into overlapping pairs (no spaces there)."""
    out: list[str] = []
    for token in _TOKEN.findall(normalise(text)):
        if _is_cjk(token):
            if len(token) == 1:
                out.append(token)
            else:
                out.extend(token[i : i + 2] for i in range(len(token) - 1))
        elif len(token) > 1 or token.isdigit():
            out.append(token)
    return out


def _script(token: str) -> str:
    first = token[0]
    if first < "\u0370":
        return "latin"
    if "\u0400" <= first <= "\u052f":
        return "cyrillic"
    if "\u0600" <= first <= "\u06ff":
        return "arabic"
    return "other"


@dataclass(frozen=True)
class Hit:
    matched: int  # how many query words the best document matched
    score: float
    group: int  # what the caller groups documents by (a guide)
    doc: int  # the best-matching document of the group (one language version)


@dataclass
class SearchIndex:
    """Documents are numbered in the order given; each belongs to a group (its guide)."""

    postings: dict[str, array[int]] = field(default_factory=dict)
    groups: array[int] = field(default_factory=lambda: array("I"))
    _vocab: list[str] = field(default_factory=list)
    _buckets: dict[tuple[str, int], list[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, docs: Iterable[tuple[int, str, str, Sequence[str]]]) -> SearchIndex:
        """`docs` yields (group, title, summary, body pages) in document order."""
        lists: dict[str, list[int]] = {}
        groups = array("I")
        for doc, (group, title, summary, pages) in enumerate(docs):
            groups.append(group)
            # The field a word is in (title > summary > body), plus how often the body has it.
            counts = Counter(tokens(" ".join(pages)))
            weights = {t: BODY << 2 | min(n - 1, 3) for t, n in counts.items()}
            for t in tokens(summary):
                weights[t] = SUMMARY << 2 | (weights.get(t, 0) & 3)
            for t in tokens(title):
                weights[t] = TITLE << 2 | (weights.get(t, 0) & 3)
            for token, weight in weights.items():
                entry = doc << 4 | weight
                found = lists.get(token)
                if found is None:
                    lists[token] = [entry]
                else:
                    found.append(entry)
        index = cls({t: array("I", p) for t, p in lists.items()}, groups)
        index._vocab = sorted(index.postings)
        by_shape: dict[tuple[str, int], list[str]] = {}
        for token in index._vocab:
            if not _is_cjk(token) and len(token) >= 3:
                by_shape.setdefault((_script(token), len(token)), []).append(token)
        index._buckets = by_shape
        return index

    def _candidates(self, token: str, spread: int) -> list[str]:
        script = _script(token)
        out: list[str] = []
        for n in range(len(token) - spread, len(token) + spread + 1):
            out.extend(self._buckets.get((script, n), ()))
        return out

    def _prefixed(self, stem: str) -> list[str]:
        start = bisect.bisect_left(self._vocab, stem)
        out = []
        for token in self._vocab[start : start + 64]:
            if not token.startswith(stem):
                break
            if token != stem:
                out.append(token)
        out.sort(key=len)
        return out[:PREFIX_LIMIT]

    def expand(self, token: str) -> list[tuple[str, float]]:
        """The indexed words a query word stands for, each with a similarity in (0, 1]."""
        found: list[tuple[str, float]] = []
        exact = token in self.postings
        if exact:
            found.append((token, 1.0))
        if _is_cjk(token):
            if len(token) == 1:  # a single character: every pair that starts with it
                found += [(t, 0.8) for t in self._prefixed(token)]
            return found
        if len(token) >= 3:
            found += [(t, 0.5 + 0.4 * len(token) / len(t)) for t in self._prefixed(token)]
        if not exact and len(token) >= 4:
            limit = 1 if len(token) <= 6 else 2
            for word, distance, _ in process.extract(
                token,
                self._candidates(token, limit),
                scorer=Levenshtein.distance,
                score_cutoff=limit,
                limit=5,
            ):
                found.append((word, 0.85 - 0.15 * distance))
        return found

    def search(self, query: str, limit: int = 50) -> list[Hit]:
        """The best `limit` groups, most query words matched first, then by score."""
        words = list(dict.fromkeys(tokens(query)))[:MAX_QUERY_TOKENS]
        size = len(self.groups)
        if not words or not size:
            return []
        scores: dict[int, float] = {}
        matched: dict[int, int] = {}
        for word in words:
            best: dict[int, float] = {}
            for token, similarity in self.expand(word):
                entries = self.postings[token]
                idf = math.log(1 + size / len(entries))
                factor = idf * similarity
                for entry in entries:
                    doc = entry >> 4
                    score = ((entry >> 2 & 3) + 0.15 * (entry & 3)) * factor
                    if score > best.get(doc, 0.0):
                        best[doc] = score
            for doc, score in best.items():
                scores[doc] = scores.get(doc, 0.0) + score
                matched[doc] = matched.get(doc, 0) + 1
        best_of: dict[int, tuple[int, float, int]] = {}
        groups = self.groups
        for doc, score in scores.items():
            key = (matched[doc], score, doc)
            group = groups[doc]
            kept = best_of.get(group)
            if kept is None or key > kept:
                best_of[group] = key
        top = heapq.nlargest(limit, best_of.items(), key=lambda item: item[1])
        return [Hit(m, s, group, doc) for group, (m, s, doc) in top]
