"""Members' data keys, in a database of their own, so that /forget also shreds old backups.

Each member's texts (referrals, relayed messages) are sealed with their own data key, and the
data key is stored wrapped by the master key. /forget deletes the wrapped key: crypto-shredding.
That only works if no copy of the wrapped key survives. Kept in the main database, every dump,
snapshot or stolen backup of it would hold both the ciphertexts and the wrapped keys, and the
master key would open everything, /forget or not. So the keys live here instead:

- SQLite (the default): `keys/<name>.keys.sqlite3`, a folder of its own beside the database
  (`var/keys/`, with the generated master.key). A copy of `bot.sqlite3` then holds
  ciphertexts and no keys; `python -m bot backup` makes such a copy.
- KEYS_URL: any other database (a second PostgreSQL database, or an SQLite file on a volume).

Operators: back up the main database as you like, but never together with the key store; if
the key store is backed up at all, keep those backups short-lived, because a /forget is
complete everywhere only once every key-store backup older than it is gone. Losing the key
store loses members' texts, not the bot: requests stay listed, their texts unreadable.

Without a separate store (PostgreSQL and no KEYS_URL) keys stay in the main database's
`member_keys` table and the bot warns at start: shredding then does not reach backups.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from sqlalchemy import Column, DateTime, Integer, LargeBinary, MetaData, Table, delete, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage import db
from storage.models import utcnow

log = logging.getLogger(__name__)

# The key under which sessions of the main database carry the store (Session.info).
SESSION_INFO_KEY = "keystore"

metadata = MetaData()
member_keys = Table(
    "member_keys",
    metadata,
    Column("member_id", Integer, primary_key=True, autoincrement=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("created_at", DateTime, nullable=False),
)


def default_url(database_url: str, keys_url: str | None) -> str | None:
    """KEYS_URL when set; otherwise, for an SQLite database file, `keys/<name>.keys.sqlite3`
    in a folder of its own beside it (L7): copying the database's folder copies no key.
    A store an older version kept right beside the database is still used. None for
    PostgreSQL, and for a KEYS_URL that names the main database itself (its own `member_keys`
    table keeps the keys then, as without KEYS_URL: a store of its own there would meet the
    migrated table under the same name)."""
    if keys_url and same_database(keys_url, database_url):
        return None
    if keys_url:
        return keys_url
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            file = Path(path)
            name = file.stem + ".keys.sqlite3"
            legacy = file.with_name(name)
            if legacy.exists():
                log.warning(
                    "the key store sits beside the database (%s): move it to keys/%s while the"
                    " bot is stopped, so one copy of the folder cannot undo /forget",
                    legacy.name,
                    name,
                )
                return db_url_for(legacy)
            return db_url_for(file.parent / "keys" / name)
    return None


def same_database(a: str, b: str) -> bool:
    """Whether two URLs name one database (drivers, users and passwords aside)."""
    first, second = make_url(a), make_url(b)
    if first.get_backend_name() != second.get_backend_name():
        return False
    if first.get_backend_name() == "sqlite":
        paths = [u.database or "" for u in (first, second)]
        if ":memory:" in paths or "" in paths:
            return False
        return Path(paths[0]).resolve() == Path(paths[1]).resolve()
    return (first.host or "", first.port, first.database) == (
        second.host or "",
        second.port,
        second.database,
    )


def db_url_for(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


class KeyStore:
    """Wrapped data keys by member id; every write commits at once, apart from the main DB."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = db.create_engine(url)
        self.sessions = db.session_factory(self.engine)

    async def open(self) -> KeyStore:
        # One small table, created if missing: no migrations needed for it.
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        return self

    async def get(self, member_id: int) -> bytes | None:
        async with self.sessions() as session:
            value = await session.scalar(
                select(member_keys.c.wrapped_key).where(member_keys.c.member_id == member_id)
            )
        return bytes(value) if value is not None else None

    async def put(self, member_id: int, wrapped: bytes, now: dt.datetime | None = None) -> bytes:
        """Store a key unless the member has one; return the one that is kept."""
        try:
            async with self.sessions.begin() as session:
                await session.execute(
                    member_keys.insert().values(
                        member_id=member_id, wrapped_key=wrapped, created_at=now or utcnow()
                    )
                )
        except IntegrityError:
            existing = await self.get(member_id)
            if existing is None:  # destroyed in between: try once more
                return await self.put(member_id, wrapped, now)
            return existing
        return wrapped

    async def destroy(self, member_id: int) -> None:
        async with self.sessions.begin() as session:
            await session.execute(delete(member_keys).where(member_keys.c.member_id == member_id))
        if self.url.startswith("sqlite"):
            # secure_delete zeroes the row in the file; old copies of its page may still sit in
            # the write-ahead log until a checkpoint: empty it (best effort, readers may hold it).
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    async def members(self, created_before: dt.datetime) -> list[int]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(member_keys.c.member_id).where(member_keys.c.created_at < created_before)
            )
            return list(rows)

    async def count(self) -> int:
        async with self.sessions() as session:
            return len((await session.scalars(select(member_keys.c.member_id))).all())

    async def adopt(self, main: AsyncSession) -> int:
        """Move keys an older version kept in the main database into this store."""
        from storage.models import MemberKey

        rows = (await main.execute(select(MemberKey.member_id, MemberKey.wrapped_key))).all()
        for member_id, wrapped in rows:
            await self.put(int(member_id), bytes(wrapped))
        if rows:
            await main.execute(delete(MemberKey))
            log.info("moved %d data keys out of the main database", len(rows))
        return len(rows)

    async def close(self) -> None:
        await self.engine.dispose()


async def open_store(database_url: str, keys_url: str | None) -> KeyStore | None:
    url = default_url(database_url, keys_url)
    if url is None:
        log.warning(
            "KEYS_URL is not set, or names the main database: members' data keys stay in the"
            " main database, so a backup of it can still open their texts after /forget. Point"
            " KEYS_URL at a database that is not backed up with the main one."
        )
        return None
    return await KeyStore(url).open()
