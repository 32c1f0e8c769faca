"""The loaded guide library: immutable values, safe to share between concurrent updates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from bot.guides.markdown import Page
from bot.guides.search import SearchIndex

KINDS = ("smart", "community")
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
    pages: tuple[Page, ...]


@dataclass(frozen=True, slots=True)
class Guide:
    slug: str
    kind: str
    topics: tuple[str, ...]
    year: int | None
    order: int
    source_urls: Mapping[str, str]
    versions: Mapping[str, Version]

    def has(self, language: str) -> bool:
        return language in self.versions

    def version(self, language: str) -> Version:
        """The member's language if there is a version in it, else English."""
        return self.versions.get(language) or self.versions[FALLBACK]

    def source_url(self, language: str) -> str:
        return self.source_urls.get(language) or self.source_urls[FALLBACK]


@dataclass(frozen=True)
class Library:
    guides: tuple[Guide, ...]  # in display order
    topics: tuple[Topic, ...]  # in vocabulary order
    index: SearchIndex  # one document per guide version, grouped by position in `guides`
    by_slug: Mapping[str, Guide]
    topics_by_id: Mapping[str, Topic]

    @classmethod
    def create(
        cls, guides: tuple[Guide, ...], topics: tuple[Topic, ...], index: SearchIndex
    ) -> Library:
        return cls(
            guides,
            topics,
            index,
            MappingProxyType({g.slug: g for g in guides}),
            MappingProxyType({t.id: t for t in topics}),
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

    def search(self, query: str, limit: int = 50) -> list[Guide]:
        return [self.guides[hit.group] for hit in self.index.search(query, limit)]

    @property
    def version_count(self) -> int:
        return sum(len(g.versions) for g in self.guides)
