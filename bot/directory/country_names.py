"""Country names people actually type, and the order a reader expects a list of them in.

- `aliases()`: everyday names CLDR lacks ("ЮАР", "Штаты", "UK"), kept as data per language in
  `guides/country-aliases.yaml`, matched whatever the member's interface language.
- `sort_key(name, lang)`: the order of a country list. Chinese names sort by their pinyin
  (中非 "zhongfei" after 乍得 "zhade"), as a Chinese reader looks for them; other languages by
  the accent- and case-folded name, so É sorts with E. Babel has no CLDR collation, and PyICU
  needs the ICU C++ library: `pypinyin` is small and pure Python.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

import yaml

from bot.config import PROJECT_ROOT

ALIASES_FILE = PROJECT_ROOT / "guides" / "country-aliases.yaml"


def fold(text: str) -> str:
    """Case, accents and punctuation folded: "Kyrgyzstán" -> "kyrgyzstan"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.category(ch).startswith("M"))
    return " ".join(re.sub(r"[\W_]+", " ", bare).split())


def sort_key(name: str, lang: str) -> tuple[str, str]:
    """The key a country list in `lang` is sorted by (the name itself breaks ties)."""
    if lang.split("-")[0].split("_")[0] == "zh":
        # Imported here: its dictionaries take ~55 MB and seconds to load, only ever needed
        # once someone opens a country list in Chinese (issue 10: idle memory, start-up).
        from pypinyin import Style, lazy_pinyin

        # Tone numbers after each syllable ("zhong1"), so syllables compare before tones.
        return " ".join(lazy_pinyin(name, style=Style.TONE3, errors="default")), name
    return fold(name), name


@cache
def aliases(path: Path = ALIASES_FILE) -> tuple[tuple[str, str], ...]:
    """Every (code, alias) pair in the file, in all languages."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    pairs: list[tuple[str, str]] = []
    for by_code in data.values():
        for code, names in (by_code or {}).items():
            pairs.extend((str(code), str(name)) for name in names or ())
    return tuple(pairs)
