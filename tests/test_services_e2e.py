"""The real `python -m bot run` process over HTTP: the Russian services flow, then a location."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.directory.countries import CountryKeep
from bot.directory.handlers import ServicePage
from tests.fake_api import FakeBotAPI
from tests.fakes import user
from tests.places import TORONTO, assert_no_coordinates
from tests.process import start_bot, stop, wait_for

pytestmark = pytest.mark.process


async def test_russian_member_and_a_location_through_the_real_process(
    fake_api: FakeBotAPI, tmp_path: Path
) -> None:
    """ru member: "Киргизия" -> legal help -> SWAN's card in Russian; a location -> by distance."""
    tg = fake_api.telegram
    member = user("ru")
    other = user("en")
    chat_id = member["id"]

    def mine(kind: str) -> list[dict[str, Any]]:
        return [
            e.message for e in tg.events if e.kind == kind and e.chat_id == chat_id and e.message
        ]

    proc = await start_bot(fake_api, tmp_path)
    failure: AssertionError | None = None
    try:
        await tg.updates.put(tg.user_message(member, "/services"))
        # Generous: the process imports everything first, on a shared 2-core machine.
        await wait_for(lambda: len(mine("sent")) == 1, seconds=120)
        await tg.updates.put(tg.user_message(member, "Киргизия"))
        await wait_for(lambda: len(mine("sent")) == 2)
        question = mine("sent")[-1]
        assert "Киргизия" in question["text"]
        keep = CountryKeep(p="services", c="KG", keep=0).pack()
        await tg.updates.put(tg.user_tap(member, chat_id, question["message_id"], keep))
        await wait_for(lambda: len(mine("edited")) == 1)
        legal = ServicePage(c="KG", n="legal-help").pack()
        await tg.updates.put(tg.user_tap(member, chat_id, question["message_id"], legal))
        await wait_for(lambda: len(mine("edited")) == 2)
        answer = mine("edited")[-1]["text"]

        location = {"latitude": TORONTO[0], "longitude": TORONTO[1]}
        await tg.updates.put(tg.user_message(other, None, location=location))
        await wait_for(lambda: tg.sent("sendMessage", other["id"]))
        nearest = tg.sent("sendMessage", other["id"])[-1].params["text"]
    except AssertionError as exc:
        failure = exc
    finally:
        code, err = await stop(proc)
    assert failure is None, f"{failure}; the bot said:\n{err[-3000:]}"
    assert code == 0, err
    assert "Юридическая помощь и знание прав" in answer  # needs.yaml, ru
    assert "Киргизия" in answer  # Babel, ru
    assert "Основана в 2006 году" in answer  # SWAN's description, ru
    order = [nearest.index(name) for name in ("Maggie", "GLITS", "Peers Victoria")]
    assert order == sorted(order)
    assert tg.sent("deleteMessage", other["id"])
    assert_no_coordinates(tmp_path / "e2e.sqlite3", *TORONTO)
    for secret in ("43.653", "79.383", "Киргизия", member["username"], str(member["id"])):
        assert secret not in err
