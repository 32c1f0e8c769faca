"""The directory: regions, regional networks, the needs vocabulary and services.

Loaded from `guides/networks.yaml`, `guides/needs.yaml` and `guides/services/<region>.yaml` into
frozen dataclasses. `check(guides_dir)` returns every problem as `path:line: message` (it backs
`python -m bot guides check`); `load(guides_dir)` returns a `Directory` or raises `ContentError`.

Routing: country -> region -> the network whose list holds the country, else the `global` entry;
a network's `also_countries` are countries routed elsewhere where it has members too, so the
member chooses.

Provenance, never a claim of vetting: `listed_by` says whose public list (or the organisation's
own site) an entry comes from, `source`/`source_seen` the page and the day it was read, and
`checked_by`/`checked_on` are set only when a network has actually checked an entry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import heapq
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from babel import Locale

from bot.config import LANGUAGES
from bot.directory.law import (
    ACTIVITIES,
    ACTIVITY,
    AFTER_VIOLENCE_FILE,
    AS_OF_RE,
    CARD_FIELDS,
    CATEGORIES,
    HIV,
    LAW_DIR,
    MAX_AFTER_VIOLENCE,
    MAX_CARD_NOTE,
    MAX_RISK_TEXT,
    RISKS_FILE,
    SPECIAL_FILES,
    VOCABULARY_FILE,
    Law,
    LawCard,
    Notice,
    consistent,
)
from bot.directory.law import REVIEW as LAW_REVIEW
from bot.problems import ContentError, Problem
from bot.yaml_lines import FAST_BASE, LineDict, LineList, line_of, parse, start_line

GLOBAL = "global"
# Babel's territories include groupings, reserved and uninhabited codes nobody lives in; Kosovo
# (XK) is user-assigned but in everyday use, so it stays.
NOT_COUNTRIES = frozenset(
    {"EU", "EZ", "UN", "QO", "ZZ", "XA", "XB", "AQ", "BV", "HM", "TF", "UM", "CP", "DG", "EA"}
    | {"IC", "TA", "AC"}
)
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
EMAIL_RE = re.compile(r"^[^@\s<>\"]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
# Telegram usernames: 5-32 characters, letters, digits and underscores, starting with a letter.
TELEGRAM_RE = re.compile(r"^@?([A-Za-z][A-Za-z0-9_]{3,30}[A-Za-z0-9])$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()./-]{5,24}[0-9]$")
EARTH_RADIUS_KM = 6371.0088
# Telegram allows 4096 characters a message: a page of three service cards, or a network card
# under a heading, must fit.
MAX_TEXT = 1000
MAX_NOTE = 600

SERVICE_FIELDS = frozenset(
    {
        "id",
        "name",
        "country",
        "city",
        "lat",
        "lon",
        "needs",
        "languages",
        "contacts",
        "listed_by",
        "source",
        "source_seen",
        "checked_by",
        "checked_on",
        "note",
        "review",
    }
)
# Whose public list an entry comes from: a network id from networks.yaml, a lister that
# networks.yaml's `listers` map names (to a network id, or to a name), or the organisation's own
# site. No organisation's name is written in the code (see test_privacy_branding).
OWN_SITE = "own-site"
REVIEW = ("draft", "reviewed")
CONTACT_FIELDS = frozenset({"website", "telegram", "email", "phone", "hours"})
NETWORK_FIELDS = frozenset(
    {"id", "name", "region", "countries", "also_countries", "languages", "website"}
    | {"description"}
)
REGION_FIELDS = frozenset({"id", "name", "countries"})


@cache
def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes of places people live in, from Babel's CLDR data."""
    return frozenset(
        code
        for code in Locale("en").territories
        if isinstance(code, str)
        and len(code) == 2
        and code.isalpha()
        and code not in NOT_COUNTRIES
    )


@cache
def language_codes() -> frozenset[str]:
    """ISO 639 codes Babel knows a name for (services may speak Bengali, Thai, Ukrainian...)."""
    return frozenset(
        code for code in Locale("en").languages if isinstance(code, str) and code.isalpha()
    )


