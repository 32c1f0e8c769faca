"""The real `python -m bot run` process against FakeTG over HTTP on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiogram.utils.i18n import I18n

from bot.config import PROJECT_ROOT
from tests.conftest import TOKEN
from tests.fake_api import FakeBotAPI
from tests.fakes import user
from tests.process import PROCESS_TIMEOUT, start_bot, stop, wait_for

pytestmark = pytest.mark.process


async def test_update_survives_a_crash_then_a_french_member_gets_the_french_menu(
    fake_api: FakeBotAPI, tmp_path: Path
) -> None:
    """Two claims, one pair of processes (each start costs seconds of imports):

    1. kill -9 right after the inbox commit: the update is handled after restart, once.
    2. /start from a member whose language_code is fr brings the French menu, and the
       commands were published per language, through real HTTP.
    """
    tg = fake_api.telegram
    member, french_member = user("en"), user("fr")
    original = tg.api_sendmessage
    gate, release = asyncio.Event(), asyncio.Event()

    async def hang(params):  # type: ignore[no-untyped-def]
        gate.set()
        await release.wait()
        return True

    tg.api_sendmessage = hang  # type: ignore[method-assign]
    await tg.updates.put(tg.user_message(member, "/menu"))
    proc = await start_bot(fake_api, tmp_path)
    await asyncio.wait_for(gate.wait(), timeout=PROCESS_TIMEOUT)
    proc.kill()
    await proc.wait()
    release.set()
    tg.api_sendmessage = original  # type: ignore[method-assign]
    tg.calls.clear()  # what follows is the second process's
    proc = await start_bot(fake_api, tmp_path)
    try:
        await wait_for(lambda: len(tg.events) >= 1)
        await tg.updates.put(tg.user_message(french_member, "/start"))
        await wait_for(lambda: tg.sent("sendMessage", french_member["id"]))
        await asyncio.sleep(0.5)  # a repeated answer to the first update would show up now
    finally:
        code, err = await stop(proc)
    assert code == 0, err
    sent = [e for e in tg.events if e.kind == "sent" and e.chat_id == member["id"]]
    assert len(sent) == 1

    french = I18n(path=PROJECT_ROOT / "locales").gettext("Ask a network", locale="fr")
    assert french != "Ask a network"
    (call,) = tg.sent("sendMessage", french_member["id"])
    labels = [b["text"] for row in call.params["reply_markup"]["inline_keyboard"] for b in row]
    assert any(french in label for label in labels)
    # Commands and descriptions were published per language.
    languages = {c.params.get("language_code") for c in tg.sent("setMyCommands")}
    assert {"fr", "es", "ru", "zh", "ar", "en"} <= languages
    for person in (member, french_member):
        assert person["username"] not in err and str(person["id"]) not in err


@pytest.mark.parametrize(
    ("token", "base", "expect"),
    [
        ("999:WRONG-token", None, "rejected BOT_TOKEN"),
        (TOKEN, "http://127.0.0.1:9", "unreachable"),
    ],
)
async def test_bad_token_or_unreachable_api_exits_cleanly(
    fake_api: FakeBotAPI, tmp_path: Path, token: str, base: str | None, expect: str
) -> None:
    """An invalid token or an unreachable Bot API: one clear line and a non-zero exit."""
    env = {"BOT_TOKEN": token}
    if base:
        env["TELEGRAM_API_BASE"] = base
    proc = await start_bot(fake_api, tmp_path, **env)
    _, err = await asyncio.wait_for(proc.communicate(), timeout=PROCESS_TIMEOUT)
    assert proc.returncode == 1
    assert expect in err.decode()
    assert "Traceback" not in err.decode()
