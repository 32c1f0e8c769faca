"""The local Bot API's getUpdates keeps Telegram's promise: an update is given again until a
higher offset confirms it, whichever long poll took it first."""

from __future__ import annotations

import asyncio

from bot.devtools.localapi import FakeTelegram
from tests.fakes import user


async def test_an_update_a_dead_long_poll_took_is_given_to_the_next_caller() -> None:
    """A process killed mid long poll leaves its request open on the server; the update that
    request takes must not be wiped when the new process's own long poll times out empty."""
    tg = FakeTelegram()
    orphan = asyncio.ensure_future(tg.api_getupdates({"timeout": 5}))
    live = asyncio.ensure_future(tg.api_getupdates({"timeout": 0.2}))
    await asyncio.sleep(0.05)
    member = user("fr")
    await tg.updates.put(tg.user_message(member, "/start"))
    taken = await orphan  # answered to a connection nobody reads any more
    assert [u["message"]["text"] for u in taken] == ["/start"]
    await live  # the new process's poll ends at its timeout
    again = await tg.api_getupdates({"timeout": 0})
    assert [u["update_id"] for u in again] == [u["update_id"] for u in taken]
    confirmed = await tg.api_getupdates({"offset": taken[0]["update_id"] + 1, "timeout": 0})
    assert confirmed == []
