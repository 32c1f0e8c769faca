"""The directory: regions, regional networks, the needs vocabulary and services.

Loaded from `guides/networks.yaml`, `guides/needs.yaml` and `guides/services/<region>.yaml` into
frozen dataclasses. `check(guides_dir)` returns every problem as `path:line: message` (it backs
`python -m bot guides check`); `load(guides_dir)` returns a `Directory` or raises `ContentError`.
Each entry is validated by its pydantic model (bot/directory/schema.py); the `read_*` functions
here add the checks that span entries or files (duplicate ids, a country in two regions or
networks, unknown regions, file names, a notice's languages and first lines).

Routing: country -> region -> the network whose list holds the country, else the `global` entry;
a network's `also_countries` are countries routed elsewhere where it has members too, so the
member chooses.

Provenance, never a claim of vetting: `listed_by` says whose public list (or the organisation's
own site) an entry comes from, `source`/`source_seen` the page and the day it was read, and
`checked_by`/`checked_on` are set only when a network has actually checked an entry.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticCustomError

from bot.config import LANGUAGES
from bot.directory import schema
from bot.directory.law import (
    AFTER_VIOLENCE_FILE,
    LAW_DIR,
    RISKS_FILE,
    SPECIAL_FILES,
    VOCABULARY_FILE,
    Law,
    LawCard,
    Notice,
)
from bot.directory.schema import OWN_SITE as OWN_SITE
from bot.directory.schema import SLUG_RE
from bot.directory.schema import country_codes as country_codes
from bot.directory.schema import language_codes as language_codes
from bot.problems import ContentError, Problem
from bot.yaml_lines import FAST_BASE, LineDict, LineList, line_of, parse, start_line

GLOBAL = "global"
EARTH_RADIUS_KM = 6371.0088
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


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


# -- reading and checking -------------------------------------------------------------------


@dataclass
class Reader:
    """Reads the directory's YAML files, collecting every problem as `path:line: message`."""

    root: Path
    today: dt.date
    problems: list[Problem] = field(default_factory=list)
    # What validators compare against: today, and the ids known once needs and networks are read.
    known: dict[str, Any] = field(default_factory=dict)

    def add(self, path: Path, line: int, message: str) -> None:
        self.problems.append(Problem(path, line, message))

    def read(self, path: Path) -> Any:
        if not path.is_file():
            self.add(path, 1, "file is missing")
            return None
        try:
            # libyaml: the directory is ~270 files, read at every start.
            data, duplicates = parse(path.read_text(encoding="utf-8"), FAST_BASE)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            self.add(path, mark.line + 1 if mark else 1, f"not valid YAML: {exc.problem or exc}")
            return None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            self.add(path, 1, f"not valid YAML: {exc}")
            return None
        for line, message in duplicates:
            self.add(path, line, message)
        return data

    def validate(
        self, model: type[M], value: object, path: Path, line: int, **how: Any
    ) -> M | None:
        """The entry as its schema model, or None after noting its problems."""
        context = {"today": self.today, **self.known}
        found, problems = schema.validate(model, value, path, line, context=context, **how)
        self.problems += problems
        return found

    def unique(self, seen: dict[str, tuple[Path, int]], ident: str, path: Path, line: int) -> bool:
        if ident in seen:
            where, first = seen[ident]
            shown = where.relative_to(self.root) if where.is_relative_to(self.root) else where
            self.add(path, line, f"duplicate id {ident!r} (first at {shown}:{first})")
            return False
        seen[ident] = (path, line)
        return True


def usable(check: Callable[[Any], T], value: object) -> T | None:
    """`value` as the schema reads it, or None: cross-entry checks skip what failed."""
    try:
        return check(value)
    except PydanticCustomError:
        return None


def country_lines(entry: LineDict, key: str) -> list[tuple[str, int]]:
    """The valid country codes of a list, each with its line."""
    value = entry.get(key)
    if not isinstance(value, list):
        return []
    line = line_of(entry, key, entry.line)
    return [(c, line_of(value, i, line)) for i, c in enumerate(value) if usable(schema.country, c)]


def entries(reader: Reader, path: Path, data: LineDict, key: str) -> list[LineDict]:
    value = data.get(key)
    if not isinstance(value, list):
        reader.add(path, line_of(data, key, data.line), f"`{key}` must be a list")
        return []
    out = []
    for i, entry in enumerate(value):
        if isinstance(entry, LineDict):
            out.append(entry)
        else:
            reader.add(path, line_of(value, i), f"each item of `{key}` must be a mapping")
    return out