def pick(texts: Mapping[str, str], lang: str) -> str:
    """The text in `lang`, else English (always present: the check requires it)."""
    return texts.get(lang) or texts.get("en") or next(iter(texts.values()), "")


# -- the model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    id: str
    names: Mapping[str, str]
    countries: frozenset[str]

    def name(self, lang: str) -> str:
        return pick(self.names, lang)


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    region: str
    countries: frozenset[str]
    languages: tuple[str, ...]
    website: str | None
    descriptions: Mapping[str, str]
    # Countries another network routes to, where this one has members too: the member chooses.
    also_countries: frozenset[str] = frozenset()

    def description(self, lang: str) -> str:
        return pick(self.descriptions, lang)


@dataclass(frozen=True)
class Need:
    id: str
    names: Mapping[str, str]

    def name(self, lang: str) -> str:
        return pick(self.names, lang)


@dataclass(frozen=True)
class Contacts:
    website: str | None = None
    telegram: str | None = None  # the bare username, without "@"
    email: str | None = None
    phone: str | None = None
    hours: str | None = None

    @property
    def telegram_url(self) -> str | None:
        return f"https://t.me/{self.telegram}" if self.telegram else None


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    country: str
    city: str | None
    lat: float | None
    lon: float | None
    needs: tuple[str, ...]
    languages: tuple[str, ...]
    contacts: Contacts
    listed_by: str
    source: str
    source_seen: dt.date
    review: str = "draft"
    checked_by: str | None = None
    checked_on: dt.date | None = None
    notes: Mapping[str, str] = field(default_factory=dict)

    def note(self, lang: str) -> str:
        return pick(self.notes, lang) if self.notes else ""

    @property
    def located(self) -> bool:
        return self.lat is not None and self.lon is not None


def ranking(service: Service) -> tuple[int, str]:
    """Entries a network has checked first (the most recent first), then by name."""
    checked = service.checked_on.toordinal() if service.checked_on else 0
    return (-checked, service.name.casefold())


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine): a dozen lines are simpler than a geodesy dependency."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def unit_vector(lat: float, lon: float) -> tuple[float, float, float]:
    p, lam = math.radians(lat), math.radians(lon)
    return (math.cos(p) * math.cos(lam), math.cos(p) * math.sin(lam), math.sin(p))


Point = tuple[float, float, float, int]  # x, y, z on the unit sphere; the service's index
Node = tuple[int, float, "Node", "Node"] | list[Point]  # (axis, split, below, above) or a leaf
LEAF_SIZE = 8


class SphereIndex:
    """A k-d tree over points on the unit sphere, for nearest-service search.

    The straight-line (chord) distance between two points on a sphere grows with their
    great-circle distance, so the nearest by chord are exactly the nearest on the globe, with no
    special case at the poles or the date line. Hand-written (40 lines) because the alternatives
    (scipy's cKDTree, sklearn's BallTree) would bring numpy and scipy for this one search.
    """

    def __init__(self, points: list[Point]) -> None:
        self.root: Node | None = self._build(points, 0) if points else None

    def _build(self, points: list[Point], depth: int) -> Node:
        if len(points) <= LEAF_SIZE:
            return points
        axis = depth % 3
        points.sort(key=lambda p: p[axis])
        mid = len(points) // 2
        return (
            axis,
            points[mid][axis],
            self._build(points[:mid], depth + 1),
            self._build(points[mid:], depth + 1),
        )

    def nearest(self, target: tuple[float, float, float], k: int) -> list[tuple[float, int]]:
        """Up to k (squared chord distance, index) pairs, nearest first."""
        heap: list[tuple[float, int]] = []  # max-heap by negated distance
        tx, ty, tz = target

        def visit(node: Node) -> None:
            if isinstance(node, list):
                for x, y, z, index in node:
                    d = (x - tx) ** 2 + (y - ty) ** 2 + (z - tz) ** 2
                    if len(heap) < k:
                        heapq.heappush(heap, (-d, index))
                    elif d < -heap[0][0]:
                        heapq.heapreplace(heap, (-d, index))
                return
            axis, split, below, above = node
            diff = target[axis] - split
            near, far = (below, above) if diff < 0 else (above, below)
            visit(near)
            if len(heap) < k or diff * diff < -heap[0][0]:
                visit(far)

        if self.root is not None and k > 0:
            visit(self.root)
        return sorted((-d, index) for d, index in heap)


