"""The loaded guide library: immutable values, safe to share between concurrent updates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bot.guides.markdown import Page
from bot.guides.search import SearchIndex, Synonyms, synonyms_for

KINDS = ("smart", "community", "statement")
FALLBACK = "en"


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    names: Mapping[str, str]

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names[FALLBACK]


@dataclass(frozen=True, slots=True)
class Version:
    """One language of one guide."""

    language: str
    title: str
    summary: str
    reviewed: bool
    reviewer: str | None
    updated: dt.date
    short_title: str  # for buttons and lists (at most 32 characters); the title when short
    pages: tuple[Page, ...]


@dataclass(frozen=True, slots=True)
class Guide:
    slug: str
    kind: str
    topics: tuple[str, ...]
    year: int | None  # None: the publication's year is not known (guide.yaml says why)
    order: int
    source_urls: Mapping[str, str]
    versions: Mapping[str, Version]
    related: str | None = None  # a shorter (Community) or fuller (Smart) guide on the subject

    def has(self, language: str) -> bool:
        return language in self.versions

    def version(self, language: str) -> Version:
        """The member's language if there is a version in it, else English."""
        return self.versions.get(language) or self.versions[FALLBACK]

    def source_url(self, language: str) -> str:
        return self.source_urls.get(language) or self.source_urls[FALLBACK]

    def source_in_english(self, language: str) -> bool:
        """The document opens in English for a reader of `language` (guide.yaml says `en`)."""
        return language != FALLBACK and language not in self.source_urls


@dataclass(frozen=True)
class Library:
    guides: tuple[Guide, ...]  # in display order
    topics: tuple[Topic, ...]  # in vocabulary order
    index: SearchIndex  # one document per guide version, grouped by position in `guides`
    by_slug: Mapping[str, Guide]
    topics_by_id: Mapping[str, Topic]
    # Hidden search synonyms by section: a language ("fr"), or "<lang>-en" for English words
    # that let a query in that language find guides not yet translated into it.
    synonyms: Mapping[str, Synonyms] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        guides: tuple[Guide, ...],
        topics: tuple[Topic, ...],
        index: SearchIndex,
        synonyms: Mapping[str, Synonyms] | None = None,
    ) -> Library:
        return cls(
            guides,
            topics,
            index,
            MappingProxyType({g.slug: g for g in guides}),
            MappingProxyType({t.id: t for t in topics}),
            MappingProxyType(dict(synonyms or {})),
        )

    def get(self, slug: str) -> Guide | None:
        return self.by_slug.get(slug)

    def topic(self, topic_id: str) -> Topic | None:
        return self.topics_by_id.get(topic_id)

    def of_kind(self, kind: str) -> tuple[Guide, ...]:
        return tuple(g for g in self.guides if g.kind == kind)

    def on_topic(self, topic_id: str) -> tuple[Guide, ...]:
        return tuple(g for g in self.guides if topic_id in g.topics)

    def used_topics(self) -> tuple[Topic, ...]:
        """Topics at least one guide is on: an empty topic would be a dead end."""
        used = {t for g in self.guides for t in g.topics}
        return tuple(t for t in self.topics if t.id in used)

    def search(self, query: str, limit: int = 50, language: str | None = None) -> list[Guide]:
        """Guides for a member's words. With their language, hidden synonyms widen the query;
        then guides with no version in that language are searched with English synonyms (the
        `<lang>-en` section), so an Arabic query still finds an English-only guide."""
        if language is None:
            return [self.guides[hit.group] for hit in self.index.search(query, limit)]
        keys, own = synonyms_for(query, self.synonyms.get(language) or {})
        hits = self.index.search(query, limit, own, keys)
        found = [self.guides[hit.group] for hit in hits]
        _, english = synonyms_for(query, self.synonyms.get(f"{language}-{FALLBACK}") or {})
        untranslated = {g.slug for g in self.guides if not g.has(language)}
        if english and untranslated and len(found) < limit:
            seen = {g.slug for g in found}
            for hit in self.index.search(" ".join(english), len(self.guides)):
                other = self.guides[hit.group]
                if other.slug in untranslated and other.slug not in seen:
                    found.append(other)
                    if len(found) == limit:
                        break
        return found

    @property
    def version_count(self) -> int:
        return sum(len(g.versions) for g in self.guides)
