"""The guide library: short Smart and Community Guides, one file per language.

`load_library(dir)` reads and validates `guides/` (raising ContentError with every problem),
`inspect(dir)` returns the problems instead, and `LibraryHolder` keeps the library a running bot
serves, swapping it whole on /reload or SIGHUP.
"""

from bot.guides.loader import (
    FOOTER_MAX,
    NOTICE_MAX,
    SLUG_MAX,
    SLUG_RE,
    LibraryHolder,
    inspect,
    load_library,
)
from bot.guides.markdown import Page
from bot.guides.model import FALLBACK, KINDS, Guide, Library, Topic, Version

__all__ = [
    "FALLBACK",
    "FOOTER_MAX",
    "KINDS",
    "NOTICE_MAX",
    "SLUG_MAX",
    "SLUG_RE",
    "Guide",
    "Library",
    "LibraryHolder",
    "Page",
    "Topic",
    "Version",
    "inspect",
    "load_library",
]
