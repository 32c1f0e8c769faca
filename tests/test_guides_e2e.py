"""Guides through the real `python -m bot run` process and FakeTG over HTTP on loopback."""

from __future__ import annotations

import asyncio
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest
from aiogram.utils.i18n import I18n

from bot.config import PROJECT_ROOT
from bot.devtools.localapi import FakeTelegram
from bot.guides.handlers import GuideCard, GuideList, GuideRead
from tests.fake_api import FakeBotAPI
from tests.fakes import user
from tests.process import PROCESS_TIMEOUT, start_bot, stop, wait_for
from tests.seed import seed_library

pytestmark = pytest.mark.process

GUIDES = PROJECT_ROOT / "guides"
SEED = seed_library()


def last_bot_message(tg: FakeTelegram, chat_id: int) -> dict[str, Any]:
    ids = [m for (c, m), msg in tg.messages.items() if c == chat_id and msg["from"]["is_bot"]]
    return tg.messages[(chat_id, max(ids))]


def edits(tg: FakeTelegram, chat_id: int) -> int:
    return sum(1 for e in tg.events if e.kind == "edited" and e.chat_id == chat_id)


async def tap(tg: FakeTelegram, member: dict[str, Any], data: str) -> dict[str, Any]:
    """Tap a button of the latest bot message and wait for that message to change."""
    message = last_bot_message(tg, member["id"])
    offered = [b.get("callback_data") for b in tg.buttons(member["id"], message["message_id"])]
    assert data in offered, (data, offered)
    before = edits(tg, member["id"])
    await tg.updates.put(tg.user_tap(member, member["id"], message["message_id"], data))
    await wait_for(lambda: edits(tg, member["id"]) > before)
    return last_bot_message(tg, member["id"])


async def say(tg: FakeTelegram, member: dict[str, Any], text: str) -> dict[str, Any]:
    before = len(tg.sent("sendMessage", member["id"]))
    await tg.updates.put(tg.user_message(member, text))
    await wait_for(lambda: len(tg.sent("sendMessage", member["id"])) > before)
    return last_bot_message(tg, member["id"])


async def test_read_link_and_inline_query_through_the_real_process(
    fake_api: FakeBotAPI, tmp_path: Path
) -> None:
    """Acceptance over real HTTP, in one process run (starting one takes seconds).

    1. Spanish: Community Guides -> a guide -> Read -> ▶ edits one message to page 2.
    2. French: /start g-<slug> opens that guide's card; an unknown slug gets the menu.
    3. Russian: an inline query in Chinese gets matching cards titled in Russian.
    """
    tg = fake_api.telegram
    member, reader, sharer = user("es"), user("fr"), user("ru")
    guide = SEED.of_kind("community")[0]
    spanish = guide.version("es")
    proc = await start_bot(fake_api, tmp_path, GUIDES_CACHE=str(tmp_path / "cache.json"))
    try:
        home = await say(tg, member, "/guides")
        await tap(tg, member, GuideList(by="k", key="community").pack())
        card = await tap(tg, member, GuideCard(s=guide.slug).pack())
        assert card["text"].startswith(spanish.title)
        await tap(tg, member, GuideRead(s=guide.slug, p=0).pack())
        page = await tap(tg, member, GuideRead(s=guide.slug, p=1).pack())

        linked = await say(tg, reader, "/start g-decriminalisation")
        gone = await say(tg, reader, "/start g-no-such-guide")

        await tg.updates.put(
            tg.update(inline_query={"id": "77", "from": sharer, "query": "数字安全", "offset": ""})
        )
        await wait_for(lambda: tg.sent("answerInlineQuery"))
    finally:
        code, err = await stop(proc)
    assert code == 0, err

    assert (tmp_path / "cache.json").exists()  # the next start reads rendered pages from it
    assert page["message_id"] == home["message_id"]
    assert spanish.pages[1].heading in page["text"]
    assert spanish.pages[0].heading not in page["text"]
    assert len(tg.sent("sendMessage", member["id"])) == 1
    assert {int(c.params["message_id"]) for c in tg.sent("editMessageText", member["id"])} == {
        home["message_id"]
    }

    decriminalisation = SEED.get("decriminalisation")
    assert decriminalisation is not None
    assert linked["text"].startswith(decriminalisation.version("fr").title)
    expected = I18n(path=PROJECT_ROOT / "locales").gettext(
        "Sorry, this guide is not available any more. Here is the main menu.", locale="fr"
    )
    assert gone["text"] == expected

    (call,) = tg.sent("answerInlineQuery")
    results = call.params["results"]
    digital = SEED.get(results[0]["id"])
    assert digital is not None and "digital" in digital.topics
    assert results[0]["title"] == digital.version("ru").title
    assert results[0]["reply_markup"]["inline_keyboard"][0][0]["url"].endswith(
        f"?start=g-{digital.slug}"
    )
    for person in (member, reader, sharer):
        assert str(person["id"]) not in err


