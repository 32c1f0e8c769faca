"""Fixtures: settings on a temporary database, the production dispatcher, a chat driver."""

from __future__ import annotations

import asyncio
import base64
import gettext
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.utils.i18n import I18n

from bot import app as app_module
from bot.app import App, create_app
from bot.config import PROJECT_ROOT, Settings, load_settings, sqlite_url
from bot.devtools.localapi import FakeTelegram, LocalSession
from bot.directory.model import Directory
from bot.dispatcher import build_dispatcher
from bot.guides import Library, LibraryHolder
from bot.safety import service as safety
from bot.telegram.intake import Intake
from storage import db
from tests.fake_api import FakeBotAPI
from tests.fakes import Chat, user
from tests.seed import is_seed, seed_directory, seed_library

ADMIN_ID = 777
TOKEN = "123456:TEST-token-for-the-fake-bot-api"

# R28: every log record of the run is scanned for personal data (tests/log_guard.py).
pytest_plugins = ["tests.log_guard"]

# Never let a developer's .env leak into tests.
os.environ.pop("BOT_TOKEN", None)


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": sqlite_url(tmp_path / "test.sqlite3"),
        "master_key": base64.urlsafe_b64encode(b"k" * 32).decode(),
        "admin_ids": frozenset({ADMIN_ID}),
        "_env_file": None,
        # Rendered guides stay in memory for the whole run instead of in the repo's var/.
        "guides_cache": None,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture(scope="session")
def content() -> tuple[Directory, Library]:
    """The seed guides/ loaded once per run: both are immutable, so tests share them."""
    return seed_directory(), seed_library()


@pytest.fixture(autouse=True)
def _seed_content_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that build an App themselves (create_app) get the shared seed content too.

    Only a load of the seed folder with no render cache is answered from memory: a test of
    loading itself (another folder, a cache file) still loads for real.
    """
    real_directory = app_module.load_directory

    def load_dir(path: Path) -> Directory:
        return seed_directory() if is_seed(path) else real_directory(path)

    real_holder = LibraryHolder.load.__func__  # type: ignore[attr-defined]

    def load_holder(
        cls: type[LibraryHolder], path: Path, cache: Path | None = None
    ) -> LibraryHolder:
        if cache is None and is_seed(path):
            return LibraryHolder(seed_library(), path, None)
        return real_holder(cls, path, cache)  # type: ignore[no-any-return]

    monkeypatch.setattr(app_module, "load_directory", load_dir)
    monkeypatch.setattr(LibraryHolder, "load", classmethod(load_holder))


@pytest.fixture(scope="session", autouse=True)
def _catalogs_parsed_once() -> Iterator[None]:
    """Each I18n (one per dispatcher, one per Safety: two per test) parses every .mo file.

    The parsed catalogs are read-only, so a run shares them; a changed file (its size or
    modification time) is parsed again.
    """
    real = I18n.find_locales
    parsed: dict[tuple[object, ...], dict[str, gettext.GNUTranslations]] = {}

    def find_locales(self: I18n) -> dict[str, gettext.GNUTranslations]:
        files = sorted(Path(self.path).glob(f"*/LC_MESSAGES/{self.domain}.*"))
        key = (
            str(self.path),
            self.domain,
            *((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files),
        )
        if key not in parsed:
            parsed[key] = real(self)
        return dict(parsed[key])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(I18n, "find_locales", find_locales)
        yield


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to the newest schema once; each test starts from a copy."""
    path = tmp_path_factory.mktemp("template") / "test.sqlite3"

    async def migrate() -> None:
        engine = db.create_engine(sqlite_url(path))
        await db.upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    return path


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, template_db: Path) -> Settings:
    """`@pytest.mark.settings(org_name=...)` overrides single values for one test."""
    marker = request.node.get_closest_marker("settings")
    shutil.copyfile(template_db, tmp_path / "test.sqlite3")
    return make_settings(tmp_path, **(marker.kwargs if marker else {}))


@pytest.fixture
async def app(settings: Settings, content: tuple[Directory, Library]) -> AsyncIterator[App]:
    shared = settings.guides_dir == PROJECT_ROOT / "guides" and settings.guides_cache is None
    directory, library = content if shared else (None, None)
    application = await create_app(settings, directory=directory, library=library)
    yield application
    await application.close()


@pytest.fixture
def telegram() -> FakeTelegram:
    return FakeTelegram()


@pytest.fixture
async def bot(telegram: FakeTelegram, app: App) -> AsyncIterator[Bot]:
    b = Bot(
        TOKEN,
        session=LocalSession(telegram),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
    safety.install(b, app)  # as every Bot the process builds: message ids, discreet mode
    yield b
    await safety.close(app)
    await b.session.close()


@pytest.fixture
async def dp(app: App, telegram: FakeTelegram) -> AsyncIterator[Dispatcher]:
    dispatcher = build_dispatcher(app)
    dispatcher["bot_username"] = telegram.bot_user["username"]
    yield dispatcher
    # As the processes do: the FSM storage and the flood counter close their Redis clients
    # (left open, their connections are collected after the loop closed, in another test).
    await dispatcher.emit_shutdown()


@pytest.fixture
def intake(app: App, bot: Bot, dp: Dispatcher) -> Intake:
    return Intake(app, bot, dp)


@pytest.fixture
def new_chat(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake):  # type: ignore[no-untyped-def]
    def factory(lang: str | None = "en", **extra: object) -> Chat:
        return Chat(telegram, bot, dp, intake, user(lang, **extra))

    return factory


@pytest.fixture
def chat(new_chat) -> Chat:  # type: ignore[no-untyped-def]
    return new_chat("en")


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotAPI]:
    server = FakeBotAPI(token=TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database (skipped without TEST_POSTGRES_URL; CI sets it)."""
    import uuid

    import asyncpg

    base = os.environ.get("TEST_POSTGRES_URL")
    if not base:
        pytest.skip("TEST_POSTGRES_URL not set (scripts/test-services.sh starts a server)")
    admin_dsn = base.replace("postgresql+asyncpg://", "postgresql://")
    name = "t_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.close()


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL not set (scripts/test-services.sh starts a server)")
    # Each pytest-xdist worker gets its own Redis database, so scans of "every key" in one
    # worker's test never see another's (gw0 -> db 1, gw1 -> db 2; no xdist -> the URL's own).
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw"):
        url = url.rsplit("/", 1)[0] + f"/{int(worker[2:]) % 15 + 1}"
    return url
