"""Country names: Babel's names in six languages, typed with typos, and the picker's keyboards."""

from __future__ import annotations

import pytest
from aiogram.utils.i18n import I18n

from bot.config import LANGUAGES, PROJECT_ROOT
from bot.directory.countries import (
    ALIASES,
    CountryPick,
    countries_keyboard,
    country_name,
    matcher,
    normalise,
    sorted_countries,
)
from bot.directory.model import Directory, country_codes, load


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("Киргизия", "KG"),  # Babel's Russian name
        ("Кыргызстан", "KG"),  # the official name, which Babel lacks: an alias
        ("Kyrgyzstán", "KG"),
        ("kirgistan", "KG"),
        ("kenia", "KE"),
        ("肯尼亚", "KE"),
        ("KENYAA", "KE"),
        ("I live in Kenya", "KE"),
        ("Allemagne", "DE"),
        ("germny", "DE"),
        ("Росия", "RU"),
        ("المغرب", "MA"),
        ("Côte d'Ivoire", "CI"),
        ("Ivory Coast", "CI"),
        ("EE. UU.", "US"),
        ("Royaume-Uni", "GB"),
        ("香港", "HK"),
        ("Niger", "NE"),
        ("Nigeria", "NG"),
        ("Sudan", "SD"),
        ("South Sudan", "SS"),
        ("Kosovo", "XK"),
    ],
)
def test_typed_country_names(typed: str, code: str) -> None:
    """Names in any of the six languages, with typos and odd case, find the country."""
    assert matcher().match(typed).country == code


@pytest.mark.parametrize("typed", ["", "  ", "a", "no", "xyz", "hello", "🙂🙂", "<b>x</b>"])
def test_nonsense_finds_no_country(typed: str) -> None:
    """Short or unrelated text is not forced onto some country."""
    assert matcher().match(typed).country is None


def test_ambiguous_name_offers_both() -> None:
    """ "Congo" could be either: both are offered, neither is picked."""
    found = matcher().match("congo")
    assert found.country is None and set(found.candidates) == {"CD", "CG"}


def test_every_babel_name_finds_its_country() -> None:
    """Each country's CLDR name in each language leads back to it."""
    for lang in LANGUAGES:
        for code in country_codes():
            found = matcher().match(country_name(code, lang))
            assert found.country == code or code in found.candidates, (lang, code)


def test_aliases_are_valid_and_not_already_babel_names() -> None:
    """The hand-written alias list only adds names Babel lacks, for real country codes."""
    babel = {normalise(country_name(c, lang)) for lang in LANGUAGES for c in country_codes()}
    for code, aliases in ALIASES.items():
        assert code in country_codes()
        for alias in aliases:
            assert normalise(alias) not in babel or alias == "Congo", alias


def test_country_names_follow_the_language() -> None:
    """Names come from Babel in the member's language."""
    assert country_name("KG", "ru") == "Киргизия"
    assert country_name("KE", "zh") == "肯尼亚"
    assert country_name("KE", "es") == "Kenia"
    assert country_name("XK", "fr") == "Kosovo"


def test_names_sort_ignoring_accents() -> None:
    """ "Égypte" sorts among the E's in French, not after Z."""
    codes = sorted_countries(["ZA", "EG", "DZ", "ER"], "fr")
    names = [country_name(c, "fr") for c in codes]
    assert names == ["Afrique du Sud", "Algérie", "Égypte", "Érythrée"]


def test_every_region_page_is_small_and_fits_callback_limits() -> None:
    """No page holds more than 16 countries; every button's data fits 64 bytes (R17)."""
    directory = load(PROJECT_ROOT / "guides")
    i18n = I18n(path=PROJECT_ROOT / "locales")
    for lang in LANGUAGES:
        with i18n.context(), i18n.use_locale(lang):
            check_region_pages(directory, lang)
    assert countries_keyboard("services", directory, "atlantis", 0, "en") is None


def check_region_pages(directory: Directory, lang: str) -> None:
    for region in directory.regions:
        page, pages, seen = 0, 1, set()
        while page < pages:
            built = countries_keyboard("services", directory, region.id, page, lang)
            assert built is not None
            markup, page, pages = built
            for row in markup.inline_keyboard:
                for button in row:
                    assert button.callback_data is not None
                    assert len(button.callback_data.encode()) <= 64
                    if button.callback_data.startswith("cp:"):
                        seen.add(CountryPick.unpack(button.callback_data).c)
            picks = [b for row in markup.inline_keyboard for b in row]
            assert len([b for b in picks if (b.callback_data or "").startswith("cp:")]) <= 16
            page += 1
        assert seen == region.countries