async def test_start_refuses_broken_guides_with_the_full_list(
    fake_api: FakeBotAPI, tmp_path: Path
) -> None:
    """R19: broken content stops the start with every problem as path:line: message."""
    guides = tmp_path / "guides"
    shutil.copytree(GUIDES, guides)
    (guides / "swit" / "en.md").unlink()
    meta = guides / "cedaw" / "guide.yaml"
    meta.write_text(meta.read_text().replace("kind: smart", "kind: handbook"))
    proc = await start_bot(
        fake_api, tmp_path, GUIDES_DIR=str(guides), GUIDES_CACHE=str(tmp_path / "cache.json")
    )
    _, err_bytes = await asyncio.wait_for(proc.communicate(), timeout=PROCESS_TIMEOUT)
    err = err_bytes.decode()
    assert proc.returncode == 1, err
    assert "guides/swit/en.md:1: missing: every guide needs English" in err
    assert "guides/cedaw/guide.yaml:1: unknown kind 'handbook'" in err
    assert "Cannot start: 2 problem(s)" in err
    assert "Traceback" not in err
    assert not tg_calls(fake_api)


def tg_calls(fake_api: FakeBotAPI) -> list[str]:
    return [c.method for c in fake_api.telegram.calls]


async def test_sighup_reloads_the_guides_and_keeps_them_on_error(
    fake_api: FakeBotAPI, tmp_path: Path
) -> None:
    """SIGHUP with a broken file keeps the old guides (logged); after the fix it swaps."""
    tg = fake_api.telegram
    member = user("en")
    guides = tmp_path / "guides"
    shutil.copytree(GUIDES, guides)
    en = guides / "swit" / "en.md"
    original = en.read_text()
    proc = await start_bot(
        fake_api, tmp_path, GUIDES_DIR=str(guides), GUIDES_CACHE=str(tmp_path / "cache.json")
    )
    assert proc.stderr is not None
    lines: list[str] = []

    async def collect() -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            lines.append(raw.decode())

    collector = asyncio.create_task(collect())
    try:
        await say(tg, member, "/menu")  # the bot is up and its signal handlers are in place
        en.write_text(original.replace("## ", "<i>## ", 1))
        proc.send_signal(signal.SIGHUP)
        await wait_for(lambda: any("guides not reloaded" in line for line in lines))
        card = await say(tg, member, "/start g-swit")
        swit = SEED.get("swit")
        assert swit is not None and card["text"].startswith(swit.version("en").title)
        en.write_text(original.replace('title: "', 'title: "Revised: ', 1))
        proc.send_signal(signal.SIGHUP)
        reloaded = f"guides reloaded: {len(SEED.guides)} guides"
        await wait_for(lambda: any(reloaded in line for line in lines))
        card = await say(tg, member, "/start g-swit")
        assert card["text"].startswith("Revised: ")
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), timeout=PROCESS_TIMEOUT)
        await collector
    assert proc.returncode == 0, "".join(lines)
    assert any("swit/en.md:" in line and "guides not reloaded" in line for line in lines)
