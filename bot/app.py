"""The long-lived objects of one bot process, built once from Settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import VAR_DIR, Settings
from bot.directory.model import Directory
from bot.directory.model import load as load_directory
from bot.guides import Library, LibraryHolder
from bot.problems import ContentError, Problem
from bot.referrals.doorbell import Doorbell
from bot.safety.service import Safety
from storage import db
from storage.crypto import Identity, Sealer, load_or_create_master_key
from storage.keystore import SESSION_INFO_KEY, KeyStore, open_store
from storage.repositories import ReferralRepo
from storage.sealed import IDENTITY, MASTER

# Keys live apart from the database's folder, so a copy of the database's folder holds no key
# (L7); var/master.key is still read where an older version created it.
KEYS_DIR = VAR_DIR / "keys"


def master_key(settings: Settings) -> bytes:
    """MASTER_KEY, or the key file (created on first start); refuses a readable one (L7)."""
    legacy = VAR_DIR / "master.key"
    path = legacy if legacy.exists() else KEYS_DIR / "master.key"
    value = settings.master_key.get_secret_value() if settings.master_key else None
    return load_or_create_master_key(value, path)


class SchemaOutOfDate(Exception):
    """The database needs `python -m bot db upgrade`."""


# A named check /healthz reports (R36), e.g. the outbox's lag and dead letters.
HealthProbe = Callable[[], Awaitable[dict[str, Any]]]


@dataclass
class App:
    """Every long-lived service, typed: handlers get them injected by these names."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    sealer: Sealer
    directory: Directory
    library: LibraryHolder
    # Members' data keys, apart from the main database (storage/keystore.py).
    keystore: KeyStore | None = None
    # Wakes the outbox worker after a commit that owes Telegram a message.
    doorbell: Doorbell = field(default_factory=Doorbell)
    health_probes: dict[str, HealthProbe] = field(default_factory=dict)
    # Message ids for "Clear this chat", discreet mode, the PIN: one per process.
    safety: Safety = field(init=False)

    def __post_init__(self) -> None:
        self.safety = Safety(self)

    @property
    def identity(self) -> Identity:
        """Keyed hashes and sealed ids (storage/sealed.py), carried by every session."""
        found = self.sessions.kw["info"][IDENTITY]
        assert isinstance(found, Identity)
        return found

    async def close(self) -> None:
        if self.keystore is not None:
            await self.keystore.close()
        await self.engine.dispose()


async def create_app(
    settings: Settings, *, directory: Directory | None = None, library: Library | None = None
) -> App:
    """Raises ContentError listing every problem when the content is broken.

    `directory` and `library`, when given, are the content of `settings.guides_dir` already
    loaded (both are immutable), so the tests load it once per run.
    """
    problems: list[Problem] = []
    # Collect both features' problems before refusing.
    if directory is None:
        try:
            directory = load_directory(settings.guides_dir)
        except ContentError as exc:
            problems += exc.problems
    holder: LibraryHolder | None = None
    if library is not None:
        holder = LibraryHolder(library, settings.guides_dir, None)
    else:
        try:
            holder = LibraryHolder.load(settings.guides_dir, settings.guides_cache)
        except ContentError as exc:
            problems += exc.problems
    if problems or directory is None or holder is None:
        raise ContentError(problems)
    key = master_key(settings)
    # One connection per chat handled at once, plus the workers, the webhook and /healthz.
    # SQLite connections are cheap threads; PostgreSQL's are scarce and shared by instances.
    overflow = settings.max_concurrent_updates + 10 if settings.is_sqlite else 20
    engine = db.create_engine(settings.database_url, pool_size=5, max_overflow=overflow)
    if settings.is_sqlite:
        await db.upgrade(engine, key)
    elif await db.needs_upgrade(engine):
        await engine.dispose()
        raise SchemaOutOfDate("the database schema is out of date: run `python -m bot db upgrade`")
    keystore = await open_store(settings.database_url, settings.keys_url)
    sealer = Sealer(key)
    info: dict[str, object] = {IDENTITY: Identity(key), MASTER: sealer}
    if keystore is not None:
        info[SESSION_INFO_KEY] = keystore
    sessions = db.session_factory(engine, info)
    async with sessions.begin() as session:
        if keystore is not None:
            await keystore.adopt(session)
        # Referrals written before migration 0008: their facts move under members' keys (H1).
        resealed = await ReferralRepo(session).reseal_master_facts()
    if resealed and settings.is_sqlite:
        async with sessions() as session:
            await db.checkpoint(session)  # the old ciphertexts leave the write-ahead log too
    return App(settings, engine, sessions, sealer, directory, holder, keystore)
