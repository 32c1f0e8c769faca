"""Engine, session factory and schema migrations."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# aiosqlite logs every call with its arguments at DEBUG: SQL parameters, so members' ids.
logging.getLogger("aiosqlite").setLevel(logging.INFO)


def private_file(path: Path) -> None:
    """The database file exists, readable by its owner only (L7), before SQLite opens it.

    SQLite gives its -wal and -shm files the database file's mode, so they are private too;
    older files created 0644 are tightened.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        if file.exists() and file.stat().st_mode & 0o077:
            file.chmod(0o600)


def backup_sqlite(source: Path, dest: Path) -> None:
    """A consistent copy of a live SQLite database (the online backup API), 0600, WAL folded
    in. The key store is a separate file and is not copied."""
    private_file(dest)
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(dest)) as dst,
    ):
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    # Bound values hold members' Telegram ids: keep them out of SQL logs and error messages.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            private_file(Path(path))
        # How long a writer waits for the file's lock: with our driver a call that meets a lock
        # waits on a thread instead (storage/sqlite_driver.py), so SQLite itself never waits.
        patience = 30000
        if "+aiosqlite" in url.split(":", 1)[0]:
            patience = 0
            # Statements run in place, not on a thread each (storage/sqlite_driver.py).
            from storage.sqlite_driver import connect

            kwargs["connect_args"] = {
                "async_creator_fn": connect,
                **kwargs.get("connect_args", {}),
            }
        engine = create_async_engine(url, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # Deleted rows are overwritten with zeros, so "delete" means gone from the file too.
            cur.execute("PRAGMA secure_delete=ON")
            # Many chats are handled at once: a writer waits its turn rather than failing.
            cur.execute(f"PRAGMA busy_timeout={patience}")
            # With WAL, NORMAL still survives a crash of the process (kill -9): only a power
            # cut can lose the last commits. FULL would cost an fsync per commit.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def session_factory(
    engine: AsyncEngine, info: dict[str, Any] | None = None
) -> async_sessionmaker[AsyncSession]:
    """`info` reaches every session (Session.info): the key store travels this way."""
    return async_sessionmaker(engine, expire_on_commit=False, info=info)


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _upgrade(conn: Connection, master_key: bytes | None = None, target: str = "heads") -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    # Data migrations that hash and seal existing rows need it (0005).
    cfg.attributes["master_key"] = master_key
    command.upgrade(cfg, target)


def _pending(conn: Connection) -> bool:
    """Alembic's own answer, for when the scripts' lines cannot be read (`script_heads`)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    return heads != set(MigrationContext.configure(conn).get_current_heads())


_REVISION = re.compile(r"^revision\s*=\s*[\"']([^\"']+)[\"']", re.M)
_DOWN_REVISION = re.compile(r"^down_revision\s*=\s*(.+)$", re.M)


@cache
def script_heads() -> frozenset[str]:
    """The newest migrations, read from the scripts' own lines, without importing Alembic
    (11 MB and a second of start-up, issue 10); empty when a script cannot be read so. Read
    once per process: the scripts do not change while it runs (tests open hundreds of
    databases, each checked at start)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            return frozenset()
        revisions.add(revision.group(1))
        revised.update(re.findall(r"[\"']([^\"']+)[\"']", down.group(1)))
    return frozenset(revisions - revised)


def _current_heads(conn: Connection) -> set[str]:
    if not inspect(conn).has_table("alembic_version"):
        return set()
    return {
        str(v) for v in conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
    }


async def upgrade(
    engine: AsyncEngine, master_key: bytes | None = None, target: str = "heads"
) -> None:
    if target == "heads" and not await needs_upgrade(engine):
        return  # the usual start: nothing to do, one query says so, Alembic not even imported
    sqlite = engine.dialect.name == "sqlite"
    async with engine.connect() as conn:
        if sqlite:
            # Batch migrations copy a table and drop the old one: with foreign keys on, that
            # drop would cascade to every row referring to it. Outside a transaction only.
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await conn.commit()
        try:
            async with conn.begin():
                await conn.run_sync(_upgrade, master_key, target)
        finally:
            if sqlite:
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                await conn.commit()


async def needs_upgrade(engine: AsyncEngine) -> bool:
    heads = script_heads()
    async with engine.connect() as conn:
        if heads:
            return await conn.run_sync(_current_heads) != heads
        return await conn.run_sync(_pending)


async def checkpoint(session: AsyncSession) -> None:
    """Empty SQLite's write-ahead log, so old copies of deleted rows do not linger in it."""
    await session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


async def ping(session: AsyncSession) -> None:
    """The cheapest round trip: raises when the database is away."""
    await session.execute(text("SELECT 1"))
