"""The long-lived objects of one bot process, built once from Settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import directory
from bot.config import VAR_DIR, Settings
from bot.content import LibraryHolder
from bot.problems import ContentError, Problem
from storage import db
from storage.crypto import Sealer, load_or_create_master_key
from storage.keystore import SESSION_INFO_KEY, KeyStore, open_store


class SchemaOutOfDate(Exception):
    """The database needs `python -m bot db upgrade`."""


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    sealer: Sealer
    # Features add their long-lived objects here (guide library, directory, ...).
    extras: dict[str, Any] = field(default_factory=dict)
    # Members' data keys, apart from the main database (storage/keystore.py).
    keystore: KeyStore | None = None

    async def close(self) -> None:
        if self.keystore is not None:
            await self.keystore.close()
        await self.engine.dispose()


async def create_app(settings: Settings) -> App:
    """Raises ContentError listing every problem when the content is broken."""
    problems: list[Problem] = []
    extras: dict[str, Any] = {}
    loaders: dict[str, Callable[[], object]] = {
        "directory": lambda: directory.load(settings.guides_dir),
        "library": lambda: LibraryHolder.load(settings.guides_dir, settings.guides_cache),
    }
    for name, load in loaders.items():
        try:
            extras[name] = load()
        except ContentError as exc:  # collect both features' problems before refusing
            problems += exc.problems
    if problems:
        raise ContentError(problems)
    # One connection per chat handled at once, plus the workers, the webhook and /healthz.
    # SQLite connections are cheap threads; PostgreSQL's are scarce and shared by instances.
    overflow = settings.max_concurrent_updates + 10 if settings.is_sqlite else 20
    engine = db.create_engine(settings.database_url, pool_size=5, max_overflow=overflow)
    if settings.is_sqlite:
        await db.upgrade(engine)
    elif await db.needs_upgrade(engine):
        await engine.dispose()
        raise SchemaOutOfDate("the database schema is out of date: run `python -m bot db upgrade`")
    key = load_or_create_master_key(
        settings.master_key.get_secret_value() if settings.master_key else None,
        VAR_DIR / "master.key",
    )
    keystore = await open_store(settings.database_url, settings.keys_url)
    info = {SESSION_INFO_KEY: keystore} if keystore is not None else None
    sessions = db.session_factory(engine, info)
    if keystore is not None:
        async with sessions.begin() as session:
            await keystore.adopt(session)
    return App(settings, engine, sessions, Sealer(key), extras, keystore)