def read_needs(reader: Reader) -> list[Need]:
    path = reader.root / "needs.yaml"
    data = reader.read(path)
    if data is None:
        return []
    if not isinstance(data, LineDict):
        reader.add(path, start_line(data, 1), "needs.yaml must map need ids to names per language")
        return []
    out = []
    for need_id, names in data.items():
        line = line_of(data, need_id)
        if not isinstance(need_id, str) or not SLUG_RE.match(need_id):
            reader.add(path, line, f"need id {need_id!r} must be lowercase-with-dashes")
            continue
        texts = reader.validate(schema.Texts, names, path, line, prefix=(need_id,))
        out.append(Need(need_id, texts.by_language() if texts else {}))
    return out


def read_networks(reader: Reader) -> tuple[list[Region], list[Network], dict[str, str]]:
    path = reader.root / "networks.yaml"
    data = reader.read(path)
    if data is None:
        return [], [], {}
    if not isinstance(data, LineDict):
        reader.add(path, start_line(data, 1), "networks.yaml must have `regions` and `networks`")
        return [], [], {}
    regions = read_regions(reader, path, data)
    networks = read_network_entries(reader, path, data, {r.id: r for r in regions})
    return regions, networks, read_listers(reader, path, data, {n.id for n in networks})


def read_regions(reader: Reader, path: Path, data: LineDict) -> list[Region]:
    seen: dict[str, tuple[Path, int]] = {}
    where: dict[str, tuple[str, int]] = {}
    out = []
    for entry in entries(reader, path, data, "regions"):
        valid = reader.validate(schema.Region, entry, path, entry.line)
        ident = usable(schema.text, entry.get("id"))
        if ident is not None:
            reader.unique(seen, ident, path, line_of(entry, "id"))
        mine = set()
        for code, line in country_lines(entry, "countries"):
            if code in where and where[code][0] != ident:
                other = where[code][0]
                reader.add(path, line, f"country {code} is in two regions: {other} and {ident}")
            elif code in where:
                reader.add(path, line, f"country {code} is listed twice in region {ident}")
            else:
                where[code] = (str(ident), line)
                mine.add(code)
        if ident is not None:
            # A country listed twice stays in the region that listed it first.
            names = valid.name.by_language() if valid else {}
            out.append(Region(ident, names, frozenset(mine)))
    missing = sorted(country_codes() - set(where))
    if out and missing:
        reader.add(
            path,
            line_of(data, "regions", data.line),
            "countries in no region (every country must belong to exactly one): "
            + ", ".join(missing),
        )
    return out


def read_network_entries(
    reader: Reader, path: Path, data: LineDict, regions: dict[str, Region]
) -> list[Network]:
    seen: dict[str, tuple[Path, int]] = {}
    where: dict[str, str] = {}
    out = []
    for entry in entries(reader, path, data, "networks"):
        valid = reader.validate(schema.Network, entry, path, entry.line)
        ident = usable(schema.text, entry.get("id"))
        if ident is not None:
            reader.unique(seen, ident, path, line_of(entry, "id"))
        region_id = usable(schema.text, entry.get("region"))
        region = regions.get(region_id or "")
        if region_id is not None and region is None and region_id != GLOBAL:
            reader.add(path, line_of(entry, "region"), f"unknown region {region_id!r}")
        codes = country_lines(entry, "countries")
        also = country_lines(entry, "also_countries")
        for code, line in codes:
            if code in where:
                message = f"country {code} is in two networks: {where[code]} and {ident}"
                reader.add(path, line, message)
            else:
                where[code] = str(ident)
        taken = {c for c, _ in codes}
        for code, line in also:
            if code in taken:
                message = f"country {code} is in both `countries` and `also_countries`"
                reader.add(path, line, message)
        for code, line in codes + [(c, n) for c, n in also if c not in taken]:
            if region is not None and code not in region.countries:
                message = f"country {code} is outside the network's region {region.id}"
                reader.add(path, line, message)
            elif region_id == GLOBAL:
                message = "the global entry lists no countries: it takes all the rest"
                reader.add(path, line, message)
        name = usable(schema.text, entry.get("name"))
        if ident and name and region_id:
            out.append(
                Network(
                    ident,
                    name,
                    region_id,
                    frozenset(c for c, _ in codes),
                    valid.languages if valid else (),
                    valid.website if valid else None,
                    valid.description.by_language() if valid else {},
                    frozenset(c for c, _ in also),
                )
            )
    for network in out:
        for code in sorted(network.also_countries - set(where)):
            reader.add(
                path,
                line_of(data, "networks"),
                f"{network.id}: also_countries {code} is routed to no other network, so "
                "there is no choice to offer: list it in `countries`",
            )
    if not any(n.id == GLOBAL for n in out) and "networks" in data:
        reader.add(
            path,
            line_of(data, "networks"),
            "no network with id 'global': countries without a regional network need it",
        )
    return out


