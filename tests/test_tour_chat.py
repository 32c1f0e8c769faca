"""Tour findings 29, 30, 31: the terminal chat (bot/devtools/chat.py) with the production
dispatcher and the fake Bot API."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.base import StorageKey
from rich.console import Console

from bot.devtools.chat import TerminalChat, deleted_note, log_to_file, reset
from bot.devtools.localapi import FakeTelegram
from bot.ui.callbacks import PinMenu
from tests.fakes import Chat


async def state_of(dp: Dispatcher, bot: Bot, chat: Chat) -> str | None:
    key = StorageKey(bot_id=bot.id, chat_id=chat.chat_id, user_id=chat.chat_id)
    return await dp.fsm.storage.get_state(key)


async def test_tour_30_a_pin_is_text_not_a_button_tap(
    chat: Chat, telegram: FakeTelegram, bot: Bot, dp: Dispatcher
) -> None:
    """PIN -> Set a PIN -> "0001": sent as the PIN, not as a tap on button 1 (☰ Menu)."""
    term = TerminalChat(telegram, Console(file=io.StringIO()), chat.person)
    await chat.say("/privacy")
    term.show_new_events()
    assert term.to_update("1", await state_of(dp, bot, chat))["callback_query"]  # type: ignore[index]

    term.seen = len(telegram.events)
    await chat.tap_data(PinMenu(op="set").pack())
    term.show_new_events()
    assert term.buttons, "the PIN prompt has a Menu button"
    state = await state_of(dp, bot, chat)
    for pin in ("0001", "1"):
        raw = term.to_update(pin, state)
        assert raw is not None and raw["message"]["text"] == pin, raw
    tap = term.to_update("#1", state)
    assert tap is not None and "callback_query" in tap
    assert term.to_update("#9", state) is None  # no such button: nothing is sent


def test_tour_29_reset_deletes_the_chat_state(tmp_path: Path) -> None:
    """`chat --reset` removes the database and its key store (and SQLite's side files)."""
    db = tmp_path / "chat.sqlite3"
    files = [db, tmp_path / "chat.sqlite3-wal", tmp_path / "chat.keys.sqlite3"]
    for f in files:
        f.write_bytes(b"x")
    other = tmp_path / "bot.sqlite3"
    other.write_bytes(b"x")
    assert sorted(reset(db)) == sorted(files)
    assert not any(f.exists() for f in files) and other.exists()
    assert reset(db) == []


def test_tour_31_deletions_use_plural_forms() -> None:
    assert deleted_note(1) == "(1 message deleted from this chat)"
    assert deleted_note(84) == "(84 messages deleted from this chat)"


def test_tour_31_log_lines_go_to_a_file(tmp_path: Path) -> None:
    """A warning (such as the generated MASTER_KEY) goes to var/chat.log, not the terminal."""
    root = logging.getLogger()
    before = list(root.handlers)
    stream = io.StringIO()
    root.addHandler(logging.StreamHandler(stream))
    try:
        log_to_file(tmp_path / "chat.log")
        logging.getLogger("storage.crypto").warning("MASTER_KEY is not set")
        for handler in root.handlers:
            handler.flush()
        assert stream.getvalue() == ""
        assert "MASTER_KEY is not set" in (tmp_path / "chat.log").read_text()
    finally:
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)
                handler.close()
        for handler in before:
            if handler not in root.handlers:
                root.addHandler(handler)
