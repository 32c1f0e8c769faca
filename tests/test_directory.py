"""The directory: seed content checks clean; routing, ordering, nearest search; broken files."""

from __future__ import annotations

import datetime as dt
import random
import re
import shutil
from pathlib import Path

import pytest

from bot.app import create_app
from bot.config import LANGUAGES, PROJECT_ROOT, Settings
from bot.directory import schema
from bot.directory.law import ACTIVITIES, ACTIVITY, CATEGORIES, HIV
from bot.directory.model import (
    GLOBAL,
    Contacts,
    Directory,
    Need,
    Network,
    Region,
    Service,
    check,
    country_codes,
    distance_km,
    load,
)
from bot.problems import ContentError
from tests.seed import seed_directory

GUIDES = PROJECT_ROOT / "guides"
FIXTURES = Path(__file__).parent / "fixtures" / "directory"
TODAY = dt.date(2026, 6, 1)
BROKEN = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name != "valid")


def test_seed_directory_checks_clean() -> None:
    """The shipped networks, needs and services have no problem."""
    assert [str(p) for p in check(GUIDES)] == []


def test_every_country_is_in_exactly_one_region() -> None:
    """Every member can be routed: the regions partition Babel's country list."""
    directory = seed_directory()
    seen: list[str] = [c for r in directory.regions for c in r.countries]
    assert sorted(seen) == sorted(country_codes())
    assert "XK" in country_codes() and "EU" not in country_codes() and "AQ" not in country_codes()


@pytest.mark.parametrize(
    ("country", "network"),
    [("KG", "swan"), ("KE", "aswa"), ("FR", "eswa"), ("TH", "apnsw"), ("EC", "plaperts"),
     ("JM", "cswc"), ("US", GLOBAL), ("CA", GLOBAL), (None, GLOBAL), ("ZZ", GLOBAL)],
)  # fmt: skip
def test_country_routes_to_its_network_or_the_global_entry(
    country: str | None, network: str
) -> None:
    """A country in no network's list (Canada, the USA) goes to the global secretariat."""
    assert seed_directory().network_for(country).id == network


def test_region_of() -> None:
    """The region lookup names the region, in each language."""
    directory = seed_directory()
    region = directory.region_of("KG")
    assert region is not None and region.id == "europe"
    assert region.name("ru") == "Европа и Центральная Азия"
    assert directory.region_of("ZZ") is None


def service(
    ident: str,
    checked: dt.date | None = None,
    lat: float | None = None,
    lon: float | None = None,
    country: str = "KE",
    needs: tuple[str, ...] = ("legal-help",),
) -> Service:
    return Service(
        id=ident,
        name=ident.title(),
        country=country,
        city=None,
        lat=lat,
        lon=lon,
        needs=needs,
        languages=("en",),
        contacts=Contacts(),
        listed_by=GLOBAL,
        source="https://example.org/members",
        source_seen=dt.date(2026, 1, 1),
        checked_by=GLOBAL if checked else None,
        checked_on=checked,
    )


def small(services: list[Service]) -> Directory:
    world = Region("world", {"en": "World"}, country_codes())
    network = Network(GLOBAL, "Global", GLOBAL, frozenset(), ("en",), None, {"en": "All."})
    needs = [Need("legal-help", {"en": "Legal help"}), Need("hiv", {"en": "HIV"})]
    return Directory.build([world], [network], needs, services)


def test_checked_first_then_by_name() -> None:
    """Ordering: entries a network checked first (most recent first), then by name."""
    directory = small(
        [
            service("beta"),
            service("alpha"),
            service("checked-old", dt.date(2024, 1, 1)),
            service("checked-new", dt.date(2026, 2, 1)),
            service("other-need", needs=("hiv",)),
            service("elsewhere", country="UG"),
        ]
    )
    ids = [s.id for s in directory.services("KE", "legal-help")]
    assert ids == ["checked-new", "checked-old", "alpha", "beta"]
    assert [s.id for s in directory.services("KE")][-1] == "other-need"
    assert {s.id for s in directory.services(need="hiv")} == {"other-need"}
    assert directory.services("FR") == []