def read_listers(
    reader: Reader, path: Path, data: LineDict, network_ids: set[str]
) -> dict[str, str]:
    """`listed_by` values besides network ids: lister id -> a network id, or a name."""
    value = data.get("listers", {})
    line = line_of(data, "listers", data.line)
    if not isinstance(value, dict):
        reader.add(path, line, "`listers` must map lister ids to a network id or a name")
        return {}
    out: dict[str, str] = {}
    for key, target in value.items():
        where = line_of(value, key, line)
        if not isinstance(key, str) or not SLUG_RE.match(key) or key in network_ids:
            message = f"lister id {key!r} must be lowercase-with-dashes, not a network id"
            reader.add(path, where, message)
        elif (name := usable(schema.text, target)) is None:
            reader.add(path, where, f"lister {key!r} must name a network id or an organisation")
        else:
            out[key] = name
    return out


def read_services(reader: Reader, regions: list[Region]) -> list[Service]:
    folder = reader.root / "services"
    if not folder.is_dir():
        reader.add(folder, 1, "folder is missing")
        return []
    region_ids = {r.id for r in regions}
    region_of = {c: r.id for r in regions for c in r.countries}
    seen: dict[str, tuple[Path, int]] = {}
    out = []
    for path in sorted(folder.glob("*.y*ml")):
        data = reader.read(path)
        if data is None:
            continue
        if regions and path.stem not in region_ids:
            reader.add(path, 1, f"file name must be a region id: {', '.join(sorted(region_ids))}")
        if not isinstance(data, LineList):
            reader.add(path, start_line(data, 1), "a services file must be a list of services")
            continue
        for i, entry in enumerate(data):
            if not isinstance(entry, LineDict):
                reader.add(path, line_of(data, i), "each service must be a mapping")
                continue
            valid = reader.validate(schema.Service, entry, path, entry.line)
            ident = usable(schema.text, entry.get("id"))
            if ident is not None and not reader.unique(seen, ident, path, line_of(entry, "id")):
                continue
            if valid is None:
                continue
            home = region_of.get(valid.country)
            if home is not None and home != path.stem and path.stem in region_ids:
                reader.add(
                    path,
                    line_of(entry, "country"),
                    f"country {valid.country} is in region {home}, not {path.stem}",
                )
                continue
            out.append(service(valid))
    return out


def service(entry: schema.Service) -> Service:
    fields = entry.model_dump(exclude={"contacts", "note"})
    contacts = entry.contacts.model_dump() if entry.contacts else {}
    return Service(
        **fields,
        contacts=Contacts(**{key: value for key, value in contacts.items() if value}),
        notes=entry.note.by_language() if entry.note else {},
    )


# -- guides/law/ -----------------------------------------------------------------------------


