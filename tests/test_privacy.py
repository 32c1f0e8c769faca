"""/privacy, the privacy check-up, and /forget (real deletion by crypto-shredding) (R27)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy import inspect, select, text
from sqlalchemy.types import Integer, String

from bot.app import App
from bot.config import LANGUAGES, PROJECT_ROOT
from bot.devtools.localapi import FakeTelegram
from bot.referrals.service import body_aad
from bot.telegram.intake import Intake
from storage.crypto import DataKeys, Sealer, decode_key
from storage.models import Base, Member, Referral
from tests.fakes import Chat
from tests.referral_kit import Group, submit, worker

REQUEST = "Police took my phone in the raid on Friday."
STAFF_REPLY = "Our lawyer can meet you on Monday."
ANSWER = "Monday works, thank you so much."


@pytest.fixture
def group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake) -> Group:
    return Group(telegram, bot, dp, intake, title="ASWA staff")


# -- privacy check-up -------------------------------------------------------------------------


async def test_first_start_offers_the_checkup_and_skip_keeps_the_welcome(chat: Chat) -> None:
    """A new member's welcome offers the check-up in the same message; Skip removes the offer."""
    (welcome,) = await chat.say("/start")
    assert "privacy check-up" in welcome
    labels = chat.buttons()
    assert labels[:2] == ["🛡 Privacy check-up (1 min)", "Skip"]
    assert any("Guides" in label for label in labels)
    (after,) = await chat.tap("Skip")
    assert "privacy check-up" not in after and "Hello!" in after
    assert not any("check-up" in b for b in chat.buttons())
    (again,) = await chat.say("/start")
    assert "privacy check-up" not in again


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_checkup_walks_through_in_every_language(new_chat: Any, lang: str) -> None:
    """Every page renders (strict HTML) in each UI language; ◀ ▶ edit one message; Done ends."""
    chat: Chat = new_chat(lang)
    await chat.say("/start")
    first = chat.last_bot_message()["message_id"]
    await chat.tap_data("cu:0")
    # Four pages and Telegram's disclosure notice; no country notice without a saved country,
    # whatever the interface language (tour [9]).
    expected = 5
    pages = [chat.last_bot_message()["text"]]
    for _ in range(expected - 1):
        next_button = next(b for b in chat.buttons() if b.endswith("▶"))
        await chat.tap(next_button)
        pages.append(chat.last_bot_message()["text"])
    assert chat.last_bot_message()["message_id"] == first  # one message, edited
    assert len(set(pages)) == expected
    # Arabic isolates the numbers (U+2068 … U+2069) so the line keeps its direction.
    assert f"{expected}/{expected}" in pages[-1].replace("\u2068", "").replace("\u2069", "")
    assert not any(b.endswith("▶") for b in chat.buttons())
    back = next(b for b in chat.buttons() if b.startswith("◀"))
    await chat.tap(back)
    assert chat.last_bot_message()["text"] == pages[-2]


async def test_checkup_covers_what_the_issue_asks(chat: Chat) -> None:
    """Storage and retention, no end-to-end encryption, phone number, passcode, clear chat,
    and never asking for a name, phone number, ID or photos."""
    await chat.say("/checkup")
    text = chat.last_bot_message()["text"]
    while any(b.endswith("▶") for b in chat.buttons()):
        await chat.tap("Next")
        text += chat.last_bot_message()["text"]
    for needle in (
        "90 days",
        "48 hours",
        "not end-to-end encrypted",
        "Phone Number → Nobody",
        "Passcode",
        "Clear this chat",
        "real name, phone number, ID documents or photos",
    ):
        assert needle in text, needle


