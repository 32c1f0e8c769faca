"""What a seized copy of the stores shows to someone with no key (H1, M5), on both backends.

`backend_settings` builds the app's settings for one backend: SQLite files (the default), or
PostgreSQL for the main database and the key store (two databases) with Redis for FSM state
and flood counters. The PostgreSQL + Redis variant is skipped only when TEST_POSTGRES_URL or
TEST_REDIS_URL is unset (CI sets both).

The readers here use no key and none of the bot's code: plain `sqlite3` on a file, plain
`asyncpg` on a PostgreSQL database, plain `redis` commands. `links` follows every reference
a reader can see without a key (foreign keys, `*_id` columns, equal keyed hashes, equal large
integers such as chat ids) from one member's row, and reports each cell in clear that names a
need, a country or a network on the way.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from storage import db
from tests.conftest import make_settings

Tables = dict[str, list[dict[str, Any]]]
BACKENDS = ("sqlite", "postgres+redis")

# Integer columns that name a row of another table, declared as foreign keys or not.
REFERENCES = {
    "member_id": "members",
    "referral_id": "referrals",
    "relay_id": "referral_relays",
    "report_id": "bad_date_reports",
    "source_report_id": "bad_date_reports",
    "alert_id": "alerts",
    "broadcast_id": "broadcasts",
    "card_row_id": "outbox",
}
# Configuration, not people: which group serves which network. A member's row must never
# lead here (a group's chat id in clear beside a request would).
CONFIG_TABLES = {"alembic_version"}
# Integers this large are chat ids or Telegram ids, not row numbers: equal ones link rows.
BIG = 10**7


@dataclass
class Backend:
    name: str
    settings: Settings
    redis_url: str | None = None
    pg_databases: list[str] = field(default_factory=list)


async def _create_pg_database(base: str) -> str:
    import asyncpg

    name = "t_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return base.rsplit("/", 1)[0] + "/" + name


async def _drop_pg_database(base: str, url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


def _redis_url() -> str | None:
    url = os.environ.get("TEST_REDIS_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if url and worker.startswith("gw"):
        url = url.rsplit("/", 1)[0] + f"/{int(worker[2:]) % 15 + 1}"
    return url


async def backend_settings(name: str, tmp_path: Path, template_db: Path) -> AsyncIterator[Backend]:
    """Settings for one backend; PostgreSQL databases are dropped afterwards."""
    if name == "sqlite":
        shutil.copyfile(template_db, tmp_path / "test.sqlite3")
        yield Backend(name, make_settings(tmp_path))
        return
    base, redis_url = os.environ.get("TEST_POSTGRES_URL"), _redis_url()
    if not base or not redis_url:
        pytest.skip("TEST_POSTGRES_URL or TEST_REDIS_URL not set (scripts/test-services.sh)")
    main, keys = await _create_pg_database(base), await _create_pg_database(base)
    try:
        engine = db.create_engine(main)
        await db.upgrade(engine)
        await engine.dispose()
        settings = make_settings(tmp_path, database_url=main, keys_url=keys, redis_url=redis_url)
        yield Backend(name, settings, redis_url, [main, keys])
    finally:
        for url in (main, keys):
            await _drop_pg_database(base, url)


# -- keyless readers ------------------------------------------------------------------------------


def sqlite_file(url: str) -> Path:
    return Path(url.split("///", 1)[1])


def sqlite_copy(database: Path, copy: Path) -> Path:
    """What a seizure takes: the file, as an online backup would copy it."""
    with sqlite3.connect(database) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    return copy


def sqlite_tables(path: Path) -> Tables:
    """Every row of every table of an SQLite file, read with plain sqlite3."""
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: [dict(r) for r in conn.execute(f'SELECT * FROM "{n}"')] for n in names}


def sqlite_foreign_keys(path: Path) -> set[tuple[str, str, str]]:
    """(table, column, referenced table) as the file's own schema declares them."""
    found = set()
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for name in names:
            for row in conn.execute(f'PRAGMA foreign_key_list("{name}")'):
                found.add((name, row[3], row[2]))
    return found