@dataclass(frozen=True)
class Directory:
    regions: tuple[Region, ...]
    networks: tuple[Network, ...]
    needs: tuple[Need, ...]
    all_services: tuple[Service, ...]
    _region_of: Mapping[str, Region] = field(repr=False, compare=False)
    _network_of: Mapping[str, Network] = field(repr=False, compare=False)
    _by_country: Mapping[str, tuple[Service, ...]] = field(repr=False, compare=False)
    _located: tuple[Service, ...] = field(repr=False, compare=False)
    _index: SphereIndex = field(repr=False, compare=False)
    law: Law = field(default_factory=Law)
    # `listed_by` values besides network ids: lister id -> a network id, or a display name.
    listers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        regions: Iterable[Region],
        networks: Iterable[Network],
        needs: Iterable[Need],
        services: Iterable[Service],
    ) -> Directory:
        regions, networks = tuple(regions), tuple(networks)
        ranked = tuple(sorted(services, key=ranking))
        by_country: dict[str, list[Service]] = {}
        for service in ranked:
            by_country.setdefault(service.country, []).append(service)
        located = [s for s in ranked if s.located]
        points = [(*unit_vector(s.lat or 0.0, s.lon or 0.0), i) for i, s in enumerate(located)]
        return cls(
            regions=regions,
            networks=networks,
            needs=tuple(needs),
            all_services=ranked,
            _region_of={c: r for r in regions for c in r.countries},
            _network_of={c: n for n in networks for c in n.countries},
            _by_country={c: tuple(s) for c, s in by_country.items()},
            _located=tuple(located),
            _index=SphereIndex(points),
        )

    def region(self, region_id: str) -> Region | None:
        return next((r for r in self.regions if r.id == region_id), None)

    def region_of(self, country: str) -> Region | None:
        return self._region_of.get(country)

    def network(self, network_id: str) -> Network | None:
        return next((n for n in self.networks if n.id == network_id), None)

    @property
    def global_network(self) -> Network:
        network = self.network(GLOBAL)
        assert network is not None, "the check requires a global entry"
        return network

    def network_for(self, country: str | None) -> Network:
        """The regional network for a country, else the global secretariat."""
        if country is None:
            return self.global_network
        return self._network_of.get(country) or self.global_network

    def networks_for(self, country: str | None) -> list[Network]:
        """The network a country routes to, then any other that also has members there."""
        first = self.network_for(country)
        others = [n for n in self.networks if country in n.also_countries and n is not first]
        return [first, *others]

    def lister(self, lister_id: str) -> Network | str:
        """The network behind a `listed_by`/`checked_by` value, else the lister's name."""
        target = self.listers.get(lister_id, lister_id)
        return self.network(target) or target

    def need(self, need_id: str) -> Need | None:
        return next((n for n in self.needs if n.id == need_id), None)

    def services(self, country: str | None = None, need: str | None = None) -> list[Service]:
        """Matching services: checked ones first, then by name."""
        pool = self.all_services if country is None else self._by_country.get(country, ())
        return [s for s in pool if need is None or need in s.needs]

    def nearest(self, lat: float, lon: float, limit: int = 5) -> list[tuple[Service, float]]:
        """The `limit` nearest located services with their distance in km, nearest first."""
        found = self._index.nearest(unit_vector(lat, lon), limit)
        out = []
        for _chord, index in found:
            service = self._located[index]
            km = distance_km(lat, lon, service.lat or 0.0, service.lon or 0.0)
            out.append((service, km))
        return sorted(out, key=lambda pair: pair[1])


# -- checking --------------------------------------------------------------------------------


