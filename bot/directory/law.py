"""The law where a member is: dated law cards, risk notices by country, "what to do now".

Loaded from `guides/law/`: one `<CC>.yaml` card per country, `vocabulary.yaml` (the labels of
the card values in six languages), `risks.yaml` (a general notice and per-country notices) and
`after-violence.yaml`. `check_law` returns every problem as `path:line: message`; the directory's
`check` and `load` call it, so `python -m bot guides check` covers these files too.

Risk notices follow the member's country (saved or chosen), never the interface language: a
Russian speaker in Kazakhstan does not get Russia's notice, an English speaker in Russia does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import LANGUAGES

if TYPE_CHECKING:
    from bot.directory.model import Checker

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


# -- checking --------------------------------------------------------------------------------


def check_law(checker: Checker, network_names: list[str] | None = None) -> Law:
    """Read guides/law/ with the directory's checker (it collects `path:line` problems)."""
    from bot.directory.model import LineDict, country_codes, line_of, start_line

    folder: Path = checker.root / LAW_DIR
    if not folder.is_dir():
        checker.path = folder
        checker.add(1, "folder is missing (law cards, risks.yaml, after-violence.yaml)")
        return Law()

    def source_list(entry: LineDict) -> tuple[str, ...]:
        value = entry.get("source")
        line = line_of(entry, "source", entry.line)
        if value is None:
            checker.add(entry.line, "`source` is missing (the public page this came from)")
            return ()
        items = value if isinstance(value, list) else [value]
        if not items:
            checker.add(line, "`source` must name at least one URL")
        found = []
        for i, item in enumerate(items):
            where = line_of(value, i, line) if isinstance(value, list) else line
            url = checker.url(item, where, "source")
            if url:
                found.append(url)
        return tuple(found)

    def choice(entry: LineDict, key: str, allowed: tuple[str, ...]) -> str | None:
        value = entry.get(key)
        if value is None:
            checker.add(entry.line, f"`{key}` is missing (one of {', '.join(allowed)})")
            return None
        if value not in allowed:
            checker.add(
                line_of(entry, key), f"`{key}` {value!r} is not one of {', '.join(allowed)}"
            )
            return None
        return str(value)

    def seen_date(entry: LineDict) -> dt.date | None:
        value = entry.get("source_seen")
        if value is None:
            checker.add(entry.line, "`source_seen` is missing (the date the source was read)")
            return None
        line = line_of(entry, "source_seen")
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = dt.date.fromisoformat(value)
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            checker.add(line, f"source_seen {value!r} must be a date like 2026-01-31")
            return None
        if value > checker.today:
            checker.add(line, f"source_seen {value.isoformat()} is in the future")
            return None
        return value

    def first_lines_neutral(texts: Mapping[str, str], line: int, key: str) -> None:
        # A lock screen shows a message's first two lines: they must be a neutral heading.
        for lang, text in texts.items():
            head = "\n".join(text.splitlines()[:2]).casefold()
            names = [n.casefold() for n in network_names or [] if len(n) > 2]
            if any(word in head for word in ("sex work", "escort", "prostitut", *names)):
                checker.add(
                    line,
                    f"`{key}.{lang}`: the first two lines must not name sex work or a network",
                )

    def notice(entry: object, line: int, key: str, limit: int) -> Notice | None:
        if not isinstance(entry, LineDict):
            checker.add(line, f"`{key}` must be a mapping with `source` and `text`")
            return None
        allowed = {"source", "source_seen", "text", "hide_sharing", "review"}
        for name in entry:
            if name not in allowed:
                checker.add(line_of(entry, name), f"unknown field {name!r} in {key}")
        hide = entry.get("hide_sharing", False)
        if not isinstance(hide, bool):
            checker.add(line_of(entry, "hide_sharing"), "`hide_sharing` must be true or false")
            hide = False
        sources = source_list(entry)
        texts = checker.translations(entry, "text", limit=limit)
        missing = [lang for lang in LANGUAGES if lang not in texts]
        if texts and missing:
            checker.add(line_of(entry, "text"), f"`text` lacks {', '.join(missing)}")
        first_lines_neutral(texts, line_of(entry, "text", line), "text")
        return Notice(texts, sources, hide)

    # vocabulary.yaml
    labels: dict[str, dict[str, dict[str, str]]] = {}
    data = checker.read(folder / VOCABULARY_FILE)
    wanted = {
        "category": CATEGORIES,
        "activity": ACTIVITY,
        "hiv": HIV,
        "field": (*ACTIVITIES, "hiv"),
    }
    if isinstance(data, LineDict):
        for group, values in wanted.items():
            section = data.get(group)
            if not isinstance(section, LineDict):
                checker.add(line_of(data, group, data.line), f"`{group}` labels are missing")
                continue
            labels[group] = {}
            for value in values:
                if value not in section:
                    checker.add(section.line, f"no label for {group} value {value!r}")
                    continue
                labels[group][value] = checker.texts(
                    section[value], line_of(section, value), f"{group}.{value}"
                )
    elif data is not None:
        checker.add(start_line(data, 1), "vocabulary.yaml must map groups to labels")

    # <CC>.yaml
    cards: dict[str, LawCard] = {}
    for path in sorted(folder.glob("*.yaml")):
        if path.name in SPECIAL_FILES:
            continue
        entry = checker.read(path)
        if entry is None:
            continue
        if not isinstance(entry, LineDict):
            checker.add(start_line(entry, 1), "a law card must be a mapping")
            continue
        before = len(checker.problems)
        checker.unknown_fields(entry, CARD_FIELDS, "a law card")
        code = entry.get("country")
        if code is None:
            checker.add(entry.line, "`country` is missing")
        elif checker.country_code(code, line_of(entry, "country")) and code != path.stem:
            checker.add(line_of(entry, "country"), f"country {code} in a file named {path.name}")
        category = choice(entry, "category", CATEGORIES)
        acts = [choice(entry, key, ACTIVITY) for key in ACTIVITIES]
        hiv = choice(entry, "hiv", HIV)
        review = choice(entry, "review", REVIEW)
        as_of = entry.get("as_of")
        if as_of is None:
            checker.add(entry.line, "`as_of` is missing (the date of the information)")
        elif not AS_OF_RE.match(str(as_of)):
            checker.add(line_of(entry, "as_of"), f"as_of {as_of!r} must be YYYY or YYYY-MM")
        sources = source_list(entry)
        seen = seen_date(entry)
        notes = checker.translations(entry, "note", required=False, limit=MAX_CARD_NOTE)
        selling = acts[0]
        if category and selling and not consistent(category, selling, acts[1], acts[2]):
            checker.add(
                line_of(entry, "category"),
                f"category {category!r} does not follow from selling {selling!r}, buying "
                f"{acts[1]!r} and third_parties {acts[2]!r} (see guides/law/README.txt)",
            )
        if len(checker.problems) > before:
            continue
        assert category and hiv and review and seen and all(acts) and isinstance(code, str)
        cards[code] = LawCard(
            code,
            category,
            str(acts[0]),
            str(acts[1]),
            str(acts[2]),
            hiv,
            str(as_of),
            sources,
            seen,
            notes,
            review,
        )

    # risks.yaml
    general: Notice | None = None
    risks: dict[str, Notice] = {}
    data = checker.read(folder / RISKS_FILE)
    if isinstance(data, LineDict):
        line = line_of(data, "general", data.line)
        general = notice(data.get("general"), line, "general", MAX_RISK_TEXT)
        countries = data.get("countries")
        if not isinstance(countries, LineDict):
            line = line_of(data, "countries", data.line)
            checker.add(line, "`countries` must map codes to notices")
        else:
            for code, entry in countries.items():
                line = line_of(countries, code)
                if code is False:
                    checker.add(line, "write Norway as 'NO', in quotes")
                elif code not in country_codes():
                    checker.add(line, f"invalid country code {code!r} in risks.yaml")
                elif (found := notice(entry, line, str(code), MAX_RISK_TEXT)) is not None:
                    risks[code] = found
    elif data is not None:
        checker.add(start_line(data, 1), "risks.yaml must have `general` and `countries`")

    # after-violence.yaml
    after: Notice | None = None
    data = checker.read(folder / AFTER_VIOLENCE_FILE)
    if data is not None:
        after = notice(data, start_line(data, 1), "after-violence", MAX_AFTER_VIOLENCE)
    return Law(cards, labels, general, risks, after)


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