def read_law(reader: Reader, network_names: list[str]) -> Law:
    folder = reader.root / LAW_DIR
    if not folder.is_dir():
        reader.add(folder, 1, "folder is missing (law cards, risks.yaml, after-violence.yaml)")
        return Law()
    labels: dict[str, dict[str, dict[str, str]]] = {}
    path = folder / VOCABULARY_FILE
    data = reader.read(path)
    if data is not None:
        vocabulary = reader.validate(schema.Vocabulary, data, path, start_line(data, 1))
        if vocabulary is not None:
            for group, values in vocabulary.model_dump(by_alias=True).items():
                labels[group] = {
                    value: {lang: text for lang, text in texts.items() if text}
                    for value, texts in values.items()
                }
    cards: dict[str, LawCard] = {}
    for path in sorted(folder.glob("*.yaml")):
        if path.name not in SPECIAL_FILES and (card := read_card(reader, path)) is not None:
            cards[card.country] = card
    general: Notice | None = None
    risks: dict[str, Notice] = {}
    path = folder / RISKS_FILE
    data = reader.read(path)
    if isinstance(data, LineDict):
        line = line_of(data, "general", data.line)
        general = read_notice(reader, path, data.get("general"), line, "general", network_names)
        countries = data.get("countries")
        if not isinstance(countries, LineDict):
            line = line_of(data, "countries", data.line)
            reader.add(path, line, "`countries` must map codes to notices")
        else:
            for code, entry in countries.items():
                line = line_of(countries, code)
                if code is False:
                    reader.add(path, line, "write Norway as 'NO', in quotes")
                elif code not in country_codes():
                    reader.add(path, line, f"invalid country code {code!r} in risks.yaml")
                elif found := read_notice(reader, path, entry, line, str(code), network_names):
                    risks[code] = found
    elif data is not None:
        reader.add(path, start_line(data, 1), "risks.yaml must have `general` and `countries`")
    after: Notice | None = None
    path = folder / AFTER_VIOLENCE_FILE
    data = reader.read(path)
    if data is not None:
        line = start_line(data, 1)
        after = read_notice(reader, path, data, line, "after-violence", network_names)
    return Law(cards, labels, general, risks, after)


def read_card(reader: Reader, path: Path) -> LawCard | None:
    entry = reader.read(path)
    if entry is None:
        return None
    before = len(reader.problems)
    card = reader.validate(schema.LawCard, entry, path, start_line(entry, 1))
    code = usable(schema.country, entry.get("country")) if isinstance(entry, LineDict) else None
    if code is not None and code != path.stem:
        reader.add(path, line_of(entry, "country"), f"country {code} in a file named {path.name}")
    if card is None or len(reader.problems) > before:
        return None
    fields = card.model_dump(exclude={"source", "note"})
    notes = card.note.by_language() if card.note else {}
    return LawCard(**fields, sources=tuple(card.source), notes=notes)


def read_notice(
    reader: Reader, path: Path, value: object, line: int, name: str, network_names: list[str]
) -> Notice | None:
    model = schema.AfterViolence if name == "after-violence" else schema.Risk
    notice = reader.validate(model, value, path, line, name=name)
    if isinstance(value, LineDict) and isinstance(raw := value.get("text"), dict):
        # Whatever else is wrong with the notice, so that one round of fixes is enough.
        where = line_of(value, "text", line)
        for message in notice_rules(raw, network_names):
            reader.add(path, where, message)
    if notice is None:
        return None
    texts = notice.text.by_language()
    return Notice(texts, tuple(notice.source), notice.hide_sharing)


def notice_rules(texts: dict[Any, Any], network_names: list[str]) -> list[str]:
    """A notice is in every language, and its first two lines name neither sex work nor a network
    (a lock screen shows them). Checked on the texts that are valid text."""
    valid = {lang: t for lang in LANGUAGES if (t := usable(schema.text, texts.get(lang)))}
    missing = [lang for lang in LANGUAGES if lang not in valid]
    out = [f"`text` lacks {', '.join(missing)}"] if valid and missing else []
    names = [n.casefold() for n in network_names if len(n) > 2]
    for lang, text in valid.items():
        head = "\n".join(text.splitlines()[:2]).casefold()
        if any(word in head for word in ("sex work", "escort", "prostitut", *names)):
            out.append(f"`text.{lang}`: the first two lines must not name sex work or a network")
    return out


def _parse(guides_dir: Path, today: dt.date | None) -> tuple[Directory | None, list[Problem]]:
    reader = Reader(guides_dir, today or dt.date.today())
    needs = read_needs(reader)
    regions, networks, listers = read_networks(reader)
    reader.known = {
        "needs": {n.id for n in needs},
        "networks": {n.id for n in networks},
        "listers": listers,
    }
    services = read_services(reader, regions)
    law = read_law(reader, [w for n in networks for w in (n.id, n.name)])
    if reader.problems:
        return None, sorted(reader.problems)
    built = Directory.build(regions, networks, needs, services)
    return replace(built, law=law, listers=listers), []


def check(guides_dir: Path, today: dt.date | None = None) -> list[Problem]:
    """Every problem in the directory's files (networks, needs, services, law); [] when none."""
    return _parse(guides_dir, today)[1]


def load(guides_dir: Path, today: dt.date | None = None) -> Directory:
    directory, problems = _parse(guides_dir, today)
    if directory is None:
        raise ContentError(problems)
    return directory