def test_haversine_distances() -> None:
    """Known distances: Nairobi-Kampala about 500 km; antipodes half the circumference."""
    assert 490 < distance_km(-1.29, 36.82, 0.35, 32.58) < 520
    assert distance_km(0, 0, 0, 180) == pytest.approx(20015, rel=0.001)
    assert distance_km(10, 10, 10, 10) == 0


def test_nearest_matches_a_full_scan_everywhere() -> None:
    """The latitude-band search returns exactly what measuring everything returns."""
    rng = random.Random(4)
    services = [
        service(f"s{i}", lat=rng.uniform(-90, 90), lon=rng.uniform(-180, 180)) for i in range(400)
    ]
    # Clusters, the date line and the poles are where a clever search goes wrong.
    services += [service(f"c{i}", lat=1 + i * 1e-4, lon=179.99) for i in range(30)]
    services += [service(f"p{i}", lat=89.9, lon=i * 12.0) for i in range(30)]
    directory = small([*services, service("nowhere")])
    probes = [(rng.uniform(-90, 90), rng.uniform(-180, 180)) for _ in range(150)]
    probes += [(1.0, -179.99), (90.0, 0.0), (-90.0, 0.0), (0.0, 0.0)]
    for lat, lon in probes:
        for limit in (1, 5, 12):
            got = directory.nearest(lat, lon, limit)
            want = sorted(
                ((distance_km(lat, lon, s.lat, s.lon), s.id) for s in services if s.lat),
            )[:limit]
            assert [round(km, 6) for _s, km in got] == [round(km, 6) for km, _id in want]
    assert directory.nearest(0, 0, 0) == []
    assert small([service("nowhere")]).nearest(0, 0, 3) == []


