"""The seed `guides/` folder, loaded once per test process and shared: both are immutable.

Loading it parses ~400 YAML and Markdown files (seconds on a small machine); modules that need
it at import time (for parametrize) and the `content` fixture all get the same objects.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from bot.config import PROJECT_ROOT
from bot.directory.model import Directory
from bot.directory.model import load as load_directory
from bot.guides import Library, load_library

GUIDES = PROJECT_ROOT / "guides"


@cache
def seed_directory() -> Directory:
    return load_directory(GUIDES)


@cache
def seed_library() -> Library:
    return load_library(GUIDES)


def is_seed(path: Path) -> bool:
    """The seed folder, or an untouched copy of it (several tests copy it before editing)."""
    return path == GUIDES or _digest(path) == _seed_digest()


def _digest(path: Path) -> str:
    h = hashlib.blake2b()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(file.relative_to(path)).encode() + b"\0" + file.read_bytes())
    return h.hexdigest()


@cache
def _seed_digest() -> str:
    return _digest(GUIDES)