async def pg_tables(url: str) -> Tables:
    """Every row of every table of a PostgreSQL database, read with plain asyncpg."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        names = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        ]
        return {n: [dict(r) for r in await conn.fetch(f'SELECT * FROM "{n}"')] for n in names}
    finally:
        await conn.close()


async def pg_foreign_keys(url: str) -> set[tuple[str, str, str]]:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch(
            """SELECT tc.table_name, kcu.column_name, ccu.table_name AS ref
               FROM information_schema.table_constraints tc
               JOIN information_schema.key_column_usage kcu
                 ON tc.constraint_name = kcu.constraint_name
               JOIN information_schema.constraint_column_usage ccu
                 ON tc.constraint_name = ccu.constraint_name
               WHERE tc.constraint_type = 'FOREIGN KEY'"""
        )
        return {(r["table_name"], r["column_name"], r["ref"]) for r in rows}
    finally:
        await conn.close()


async def redis_dump(url: str) -> dict[bytes, bytes]:
    """Every key of the Redis database, with its raw value (strings; DUMP for the rest)."""
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    found: dict[bytes, bytes] = {}
    try:
        async for name in client.scan_iter("*"):
            if await client.type(name) == b"string":
                found[name] = await client.get(name) or b""
            else:
                found[name] = await client.dump(name) or b""
    finally:
        await client.aclose()
    return found


# -- what they show -------------------------------------------------------------------------------


def as_bytes(value: Any) -> bytes | None:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return None


def revealing(value: Any, facts: Iterable[str]) -> bool:
    """A fact as a whole value, or quoted inside one (JSON, a key with parts)."""
    if not isinstance(value, str):
        return False
    return any(
        value == fact or f'"{fact}"' in value or f":{fact}" in value or f"{fact}:" in value
        for fact in facts
    )


def _edges(
    tables: Tables, foreign_keys: set[tuple[str, str, str]]
) -> dict[tuple[str, int], set[tuple[str, int]]]:
    """Rows (table, index) joined by what a keyless reader sees: references and equal values."""
    ids: dict[tuple[str, Any], tuple[str, int]] = {}
    for table, rows in tables.items():
        for i, row in enumerate(rows):
            if "id" in row:
                ids[(table, row["id"])] = (table, i)
    refs = {(t, c): r for t, c, r in foreign_keys}
    for table, rows in tables.items():
        for column in rows[0] if rows else ():
            if column in REFERENCES and (table, column) not in refs:
                refs[(table, column)] = REFERENCES[column]
    edges: dict[tuple[str, int], set[tuple[str, int]]] = {}
    by_value: dict[Any, set[tuple[str, int]]] = {}

    def join(a: tuple[str, int], b: tuple[str, int]) -> None:
        edges.setdefault(a, set()).add(b)
        edges.setdefault(b, set()).add(a)

    for table, rows in tables.items():
        for i, row in enumerate(rows):
            for column, value in row.items():
                target = refs.get((table, column))
                if target is not None and value is not None and (target, value) in ids:
                    join((table, i), ids[(target, value)])
                # Keyed hashes cannot be computed without the key, but equal ones can be
                # matched; so can large integers (chat ids, Telegram ids) wherever they sit.
                if column.endswith("_hash") and value is not None:
                    by_value.setdefault(("hash", bytes(value)), set()).add((table, i))
                elif (
                    isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**7
                ):
                    by_value.setdefault(("int", value), set()).add((table, i))
    for rows in by_value.values():
        first, *rest = sorted(rows)
        for other in rest:
            join(first, other)
    return edges


def links(
    tables: Tables,
    foreign_keys: set[tuple[str, str, str]],
    member_id: int,
    facts: Iterable[str],
) -> list[str]:
    """Every cell in clear naming one of `facts`, reachable from the member's row.

    A walk from the member's row over references and equal values; a row that shows a fact is
    reported and not walked through (its own links are about the fact, not the member).
    """
    facts = tuple(facts)
    edges = _edges(tables, foreign_keys)
    (start,) = [("members", i) for i, r in enumerate(tables["members"]) if r["id"] == member_id]
    seen, todo, found = {start}, [start], []
    while todo:
        node = todo.pop()
        table, index = node
        shown = [
            f"{table}.{column} = {value!r} (reached from the member)"
            for column, value in tables[table][index].items()
            if table not in CONFIG_TABLES and revealing(value, facts)
        ]
        if shown:
            found += shown
            continue
        for other in edges.get(node, ()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return sorted(set(found))


def reached(tables: Tables, foreign_keys: set[tuple[str, str, str]], member_id: int) -> set[str]:
    """The tables whose rows the walk reaches (to check the scan saw what it should)."""
    edges = _edges(tables, foreign_keys)
    (start,) = [("members", i) for i, r in enumerate(tables["members"]) if r["id"] == member_id]
    seen, todo = {start}, [start]
    while todo:
        for other in edges.get(todo.pop(), ()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return {table for table, _ in seen}


def needles_in(data: bytes, needles: dict[str, bytes]) -> list[str]:
    return [name for name, needle in needles.items() if needle in data]


def cells_bytes(tables: Tables) -> bytes:
    """Every cell of every table as bytes, for a scan of what a database holds."""
    parts = []
    for rows in tables.values():
        for row in rows:
            for value in row.values():
                raw = as_bytes(value)
                parts.append(raw if raw is not None else str(value).encode())
                if isinstance(value, int) and not isinstance(value, bool):
                    parts.append(value.to_bytes(8, "big", signed=True))
    return b"\x00".join(parts)