def expectations(case: Path) -> set[tuple[str, int, str]]:
    """Each broken fixture marks its bad line with `# expect: <part of the message>`."""
    found = set()
    for path in case.rglob("*.yaml"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if match := re.search(r"# expect: (.*)$", line):
                found.add((path.relative_to(case).as_posix(), number, match.group(1).strip()))
    return found


def broken_copy(case: str, tmp_path: Path) -> Path:
    """The valid mini directory with the fixture's files laid over it."""
    target = tmp_path / "guides"
    shutil.copytree(FIXTURES / "valid", target)
    shutil.copytree(FIXTURES / case, target, dirs_exist_ok=True)
    return target


def test_valid_fixture_is_valid() -> None:
    """The base the broken fixtures start from has no problem of its own."""
    assert check(FIXTURES / "valid", TODAY) == []


@pytest.mark.parametrize("case", BROKEN)
def test_each_broken_entry_gets_one_clear_message_at_its_line(case: str, tmp_path: Path) -> None:
    """Each kind of broken entry is reported as path:line: message, at the offending line."""
    root = broken_copy(case, tmp_path)
    expected = expectations(FIXTURES / case)
    assert expected, f"fixture {case} marks no expected problem"
    problems = check(root, TODAY)
    got = [(p.path.relative_to(root).as_posix(), p.line, p.message) for p in problems]
    assert len(got) == len(expected), got
    for path, line, fragment in expected:
        assert any(g[:2] == (path, line) and fragment in g[2] for g in got), (fragment, got)
    for problem in problems:
        assert re.match(r"^.+\.yaml:\d+: \S", str(problem)), str(problem)
    with pytest.raises(ContentError):
        load(root, TODAY)


def recorded_problems() -> dict[str, list[str]]:
    """tests/fixtures/directory/problems.txt: [case] then its problems, one a line."""
    cases: dict[str, list[str]] = {}
    for line in (FIXTURES / "problems.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            cases[line.strip("[]")] = []
        elif line and not line.startswith("#"):
            cases[list(cases)[-1]].append(line)
    return cases


def test_broken_fixtures_report_the_recorded_problems_byte_for_byte(tmp_path: Path) -> None:
    """Issue 9 item 4: the pydantic schema reports what the hand-written checker did, exactly."""
    recorded = recorded_problems()
    assert sorted(recorded) == BROKEN
    for case, lines in recorded.items():
        root = broken_copy(case, tmp_path / case)
        got = [
            f"{p.path.relative_to(root).as_posix()}:{p.line}: {p.message}"
            for p in check(root, TODAY)
        ]
        assert got == lines, case


def test_texts_cover_every_language() -> None:
    """The texts model has one field per interface language, English first (the fallback)."""
    assert tuple(schema.Texts.model_fields) == LANGUAGES


def test_vocabulary_labels_every_value_of_the_law_cards() -> None:
    """Each group of vocabulary.yaml's model names exactly the values a law card may take."""
    groups = {
        schema.CategoryLabels: CATEGORIES,
        schema.ActivityLabels: ACTIVITY,
        schema.HivLabels: HIV,
        schema.FieldLabels: (*ACTIVITIES, "hiv"),
    }
    for model, values in groups.items():
        assert [f.alias or name for name, f in model.model_fields.items()] == list(values)


def test_a_need_that_is_a_list_is_reported_not_a_crash(tmp_path: Path) -> None:
    """`needs: [[legal-help]]` used to raise TypeError (unhashable); now it is one problem."""
    root = broken_copy("valid", tmp_path)
    services = root / "services" / "west.yaml"
    services.write_text(
        services.read_text(encoding="utf-8").replace("needs: [hiv]", "needs: [[hiv]]"),
        encoding="utf-8",
    )
    assert [f"{p.line}: {p.message}" for p in check(root, TODAY)] == [
        "4: unknown need ['hiv'] (see needs.yaml)"
    ]


async def test_start_refuses_a_broken_directory(settings: Settings, tmp_path: Path) -> None:
    """create_app raises ContentError (R19): the bot never runs on a broken directory."""
    root = broken_copy("unknown-need", tmp_path)
    broken = settings.model_copy(update={"guides_dir": root})
    with pytest.raises(ContentError) as raised:
        await create_app(broken)
    assert raised.value.problems


def test_missing_files_are_reported(tmp_path: Path) -> None:
    """An empty folder names each missing file instead of crashing."""
    messages = {(p.path.name, p.message) for p in check(tmp_path, TODAY)}
    assert ("networks.yaml", "file is missing") in messages
    assert ("needs.yaml", "file is missing") in messages
    assert ("services", "folder is missing") in messages


TWO_NETWORKS = """- id: otherwise
  name: Otherwise Network
  region: east
  countries: [RU]
  also_countries: [KG]
  languages: [en]
  website: https://otherwise.example.org
  description:
    en: Another network with members in the east.
"""


def with_second_network(tmp_path: Path, also: str = "[KG]") -> Path:
    root = broken_copy("valid", tmp_path)
    networks = root / "networks.yaml"
    text = networks.read_text(encoding="utf-8")
    extra = TWO_NETWORKS.replace("[KG]", also)
    networks.write_text(text.replace("networks:\n", "networks:\n" + extra, 1), encoding="utf-8")
    return root


def test_a_country_covered_by_two_networks_offers_both(tmp_path: Path) -> None:
    """`also_countries`: KG routes to eastnet, and the member may choose Otherwise too."""
    directory = load(with_second_network(tmp_path), TODAY)
    assert [n.id for n in directory.networks_for("KG")] == ["eastnet", "otherwise"]
    assert [n.id for n in directory.networks_for("RU")] == ["otherwise"]
    assert [n.id for n in directory.networks_for("KE")] == [GLOBAL]


def test_a_choice_needs_another_network_to_choose_from(tmp_path: Path) -> None:
    """also_countries naming a country no other network routes is an error, at its line."""
    root = with_second_network(tmp_path, also="[UA]")
    problems = [str(p.message) for p in check(root, TODAY)]
    assert any("also_countries UA is routed to no other network" in p for p in problems)
    root = with_second_network(tmp_path / "2", also="[RU]")
    problems = [str(p.message) for p in check(root, TODAY)]
    assert any("in both `countries` and `also_countries`" in p for p in problems)
