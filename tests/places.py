"""A place to share in tests, and a check that no trace of it was stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

TORONTO = (43.6532117, -79.3831843)


def assert_no_coordinates(path: Path, lat: float, lon: float) -> None:
    """Read every table of the SQLite file; no value may equal or contain the coordinates."""
    needles = [f"{abs(v):.4f}"[:-1] for v in (lat, lon)]  # "43.653", "79.383"
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert "members" in tables and "inbox" in tables
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, float):
                        assert abs(value - lat) > 0.01 and abs(value - lon) > 0.01, table
                    elif isinstance(value, str | bytes):
                        raw = value.encode() if isinstance(value, str) else value
                        assert not any(n.encode() in raw for n in needles), table
    for file in path.parent.glob(path.name + "*"):  # the file itself, and any journal or WAL
        assert not any(n.encode() in file.read_bytes() for n in needles), file.name
