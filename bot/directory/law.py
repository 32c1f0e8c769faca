"""The law where a member is: dated law cards, risk notices by country, "what to do now".

Loaded from `guides/law/`: one `<CC>.yaml` card per country, `vocabulary.yaml` (the labels of
the card values in six languages), `risks.yaml` (a general notice and per-country notices) and
`after-violence.yaml`. The directory's loader (`read_law` in bot/directory/model.py, with the
models of bot/directory/schema.py) reads them and reports every problem as `path:line: message`,
so `python -m bot guides check` covers them.

Risk notices follow the member's country (saved or chosen), never the interface language: a
Russian speaker in Kazakhstan does not get Russia's notice, an English speaker in Russia does.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

LAW_DIR = "law"
VOCABULARY_FILE = "vocabulary.yaml"
RISKS_FILE = "risks.yaml"
AFTER_VIOLENCE_FILE = "after-violence.yaml"
SPECIAL_FILES = frozenset({VOCABULARY_FILE, RISKS_FILE, AFTER_VIOLENCE_FILE})

CATEGORIES = ("criminalised", "partially-criminalised", "legalised", "decriminalised", "varies")
ACTIVITY = ("crime", "offence", "not-a-crime", "regulated", "varies", "unknown")
HIV = ("criminalised", "not-specific", "unknown")
ACTIVITIES = ("selling", "buying", "third_parties")
REVIEW = ("draft", "reviewed")
AS_OF_RE = re.compile(r"^(19|20)\d\d(-(0[1-9]|1[0-2]))?$")
CARD_FIELDS = frozenset(
    {"country", "category", *ACTIVITIES, "hiv", "as_of", "source", "source_seen", "note"}
    | {"review"}
)
# The limits the content's README sets; a card or notice must stay one short message.
MAX_CARD_NOTE = 350
MAX_RISK_TEXT = 700
MAX_AFTER_VIOLENCE = 1400


def _pick(texts: Mapping[str, str], lang: str) -> str:
    return texts.get(lang) or texts.get("en") or next(iter(texts.values()), "")


@dataclass(frozen=True)
class LawCard:
    country: str
    category: str
    selling: str
    buying: str
    third_parties: str
    hiv: str
    as_of: str
    sources: tuple[str, ...]
    source_seen: dt.date
    notes: Mapping[str, str]
    review: str

    def note(self, lang: str) -> str:
        return _pick(self.notes, lang) if self.notes else ""

    @property
    def source(self) -> str:
        """The first source: the page the card mostly rests on."""
        return self.sources[0]


@dataclass(frozen=True)
class Notice:
    texts: Mapping[str, str]
    sources: tuple[str, ...] = ()
    hide_sharing: bool = False

    def text(self, lang: str) -> str:
        return _pick(self.texts, lang)


@dataclass(frozen=True)
class Law:
    cards: Mapping[str, LawCard] = field(default_factory=dict)
    # group ("category", "activity", "hiv", "field") -> value -> language -> label
    labels: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=dict)
    general: Notice | None = None
    risks: Mapping[str, Notice] = field(default_factory=dict)
    after_violence: Notice | None = None

    def card(self, country: str | None) -> LawCard | None:
        return self.cards.get(country or "")

    def risk(self, country: str | None) -> Notice | None:
        """The notice for a country: by where the member is, never by their language."""
        return self.risks.get(country or "")

    def hides_sharing(self, country: str | None) -> bool:
        notice = self.risk(country)
        return notice is not None and notice.hide_sharing

    def label(self, group: str, value: str, lang: str) -> str:
        return _pick(self.labels.get(group, {}).get(value, {}), lang) or value


def consistent(category: str, selling: str, buying: str | None, third: str | None) -> bool:
    """The category follows from the three activities, as guides/law/README.txt defines it."""
    others = {buying, third}
    if category == "criminalised":
        return selling in ("crime", "offence")
    if category == "partially-criminalised":
        return selling == "not-a-crime" and bool(others & {"crime", "offence"})
    if category == "legalised":
        return selling == "regulated"
    if category == "decriminalised":
        return selling in ("not-a-crime", "regulated") and not others & {"crime", "offence"}
    return selling in ("varies", "unknown") or category == "varies"