class Checker:
    """Collects problems while turning the YAML files into the model."""

    def __init__(self, guides_dir: Path, today: dt.date | None = None) -> None:
        self.listers: dict[str, str] = {}
        self.root = guides_dir
        self.today = today or dt.date.today()
        self.problems: list[Problem] = []
        self.path = guides_dir

    def add(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, message))

    def read(self, path: Path) -> Any:
        self.path = path
        if not path.is_file():
            self.add(1, "file is missing")
            return None
        try:
            # libyaml: the directory is ~270 files, read at every start.
            data, duplicates = parse(path.read_text(encoding="utf-8"), FAST_BASE)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            self.add(mark.line + 1 if mark else 1, f"not valid YAML: {exc.problem or exc}")
            return None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            self.add(1, f"not valid YAML: {exc}")
            return None
        for line, message in duplicates:
            self.add(line, message)
        return data

    # -- field helpers ----------------------------------------------------------------------
    def text(self, entry: LineDict, key: str, required: bool = True) -> str | None:
        value = entry.get(key)
        if value is None:
            if required:
                self.add(entry.line, f"`{key}` is missing")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(line_of(entry, key), f"`{key}` must be non-empty text")
            return None
        return value.strip()

    def translations(
        self, entry: LineDict, key: str, required: bool = True, limit: int = MAX_TEXT
    ) -> dict[str, str]:
        value = entry.get(key)
        if value is None:
            if required:
                self.add(entry.line, f"`{key}` is missing")
            return {}
        return self.texts(value, line_of(entry, key, entry.line), key, limit)

    def texts(self, value: object, line: int, key: str, limit: int = MAX_TEXT) -> dict[str, str]:
        """A mapping of language code -> text, with English required."""
        if not isinstance(value, dict):
            self.add(line, f"`{key}` must map language codes to text")
            return {}
        out: dict[str, str] = {}
        for lang, text in value.items():
            if lang not in LANGUAGES:
                self.add(
                    line_of(value, lang, line),
                    f"unknown language {lang!r} in `{key}` (use one of {', '.join(LANGUAGES)})",
                )
            elif not isinstance(text, str) or not text.strip():
                self.add(line_of(value, lang, line), f"`{key}.{lang}` must be non-empty text")
            else:
                out[lang] = text.strip()
                if len(out[lang]) > limit:
                    self.add(
                        line_of(value, lang, line),
                        f"`{key}.{lang}` is too long ({len(out[lang])} > {limit} characters)",
                    )
        if "en" not in value:
            self.add(line, f"`{key}` has no English (en) text")
        return out

    def countries(self, entry: LineDict, key: str = "countries") -> list[tuple[str, int]]:
        value = entry.get(key)
        line = line_of(entry, key, entry.line)
        if value is None:
            self.add(entry.line, f"`{key}` is missing")
            return []
        if not isinstance(value, list):
            self.add(line, f"`{key}` must be a list of country codes")
            return []
        out = []
        for i, code in enumerate(value):
            item_line = line_of(value, i, line)
            if self.country_code(code, item_line):
                out.append((code, item_line))
        return out

    def country_code(self, code: object, line: int) -> bool:
        if code is False:
            # YAML 1.1 reads a bare NO (Norway) as false.
            self.add(line, "invalid country code false: write Norway as 'NO', in quotes")
            return False
        if not isinstance(code, str) or code not in country_codes():
            self.add(line, f"invalid country code {code!r} (expected ISO 3166-1 alpha-2, e.g. KE)")
            return False
        return True

    def languages(self, entry: LineDict) -> tuple[str, ...]:
        value = entry.get("languages")
        line = line_of(entry, "languages", entry.line)
        if value is None:
            self.add(entry.line, "`languages` is missing")
            return ()
        if not isinstance(value, list):
            self.add(line, "`languages` must be a list of language codes")
            return ()
        out = []
        for i, code in enumerate(value):
            if isinstance(code, str) and code in language_codes():
                out.append(code)
            else:
                self.add(
                    line_of(value, i, line),
                    f"unknown language {code!r} (expected an ISO 639 code such as en, ru, sw)",
                )
        return tuple(out)

    def url(self, value: object, line: int, key: str) -> str | None:
        if not isinstance(value, str) or not is_url(value):
            self.add(line, f"malformed URL in `{key}`: {value!r} (expected https://host/...)")
            return None
        return value

    def unknown_fields(self, entry: LineDict, allowed: frozenset[str], what: str) -> None:
        for key in entry:
            if key not in allowed:
                self.add(line_of(entry, key), f"unknown field {key!r} in {what}")

    def unique(self, seen: dict[str, tuple[Path, int]], ident: str, line: int) -> None:
        if ident in seen:
            where, first = seen[ident]
            shown = where.relative_to(self.root) if where.is_relative_to(self.root) else where
            self.add(line, f"duplicate id {ident!r} (first at {shown}:{first})")
        else:
            seen[ident] = (self.path, line)

    def ident(self, entry: LineDict, seen: dict[str, tuple[Path, int]]) -> str | None:
        ident = self.text(entry, "id")
        if ident is None:
            return None
        if not SLUG_RE.match(ident):
            self.add(line_of(entry, "id"), f"id {ident!r} must be lowercase-with-dashes")
        self.unique(seen, ident, line_of(entry, "id"))
        return ident

    # -- files -------------------------------------------------------------------------------
    def needs(self) -> list[Need]:
        data = self.read(self.root / "needs.yaml")
        if data is None:
            return []
        if not isinstance(data, LineDict):
            self.add(start_line(data, 1), "needs.yaml must map need ids to names per language")
            return []
        out = []
        for need_id, names in data.items():
            line = line_of(data, need_id)
            if not isinstance(need_id, str) or not SLUG_RE.match(need_id):
                self.add(line, f"need id {need_id!r} must be lowercase-with-dashes")
                continue
            out.append(Need(need_id, self.texts(names, line, need_id)))
        return out

    def networks(self) -> tuple[list[Region], list[Network]]:
        data = self.read(self.root / "networks.yaml")
        if data is None:
            return [], []
        if not isinstance(data, LineDict):
            self.add(start_line(data, 1), "networks.yaml must have `regions` and `networks`")
            return [], []
        regions = self.regions(data)
        networks = self.network_entries(data, {r.id: r for r in regions})
        self.listers = self.lister_map(data, {n.id for n in networks})
        return regions, networks

    def lister_map(self, data: LineDict, network_ids: set[str]) -> dict[str, str]:
        value = data.get("listers", {})
        line = line_of(data, "listers", data.line)
        if not isinstance(value, dict):
            self.add(line, "`listers` must map lister ids to a network id or a name")
            return {}
        out: dict[str, str] = {}
        for key, target in value.items():
            where = line_of(value, key, line)
            if not isinstance(key, str) or not SLUG_RE.match(key) or key in network_ids:
                self.add(
                    where, f"lister id {key!r} must be lowercase-with-dashes, not a network id"
                )
            elif not isinstance(target, str) or not target.strip():
                self.add(where, f"lister {key!r} must name a network id or an organisation")
            else:
                out[key] = target.strip()
        return out

    def entries(self, data: LineDict, key: str) -> list[LineDict]:
        value = data.get(key)
        if not isinstance(value, list):
            self.add(line_of(data, key, data.line), f"`{key}` must be a list")
            return []
        out = []
        for i, entry in enumerate(value):
            if isinstance(entry, LineDict):
                out.append(entry)
            else:
                self.add(line_of(value, i), f"each item of `{key}` must be a mapping")
        return out

    def regions(self, data: LineDict) -> list[Region]:
        seen: dict[str, tuple[Path, int]] = {}
        where: dict[str, tuple[str, int]] = {}
        out = []
        for entry in self.entries(data, "regions"):
            self.unknown_fields(entry, REGION_FIELDS, "a region")
            ident = self.ident(entry, seen)
            names = self.translations(entry, "name")
            codes = self.countries(entry)
            mine = set()
            for code, line in codes:
                if code in where and where[code][0] != ident:
                    other = where[code][0]
                    self.add(line, f"country {code} is in two regions: {other} and {ident}")
                elif code in where:
                    self.add(line, f"country {code} is listed twice in region {ident}")
                else:
                    where[code] = (str(ident), line)
                    mine.add(code)
            if ident is not None:
                # A country listed twice stays in the region that listed it first.
                out.append(Region(ident, names, frozenset(mine)))
        missing = sorted(country_codes() - set(where))
        if out and missing:
            self.add(
                line_of(data, "regions", data.line),
                "countries in no region (every country must belong to exactly one): "
                + ", ".join(missing),
            )
        return out

    def network_entries(self, data: LineDict, regions: dict[str, Region]) -> list[Network]:
        seen: dict[str, tuple[Path, int]] = {}
        where: dict[str, str] = {}
        out = []
        for entry in self.entries(data, "networks"):
            self.unknown_fields(entry, NETWORK_FIELDS, "a network")
            ident = self.ident(entry, seen)
            name = self.text(entry, "name")
            region_id = self.text(entry, "region")
            region = regions.get(region_id or "")
            if region_id is not None and region is None and region_id != GLOBAL:
                self.add(line_of(entry, "region"), f"unknown region {region_id!r}")
            codes = self.countries(entry)
            for code, line in codes:
                if code in where:
                    self.add(line, f"country {code} is in two networks: {where[code]} and {ident}")
                else:
                    where[code] = str(ident)
                if region is not None and code not in region.countries:
                    self.add(line, f"country {code} is outside the network's region {region.id}")
                elif region_id == GLOBAL:
                    self.add(line, "the global entry lists no countries: it takes all the rest")
            also = self.countries(entry, "also_countries") if "also_countries" in entry else []
            for code, line in also:
                if code in {c for c, _ in codes}:
                    self.add(line, f"country {code} is in both `countries` and `also_countries`")
                elif region is not None and code not in region.countries:
                    self.add(line, f"country {code} is outside the network's region {region.id}")
                elif region_id == GLOBAL:
                    self.add(line, "the global entry lists no countries: it takes all the rest")
            languages = self.languages(entry)
            website = entry.get("website")
            if website is not None:
                website = self.url(website, line_of(entry, "website"), "website")
            descriptions = self.translations(entry, "description")
            if ident and name and region_id:
                out.append(
                    Network(
                        ident,
                        name,
                        region_id,
                        frozenset(c for c, _ in codes),
                        languages,
                        website,
                        descriptions,
                        frozenset(c for c, _ in also),
                    )
                )
        for network in out:
            for code in sorted(network.also_countries - set(where)):
                self.add(
                    line_of(data, "networks"),
                    f"{network.id}: also_countries {code} is routed to no other network, so "
                    "there is no choice to offer: list it in `countries`",
                )
        if not any(n.id == GLOBAL for n in out) and "networks" in data:
            self.add(
                line_of(data, "networks"),
                "no network with id 'global': countries without a regional network need it",
            )
        return out

    def services(
        self, regions: list[Region], networks: list[Network], needs: list[Need]
    ) -> list[Service]:
        folder = self.root / "services"
        self.path = folder
        if not folder.is_dir():
            self.add(1, "folder is missing")
            return []
        region_ids = {r.id for r in regions}
        region_of = {c: r.id for r in regions for c in r.countries}
        network_ids = {n.id for n in networks}
        need_ids = {n.id for n in needs}
        seen: dict[str, tuple[Path, int]] = {}
        out = []
        for path in sorted(folder.glob("*.y*ml")):
            data = self.read(path)
            if data is None:
                continue
            if regions and path.stem not in region_ids:
                self.add(1, f"file name must be a region id: {', '.join(sorted(region_ids))}")
            if not isinstance(data, LineList):
                self.add(start_line(data, 1), "a services file must be a list of services")
                continue
            for i, entry in enumerate(data):
                if not isinstance(entry, LineDict):
                    self.add(line_of(data, i), "each service must be a mapping")
                    continue
                service = self.service(entry, seen, network_ids, need_ids)
                if service is None:
                    continue
                home = region_of.get(service.country)
                if home is not None and home != path.stem and path.stem in region_ids:
                    self.add(
                        line_of(entry, "country"),
                        f"country {service.country} is in region {home}, not {path.stem}",
                    )
                out.append(service)
        return out

    def service(
        self,
        entry: LineDict,
        seen: dict[str, tuple[Path, int]],
        network_ids: set[str],
        need_ids: set[str],
    ) -> Service | None:
        before = len(self.problems)
        self.unknown_fields(entry, SERVICE_FIELDS, "a service")
        ident = self.ident(entry, seen)
        name = self.text(entry, "name")
        country = entry.get("country")
        if country is None:
            self.add(entry.line, "`country` is missing")
        else:
            self.country_code(country, line_of(entry, "country"))
        city = self.text(entry, "city", required=False)
        lat, lon = self.coordinates(entry)
        needs = self.service_needs(entry, need_ids)
        languages = self.languages(entry)
        contacts = self.contacts(entry)
        listed_by = entry.get("listed_by")
        if listed_by is None:
            self.add(entry.line, "`listed_by` is missing (whose public list it comes from)")
        elif listed_by not in (known := sorted({*network_ids, *self.listers, OWN_SITE})):
            self.add(
                line_of(entry, "listed_by"),
                f"listed_by: unknown value {listed_by!r} (one of {', '.join(known)})",
            )
        source = entry.get("source")
        if source is None:
            self.add(entry.line, "`source` is missing (the public page this entry came from)")
        else:
            source = self.url(source, line_of(entry, "source"), "source")
        read_on = self.date(entry, "source_seen", "the date the source was read")
        review = entry.get("review", "draft")
        if review not in REVIEW:
            self.add(line_of(entry, "review"), f"review {review!r} must be draft or reviewed")
        checked_by, checked_on = self.checked(entry, network_ids)
        notes = self.translations(entry, "note", required=False, limit=MAX_NOTE)
        if len(self.problems) > before:
            return None
        assert ident and name and isinstance(country, str) and read_on is not None
        assert isinstance(listed_by, str) and isinstance(source, str)
        return Service(
            id=ident,
            name=name,
            country=country,
            city=city,
            lat=lat,
            lon=lon,
            needs=needs,
            languages=languages,
            contacts=contacts,
            listed_by=listed_by,
            source=source,
            source_seen=read_on,
            review=str(review),
            checked_by=checked_by,
            checked_on=checked_on,
            notes=notes,
        )

    def checked(self, entry: LineDict, network_ids: set[str]) -> tuple[str | None, dt.date | None]:
        """`checked_by` + `checked_on`: both or neither; only a network really checks."""
        by = entry.get("checked_by")
        on = self.date(entry, "checked_on", "", required=False)
        if by is None and "checked_on" in entry:
            self.add(line_of(entry, "checked_on"), "`checked_on` without `checked_by`")
        if by is None:
            return None, None
        if by not in network_ids:
            self.add(line_of(entry, "checked_by"), f"checked_by: unknown network {by!r}")
        if "checked_on" not in entry:
            self.add(
                line_of(entry, "checked_by"),
                "`checked_by` without `checked_on` (the date the network checked it)",
            )
        return str(by), on

    def coordinates(self, entry: LineDict) -> tuple[float | None, float | None]:
        out: list[float | None] = []
        for key, limit in (("lat", 90), ("lon", 180)):
            value = entry.get(key)
            if value is None:
                out.append(None)
                continue
            line = line_of(entry, key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.add(line, f"`{key}` must be a number")
                out.append(None)
            elif not -limit <= value <= limit or math.isnan(value):
                self.add(line, f"`{key}` {value} is out of range (-{limit} to {limit})")
                out.append(None)
            else:
                out.append(float(value))
        if ("lat" in entry) != ("lon" in entry):
            self.add(entry.line, "give both `lat` and `lon`, or neither")
        return out[0], out[1]

    def service_needs(self, entry: LineDict, need_ids: set[str]) -> tuple[str, ...]:
        value = entry.get("needs", [])
        line = line_of(entry, "needs", entry.line)
        if not isinstance(value, list):
            self.add(line, "`needs` must be a list of need ids")
            return ()
        out = []
        for i, need in enumerate(value):
            if need in need_ids:
                out.append(need)
            else:
                self.add(line_of(value, i, line), f"unknown need {need!r} (see needs.yaml)")
        return tuple(out)

    def contacts(self, entry: LineDict) -> Contacts:
        value = entry.get("contacts")
        if value is None:
            return Contacts()
        line = line_of(entry, "contacts")
        if not isinstance(value, LineDict):
            self.add(line, "`contacts` must be a mapping")
            return Contacts()
        self.unknown_fields(value, CONTACT_FIELDS, "contacts")
        found: dict[str, str] = {}
        for key in sorted(CONTACT_FIELDS & set(value)):
            raw, where = value[key], line_of(value, key)
            if not isinstance(raw, str) or not raw.strip():
                self.add(where, f"`contacts.{key}` must be non-empty text")
                continue
            raw = raw.strip()
            if key == "website":
                if self.url(raw, where, "contacts.website"):
                    found[key] = raw
            elif key == "telegram":
                handle = telegram_handle(raw)
                if handle is None:
                    self.add(where, f"malformed Telegram handle {raw!r} (expected @name)")
                else:
                    found[key] = handle
            elif key == "email":
                if EMAIL_RE.match(raw):
                    found[key] = raw
                else:
                    self.add(where, f"malformed email {raw!r}")
            elif key == "phone":
                if PHONE_RE.match(raw):
                    found[key] = raw
                else:
                    self.add(where, f"malformed phone number {raw!r} (expected +country number)")
            else:
                found[key] = raw
        return Contacts(**found)

    def date(self, entry: LineDict, key: str, what: str, required: bool = True) -> dt.date | None:
        value = entry.get(key)
        if value is None:
            if required:
                self.add(entry.line, f"`{key}` is missing ({what})")
            return None
        line = line_of(entry, key)
        if isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                self.add(line, f"{key} {value!r} must be a date like 2026-01-31")
                return None
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            self.add(line, f"{key} {value!r} must be a date like 2026-01-31")
            return None
        if value > self.today:
            self.add(line, f"{key} {value.isoformat()} is in the future")
            return None
        return value


# -- checking guides/law/ -------------------------------------------------------------------


def check_law(checker: Checker, network_names: list[str] | None = None) -> Law:
    """Read guides/law/ with the directory's checker (it collects `path:line` problems)."""
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
        review = choice(entry, "review", LAW_REVIEW)
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


def is_url(value: str) -> bool:
    if any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    host = parts.hostname or ""
    return parts.scheme in ("http", "https") and "." in host and not host.endswith(".")


def telegram_handle(raw: str) -> str | None:
    """'@name', 'name' or 't.me/name' -> 'name'; None when it cannot be a username."""
    value = raw.strip()
    for prefix in ("https://t.me/", "http://t.me/", "t.me/"):
        if value.startswith(prefix):
            value = value[len(prefix) :]
            break
    match = TELEGRAM_RE.match(value)
    return match.group(1) if match else None


def _parse(guides_dir: Path, today: dt.date | None) -> tuple[Directory, list[Problem]]:
    checker = Checker(guides_dir, today)
    needs = checker.needs()
    regions, networks = checker.networks()
    services = checker.services(regions, networks, needs)
    law = check_law(checker, [w for n in networks for w in (n.id, n.name)])
    built = Directory.build(regions, networks, needs, services)
    directory = replace(built, law=law, listers=checker.listers)
    return directory, sorted(checker.problems)


def check(guides_dir: Path, today: dt.date | None = None) -> list[Problem]:
    """Every problem in networks.yaml, needs.yaml and services/*.yaml; empty when all is well."""
    return _parse(guides_dir, today)[1]


def load(guides_dir: Path, today: dt.date | None = None) -> Directory:
    directory, problems = _parse(guides_dir, today)
    if problems:
        raise ContentError(problems)
    return directory