def test_catalog_has_every_checkup_string() -> None:
    """Every check-up string is translated in every catalog (fails until the catalog pass)."""
    from babel.messages.extract import extract_from_file
    from babel.messages.pofile import read_po

    source = PROJECT_ROOT / "bot" / "safety" / "handlers.py"
    ids = {
        m[1] if isinstance(m[1], str) else m[1][0]
        for m in extract_from_file("python", str(source), keywords={"_": None, "ngettext": (1, 2)})
    }
    missing = []
    for lang in LANGUAGES:
        if lang == "en":
            continue
        with (PROJECT_ROOT / "locales" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        for msgid in sorted(ids):
            message = catalog.get(msgid)
            if message is None or not message.string:
                missing.append(f"{lang}: {msgid[:50]!r}")
    assert not missing, "\n".join(missing)


async def test_privacy_screen_offers_every_safety_tool(chat: Chat) -> None:
    """/privacy: check-up, discreet mode, PIN, clear chat, delete my data, menu."""
    (reply,) = await chat.say("/privacy")
    assert "not end-to-end encrypted" in reply and "48 hours" in reply
    labels = " | ".join(chat.buttons())
    for label in ("Privacy check-up", "Discreet mode", "PIN", "Clear this chat", "Delete my data"):
        assert label in labels


# -- /forget --------------------------------------------------------------------------------


def db_file(app: App) -> Path:
    return Path(app.settings.database_url.split("///", 1)[1])


def db_file_exists(url: str) -> bool:
    return Path(url.split("///", 1)[1]).exists()


def read_if_exists(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy, as a backup tool would take it (WAL included)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def blobs(path: Path) -> list[bytes]:
    """Every binary value in every table of an SQLite file."""
    found = []
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                found += [bytes(v) for v in row if isinstance(v, bytes | memoryview)]
    return found


def codes(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT code FROM referrals")]


async def readable_texts(
    app: App, backup: Path, master: Sealer, extra_keys: dict[int, bytes]
) -> list[str]:
    """Every plaintext an attacker with the backup, the master key and `extra_keys` (member
    id -> wrapped key) can open, trying each binary value with every key and every aad."""
    with sqlite3.connect(backup) as conn:
        wrapped = dict(conn.execute("SELECT member_id, wrapped_key FROM member_keys"))
        relays = conn.execute(
            "SELECT r.code, x.direction, x.source_update_id FROM referral_relays x "
            "JOIN referrals r ON r.id = x.referral_id"
        ).fetchall()
    wrapped |= extra_keys
    data_keys = DataKeys(master)
    sealers = [master]
    for member_id, key in wrapped.items():
        try:
            sealers.append(data_keys.unwrap(int(member_id), bytes(key)))
        except Exception:
            continue
    from bot.referrals.service import relay_aad

    aads = [b"", *(body_aad(c) for c in codes(backup))]
    aads += [relay_aad(code, d, u) for code, d, u in relays]
    opened = []
    for blob in blobs(backup):
        for sealer in sealers:
            for aad in aads:
                try:
                    opened.append(sealer.open(blob, aad).decode(errors="replace"))
                except Exception:
                    continue
    return opened


async def rows_referring_to(app: App, member: dict[str, Any]) -> list[str]:
    """Every (table.column) in the live database holding the member's ids or pseudonym."""
    hits = []
    async with app.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if not await conn.run_sync(lambda c, t=table: inspect(c).has_table(t.name)):
                continue
            for column in table.columns:
                candidates: list[object] = []
                if isinstance(column.type, Integer):
                    candidates.append(member["telegram_id"])
                    if column.name == "member_id" or (table.name == "members"):
                        candidates.append(member["id"])
                if isinstance(column.type, String):
                    candidates.append(member["public_id"])
                for value in candidates:
                    found = await conn.scalar(
                        select(text("count(*)")).select_from(table).where(column == value)
                    )
                    if found:
                        hits.append(f"{table.name}.{column.name}")
    return hits


async def test_forget_leaves_no_row_and_a_backup_cannot_be_read(
    chat: Chat,
    group: Group,
    app: App,
    bot: Bot,
    telegram: FakeTelegram,
    tmp_path: Path,
) -> None:
    """Acceptance (R27): after /forget no row refers to the member, the chat's recent messages
    are deleted, the network sees "withdrawn by the member", and the referral ciphertexts in a
    copy of the database taken before /forget cannot be opened with the master key alone."""
    await group.bind("aswa")
    delivery = worker(app, bot)
    code = await submit(chat, REQUEST)
    await delivery.drain()
    card = group.card(code)
    await group.say(STAFF_REPLY, reply_to=card["message_id"])
    await delivery.drain()
    await chat.tap("Reply")
    await chat.say(ANSWER)
    await delivery.drain()
    await chat.say("/discreet")
    async with app.sessions() as session:
        row = await session.scalar(select(Member))
        assert row is not None
        member = {"id": row.id, "telegram_id": row.telegram_id, "public_id": row.public_id}
    assert await rows_referring_to(app, member)  # the scan finds a live member

    backup = tmp_path / "backup-before-forget.sqlite3"
    copy_database(db_file(app), backup)
    assert app.keystore is not None
    master = Sealer(decode_key(app.settings.master_key.get_secret_value()))  # type: ignore[union-attr]
    live_key = await app.keystore.get(member["id"])
    assert live_key is not None
    # Control: the backup plus the key store as it is now would reveal the texts.
    revealed = await readable_texts(app, backup, master, {member["id"]: live_key})
    assert any(REQUEST in t for t in revealed)
    # Relayed texts were already dropped when delivered.
    assert not any(STAFF_REPLY in t or ANSWER in t for t in revealed)
    # The backup alone holds no key: the master key opens none of the member's texts.
    assert not [t for t in await readable_texts(app, backup, master, {}) if "Monday" in t]

    await chat.say("/forget")
    replies = await chat.tap("Yes, delete everything")
    assert any("no longer keeps anything" in r for r in replies)
    assert telegram.sent("deleteMessages", chat.chat_id)
    await delivery.drain()

    assert await rows_referring_to(app, member) == []
    assert await app.keystore.get(member["id"]) is None
    # Gone from the key store's files too, write-ahead log included.
    store = Path(app.keystore.url.split("///", 1)[1])
    for path in (store, store.with_name(store.name + "-wal")):
        assert live_key not in read_if_exists(path)
    # What is left for the network: a tombstone without identifiers or text.
    async with app.sessions() as session:
        tombstone = await session.scalar(select(Referral))
    assert tombstone is not None and tombstone.code == code
    assert tombstone.member_id is None and tombstone.body is None
    assert tombstone.state == "deleted"
    texts = [m["text"] for m in group.bot_messages()]
    assert any("withdrawn by the member" in t.lower() for t in texts)
    assert not any(REQUEST in t for t in [m["text"] for m in group.bot_messages()])
    # The copy taken before /forget, with the master key and everything the store still has:
    # nothing of the member's opens.
    leftovers = {m: k for m in range(1, 50) if (k := await app.keystore.get(m)) is not None}
    opened = await readable_texts(app, backup, master, leftovers)
    assert not [t for t in opened if REQUEST in t or STAFF_REPLY in t or ANSWER in t]
    # And nothing of it sits in the live database's files in the clear, nor the member's
    # pseudonym: deleted rows are zeroed and the write-ahead log emptied after the commit.
    await app.safety.close()
    live = db_file(app)
    raw = read_if_exists(live) + read_if_exists(live.with_name(live.name + "-wal"))
    for secret in (REQUEST, STAFF_REPLY, ANSWER, member["public_id"]):
        assert secret.encode() not in raw, secret


async def test_forget_can_be_cancelled(chat: Chat, app: App) -> None:
    """ "No, keep it" deletes nothing."""
    await chat.say("/start")
    await chat.say("/forget")
    await chat.tap("No, keep it")
    async with app.sessions() as session:
        assert await session.scalar(select(Member)) is not None


async def test_forget_then_start_makes_a_new_pseudonym(chat: Chat, app: App) -> None:
    """After /forget the next /start is a stranger: a new member code, the check-up offered."""
    await chat.say("/start")
    async with app.sessions() as session:
        before = await session.scalar(select(Member.public_id))
    await chat.say("/forget")
    await chat.tap("Yes, delete everything")
    async with app.sessions() as session:
        assert await session.scalar(select(Member)) is None
    (welcome,) = await chat.say("/start")
    assert "privacy check-up" in welcome
    async with app.sessions() as session:
        after = await session.scalar(select(Member.public_id))
    assert after is not None and after != before


async def test_keys_live_outside_the_main_database(app: App) -> None:
    """The default key store is a file of its own beside the SQLite database."""
    assert app.keystore is not None
    assert app.keystore.url.endswith("/keys/test.keys.sqlite3")
    assert db_file_exists(app.keystore.url)
