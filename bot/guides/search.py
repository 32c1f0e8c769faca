"""Full-text search over every language version: accent- and typo-tolerant, Chinese by bigrams.

Built once per library load. Postings are compact arrays (document << 4 | field << 2 | frequency),
so a thousand guides in five languages stay small in memory and a query touches only its words.
Typos are matched with rapidfuzz against words of similar length in the same script.
"""

from __future__ import annotations

import base64
import bisect
import heapq
import math
import re
import sys
import unicodedata
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORDS = re.compile(f"[^\\W{_CJK}]+")
_HAN = re.compile(f"[{_CJK}]+")
_MARKS = re.compile("[\u0300-\u036f\u0483-\u0489\u064b-\u065f\u0670]")
TITLE, SUMMARY, BODY = 3, 2, 1
MAX_QUERY_TOKENS = 8
PREFIX_LIMIT = 12
STEM_LIMIT = 6
LAYOUT = f"{sys.byteorder}-{array('I').itemsize}"  # how postings are stored as bytes


def normalise(text: str) -> str:
    return _MARKS.sub("", unicodedata.normalize("NFKD", text.casefold()))


def _is_cjk(token: str) -> bool:
    return "\u3400" <= token[0] <= "\ufaff"


def tokens(text: str) -> list[str]:
    """Words, with runs of Chinese characters cut into overlapping pairs (no spaces there)."""
    text = normalise(text)
    out = [w for w in _WORDS.findall(text) if len(w) > 1 or w.isdigit()]
    for run in _HAN.findall(text):
        if len(run) == 1:
            out.append(run)
        else:
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return out


def terms(pages: Sequence[str]) -> tuple[str, str]:
    """A body's distinct words, space-separated, and how often each occurs (digits 0-3 for
    1, 2, 3, 4+ times): compact enough to keep for every file between reloads."""
    counts = Counter(tokens(" ".join(pages)))
    return " ".join(counts), "".join(str(min(n - 1, 3)) for n in counts.values())


def _script(token: str) -> str:
    first = token[0]
    if first < "\u0370":
        return "latin"
    if "\u0400" <= first <= "\u052f":
        return "cyrillic"
    if "\u0600" <= first <= "\u06ff":
        return "arabic"
    return "other"


Document = tuple[int, str, str, tuple[str, str]]  # (group, title, summary, body terms)


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
    # Words in each document's title: a word in a short title says more about the guide.
    title_sizes: array[int] = field(default_factory=lambda: array("I"))
    _vocab: list[str] = field(init=False, repr=False)
    _buckets: dict[tuple[str, int], list[str]] = field(init=False, repr=False)

    @classmethod
    def build(cls, docs: Iterable[Document]) -> SearchIndex:
        """`docs` yields (group, title, summary, body terms) in document order."""
        postings: dict[str, array[int]] = {}
        groups, title_sizes = array("I"), array("I")
        for doc, (group, title, summary, (words, freqs)) in enumerate(docs):
            groups.append(group)
            # The field a word is in (title > summary > body), plus how often the body has it.
            weights = (
                dict(zip(words.split(" "), (BODY << 2 | ord(f) - 48 for f in freqs), strict=True))
                if words
                else {}
            )
            for t in tokens(summary):
                weights[t] = SUMMARY << 2 | (weights.get(t, 0) & 3)
            title_words = set(tokens(title))
            title_sizes.append(len(title_words))
            for t in title_words:
                weights[t] = TITLE << 2 | (weights.get(t, 0) & 3)
            for token, weight in weights.items():
                found = postings.get(token)
                if found is None:
                    postings[token] = array("I", (doc << 4 | weight,))
                else:
                    found.append(doc << 4 | weight)
        return cls(postings, groups, title_sizes)

    def __post_init__(self) -> None:
        # Sorted words for prefix matches; words by script and length for typo matches.
        self._vocab = sorted(self.postings)
        self._buckets = {}
        for token in self._vocab:
            if not _is_cjk(token) and len(token) >= 3:
                self._buckets.setdefault((_script(token), len(token)), []).append(token)

    def to_json(self) -> dict[str, Any]:
        def pack(values: array[int]) -> str:
            return base64.b64encode(values.tobytes()).decode()

        return {
            "layout": LAYOUT,
            "groups": pack(self.groups),
            "title_sizes": pack(self.title_sizes),
            "postings": {t: pack(a) for t, a in self.postings.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchIndex:
        if data.get("layout") != LAYOUT:
            raise ValueError("index stored by another kind of machine")

        def unpack(text: str) -> array[int]:
            values = array("I")
            values.frombytes(base64.b64decode(text))
            return values

        return cls(
            {t: unpack(v) for t, v in data["postings"].items()},
            unpack(data["groups"]),
            unpack(data["title_sizes"]),
        )

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
        if len(token) >= 7:
            # A poor man's stemmer: other endings of the same word (цифровая, цифровой).
            stem, seen = token[:-2], {t for t, _ in found}
            others = [t for t in self._prefixed(stem) if t not in seen][:STEM_LIMIT]
            found += [(t, 0.45 + 0.4 * len(stem) / len(t)) for t in others]
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
        size, sizes = len(self.groups), self.title_sizes
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
                    doc, place = entry >> 4, entry >> 2 & 3
                    score = (place + 0.15 * (entry & 3)) * factor
                    if place == TITLE:
                        score *= 1 + 2 / (sizes[doc] + 1)
                    if score > best.get(doc, 0.0):
                        best[doc] = score
            for doc, score in best.items():
                scores[doc] = scores.get(doc, 0.0) + score
                matched[doc] = matched.get(doc, 0) + 1
        if not matched:
            return []
        # Guides with every word (or, for long queries, all but one) hide weaker partial hits.
        floor = max(matched.values()) - (1 if len(words) > 3 else 0)
        best_of: dict[int, tuple[int, float, int]] = {}
        groups = self.groups
        for doc, score in scores.items():
            if matched[doc] < floor:
                continue
            key = (matched[doc], score, doc)
            group = groups[doc]
            kept = best_of.get(group)
            if kept is None or key > kept:
                best_of[group] = key
        top = heapq.nlargest(limit, best_of.items(), key=lambda item: item[1])
        return [Hit(m, s, group, doc) for group, (m, s, doc) in top]
