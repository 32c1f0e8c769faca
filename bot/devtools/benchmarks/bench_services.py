"""Services: typed country lookup and nearest-service search over 10,000 generated services."""

from __future__ import annotations

import datetime as dt
import random
import time

from bot.config import LANGUAGES, PROJECT_ROOT
from bot.devtools.benchmarks import Result, summary, timed
from bot.directory.countries import country_name, matcher
from bot.directory.model import Contacts, Directory, Service, country_codes, load

SERVICES = 10_000
TARGET_MS = 5.0


def generated(seed: Directory, rng: random.Random) -> Directory:
    """Services clustered around 400 "cities", as real ones are, plus a few without a place."""
    codes = sorted(country_codes())
    needs = [n.id for n in seed.needs]
    cities = [
        (rng.uniform(-60, 70), rng.uniform(-180, 180), rng.choice(codes)) for _ in range(400)
    ]
    services = []
    for i in range(SERVICES):
        lat, lon, country = rng.choice(cities)
        located = rng.random() < 0.8
        services.append(
            Service(
                id=f"gen-{i}",
                name=f"Generated service {i}",
                country=country,
                city=None,
                lat=lat + rng.gauss(0, 0.2) if located else None,
                lon=((lon + rng.gauss(0, 0.2) + 180) % 360) - 180 if located else None,
                needs=tuple(rng.sample(needs, 3)),
                publicly_sex_worker_led=rng.random() < 0.3,
                languages=("en",),
                contacts=Contacts(website=f"https://s{i}.example.org"),
                vetted_by="global",
                last_verified=dt.date(2026, 1, 1) - dt.timedelta(days=rng.randrange(900)),
            )
        )
    return Directory.build(seed.regions, seed.networks, seed.needs, services)


def typo(text: str, rng: random.Random) -> str:
    if len(text) < 5:
        return text
    i = rng.randrange(1, len(text) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return text[:i] + text[i + 1 :]  # a letter left out
    if kind == 1:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]  # two letters swapped
    return text[:i] + rng.choice("aeiouy") + text[i + 1 :]  # a wrong letter


def queries(rng: random.Random, n: int) -> list[str]:
    codes = sorted(country_codes())
    out = []
    for _ in range(n):
        name = country_name(rng.choice(codes), rng.choice(LANGUAGES))
        out.append(typo(name, rng) if rng.random() < 0.5 else name.lower())
    return out


async def run() -> list[Result]:
    rng = random.Random(20261128)
    start = time.perf_counter()
    seed = load(PROJECT_ROOT / "guides")
    load_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    directory = generated(seed, rng)
    build_ms = (time.perf_counter() - start) * 1000
    match = matcher()
    match.match("warm up")

    typed = iter(queries(rng, 2000))
    lookup = timed(lambda: match.match(next(typed)), 2000)
    points = iter([(rng.uniform(-60, 70), rng.uniform(-180, 180)) for _ in range(2000)])

    def nearest() -> None:
        lat, lon = next(points)
        directory.nearest(lat, lon, 5)

    near = timed(nearest, 2000)
    picks = iter(
        [(rng.choice(sorted(country_codes())), rng.choice(seed.needs).id) for _ in range(2000)]
    )
    filtered = timed(lambda: directory.services(*next(picks)), 2000)
    return [
        Result("services: load and check the seed directory", load_ms, "ms"),
        Result(f"services: index {SERVICES:,} generated services", build_ms, "ms"),
        *summary("services: typed country lookup (fuzzy)", lookup, TARGET_MS),
        *summary(f"services: nearest 5 of {SERVICES:,}", near, TARGET_MS),
        *summary("services: by country and need", filtered, TARGET_MS),
    ]
