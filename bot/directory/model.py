"""The directory: regions, regional networks, the needs vocabulary and services.

Loaded from `guides/networks.yaml`, `guides/needs.yaml` and `guides/services/<region>.yaml` into
frozen dataclasses. `check(guides_dir)` returns every problem as `path:line: message` (it backs
`python -m bot guides check`); `load(guides_dir)` returns a `Directory` or raises `ContentError`.

Routing: country -> region -> the network whose list holds the country, else the `global` entry.
`publicly_sex_worker_led` only orders results: the network keeps that status private, and so does
the bot, so nothing here renders it.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from babel import Locale

from bot.config import LANGUAGES
from bot.problems import ContentError, Problem

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
        "publicly_sex_worker_led",
        "languages",
        "contacts",
        "vetted_by",
        "last_verified",
        "note",
    }
)
CONTACT_FIELDS = frozenset({"website", "telegram", "email", "phone", "hours"})
NETWORK_FIELDS = frozenset(
    {"id", "name", "region", "countries", "languages", "website", "description"}
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
    # Ordering only; never shown (see the module docstring).
    publicly_sex_worker_led: bool
    languages: tuple[str, ...]
    contacts: Contacts
    vetted_by: str
    last_verified: dt.date
    notes: Mapping[str, str] = field(default_factory=dict)

    def note(self, lang: str) -> str:
        return pick(self.notes, lang) if self.notes else ""

    @property
    def located(self) -> bool:
        return self.lat is not None and self.lon is not None


def ranking(service: Service) -> tuple[bool, int, str]:
    """Community-led first, then the most recently verified, then by name."""
    return (not service.publicly_sex_worker_led, -service.last_verified.toordinal(), service.name)


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

    def need(self, need_id: str) -> Need | None:
        return next((n for n in self.needs if n.id == need_id), None)

    def services(self, country: str | None = None, need: str | None = None) -> list[Service]:
        """Matching services, community-led first, then the most recently verified."""
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


# -- reading YAML with line numbers ----------------------------------------------------------


class Mark:
    """Line numbers (1-based) of a mapping's keys or a sequence's items."""

    line: int
    lines: dict[Any, int]


class LineDict(dict[Any, Any], Mark):
    pass


class LineList(list[Any], Mark):
    pass


class _Loader(yaml.SafeLoader):
    duplicates: list[tuple[int, str]]


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Iterator[LineDict]:
    data = LineDict()
    data.line = node.start_mark.line + 1
    data.lines = {}
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in data.lines:
            loader.duplicates.append((line, f"duplicate key {key!r}"))
        data[key] = loader.construct_object(value_node, deep=True)
        data.lines[key] = line


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> Iterator[LineList]:
    data = LineList()
    data.line = node.start_mark.line + 1
    data.lines = {}
    yield data
    for i, item in enumerate(node.value):
        data.append(loader.construct_object(item, deep=True))
        data.lines[i] = item.start_mark.line + 1


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def line_of(container: object, key: Any, default: int = 1) -> int:
    if isinstance(container, Mark):
        return container.lines.get(key, container.line)
    return default


def start_line(value: object, default: int) -> int:
    return value.line if isinstance(value, Mark) else default


# -- checking --------------------------------------------------------------------------------


class Checker:
    """Collects problems while turning the YAML files into the model."""

    def __init__(self, guides_dir: Path, today: dt.date | None = None) -> None:
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
            loader = _Loader(path.read_text(encoding="utf-8"))
            loader.duplicates = []
            try:
                data = loader.get_single_data()
            finally:
                loader.dispose()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            self.add(mark.line + 1 if mark else 1, f"not valid YAML: {exc.problem or exc}")
            return None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            self.add(1, f"not valid YAML: {exc}")
            return None
        for line, message in loader.duplicates:
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
        return regions, networks

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
                    )
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
        led = entry.get("publicly_sex_worker_led", False)
        if not isinstance(led, bool):
            self.add(line_of(entry, "publicly_sex_worker_led"), "must be true or false")
        languages = self.languages(entry)
        contacts = self.contacts(entry)
        vetted_by = entry.get("vetted_by")
        if vetted_by is None:
            self.add(entry.line, "`vetted_by` is missing (the id of the network that vetted it)")
        elif vetted_by not in network_ids:
            self.add(line_of(entry, "vetted_by"), f"vetted_by: unknown network {vetted_by!r}")
        verified = self.last_verified(entry)
        notes = self.translations(entry, "note", required=False, limit=MAX_NOTE)
        if len(self.problems) > before:
            return None
        assert ident and name and isinstance(country, str) and verified is not None
        return Service(
            id=ident,
            name=name,
            country=country,
            city=city,
            lat=lat,
            lon=lon,
            needs=needs,
            publicly_sex_worker_led=bool(led),
            languages=languages,
            contacts=contacts,
            vetted_by=str(vetted_by),
            last_verified=verified,
            notes=notes,
        )

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

    def last_verified(self, entry: LineDict) -> dt.date | None:
        value = entry.get("last_verified")
        if value is None:
            self.add(entry.line, "`last_verified` is missing (the date it was last checked)")
            return None
        line = line_of(entry, "last_verified")
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            self.add(line, f"last_verified {value!r} must be a date like 2026-01-31")
            return None
        if value > self.today:
            self.add(line, f"last_verified {value.isoformat()} is in the future")
            return None
        return value


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
    directory = Directory.build(regions, networks, needs, services)
    return directory, sorted(checker.problems)


def check(guides_dir: Path, today: dt.date | None = None) -> list[Problem]:
    """Every problem in networks.yaml, needs.yaml and services/*.yaml; empty when all is well."""
    return _parse(guides_dir, today)[1]


def load(guides_dir: Path, today: dt.date | None = None) -> Directory:
    directory, problems = _parse(guides_dir, today)
    if problems:
        raise ContentError(problems)
    return directory
