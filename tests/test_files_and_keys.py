"""Files and keys (L7, I1): private files, refused weak keys, a backup that holds no key."""

from __future__ import annotations

import base64
import sqlite3
import stat
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher

from bot.app import App, create_app
from bot.cli import backup
from bot.devtools.localapi import FakeTelegram
from bot.telegram.intake import Intake
from storage.crypto import MasterKeyError, Sealer, decode_key, load_or_create_master_key
from tests.conftest import make_settings
from tests.fakes import Chat
from tests.referral_kit import Group, submit, worker
from tests.test_privacy import readable_texts

REQUEST = "They took my passport at the border."


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake) -> Group:
    return Group(telegram, bot, dp, intake)


async def test_l7_database_and_key_store_files_are_private(chat: Chat, app: App) -> None:
    """The database, the key store and their -wal/-shm files are 0600; the key store sits
    in a folder of its own, not beside the database."""
    await chat.say("/start")
    await submit(chat, REQUEST)
    database = Path(app.settings.database_url.split("///", 1)[1])
    assert app.keystore is not None
    store = Path(app.keystore.url.split("///", 1)[1])
    assert store.parent != database.parent and store.parent.name == "keys"
    files = [
        f
        for base in (database, store)
        for f in (base, Path(f"{base}-wal"), Path(f"{base}-shm"))
        if f.exists()
    ]
    assert Path(f"{database}-wal") in files and store in files
    assert {f.name: oct(mode(f)) for f in files} == {f.name: "0o600" for f in files}
    assert mode(store.parent) == 0o700


def test_l7_readable_master_key_file_is_refused(tmp_path: Path) -> None:
    """A master.key other users can read stops the start with one clear line."""
    key_file = tmp_path / "keys" / "master.key"
    load_or_create_master_key(None, key_file)
    assert mode(key_file) == 0o600 and mode(key_file.parent) == 0o700
    key_file.chmod(0o644)
    with pytest.raises(MasterKeyError, match="chmod 600") as caught:
        load_or_create_master_key(None, key_file)
    assert "\n" not in str(caught.value)


async def test_i1_all_zero_master_key_is_refused(tmp_path: Path) -> None:
    """MASTER_KEY of 32 zero bytes is no key."""
    zero = base64.urlsafe_b64encode(bytes(32)).decode()
    with pytest.raises(MasterKeyError, match="all zeros"):
        await create_app(make_settings(tmp_path, master_key=zero))


async def test_l7_backup_opens_without_keys_and_forget_still_shreds(
    chat: Chat, group: Group, app: App, bot: Bot, tmp_path: Path
) -> None:
    """`python -m bot backup` writes a private, consistent copy without the key store; a
    member forgotten after it cannot be read from it, even with the master key."""
    await group.bind("aswa")
    await submit(chat, REQUEST)
    await worker(app, bot).drain()
    dest = tmp_path / "backups" / "bot-backup.sqlite3"
    assert backup(app.settings, dest) == 0
    assert mode(dest) == 0o600
    with sqlite3.connect(dest) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM referrals").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM member_keys").fetchone() == (0,)
    assert backup(app.settings, dest) == 2  # never overwrites
    master = Sealer(decode_key(app.settings.master_key.get_secret_value()))  # type: ignore[union-attr]
    assert app.keystore is not None
    live = {m: k for m in range(1, 10) if (k := await app.keystore.get(m)) is not None}
    assert any(REQUEST in t for t in await readable_texts(app, dest, master, live))  # control

    await chat.say("/forget")
    await chat.tap("Yes, delete everything")
    left = {m: k for m in range(1, 10) if (k := await app.keystore.get(m)) is not None}
    assert not any(REQUEST in t for t in await readable_texts(app, dest, master, left))


async def test_i1_inbox_payload_is_bound_to_its_update_id(
    app: App, bot: Bot, intake: Intake, telegram: FakeTelegram
) -> None:
    """Two inbox payloads swapped in the database no longer open (the aad names the update)."""
    from aiogram.types import Update
    from cryptography.exceptions import InvalidTag
    from sqlalchemy import select

    from storage.models import InboxUpdate
    from storage.repositories.inbox import open_payload

    person = {"id": 4321, "is_bot": False, "first_name": "Sam"}
    updates = [
        Update.model_validate(telegram.user_message(person, t), context={"bot": bot})
        for t in ("first", "second")
    ]
    await intake.store(updates)
    async with app.sessions() as session:
        rows = dict(
            (await session.execute(select(InboxUpdate.update_id, InboxUpdate.payload))).all()
        )
    first, second = (u.update_id for u in updates)
    assert b"first" in open_payload(app.sealer, first, rows[first])
    with pytest.raises(InvalidTag):
        open_payload(app.sealer, first, rows[second])


def test_i1_debug_log_is_not_flooded_by_markdown_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """LOG_LEVEL=DEBUG: rendering a guide adds no markdown-it rule traces to the log."""
    import logging

    from markdown_it import MarkdownIt

    from bot.cli import setup_logging

    logger = logging.getLogger("markdown_it")
    monkeypatch.setattr(logger, "level", logging.NOTSET)  # as a process starts (the suite's
    # own log guard silences it for every test)
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        setup_logging("DEBUG")
        MarkdownIt("commonmark").render("# Title\n\nSome *text*.\n\n- one\n- two\n")
    finally:
        logger.removeHandler(handler)
    assert records == []
