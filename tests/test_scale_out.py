"""Two real `python -m bot webhook` processes on PostgreSQL and Redis share the work (issue 10).

1,000 updates from 100 chats are posted to both instances, each chat's in order (as Telegram
does: it waits for one request of a chat before the next), alternating instances. Every update
is answered exactly once, each chat's answers come in its order, and both instances handled a
share. Skipped without TEST_POSTGRES_URL / TEST_REDIS_URL.
"""

from __future__ import annotations

import asyncio
import random
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientError, ClientSession

from bot.devtools.localapi import FakeTelegram
from storage import db
from tests.fake_api import FakeBotAPI
from tests.fakes import user
from tests.process import start_bot, stop, wait_for

SECRET = "scale-out-secret_0123456789-long-enough-M7"
pytestmark = pytest.mark.process
CHATS, PER_CHAT = 100, 10
_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def post(http: ClientSession, url: str, body: dict[str, Any]) -> None:
    """As Telegram: try again until the instance says 200."""
    for _ in range(200):
        try:
            async with http.post(url, json=body, headers={_HEADER: SECRET}) as resp:
                if resp.status == 200:
                    return
        except (OSError, ClientError):  # as Telegram, a dropped connection is tried again
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("an update was never accepted")


async def handled(http: ClientSession, port: int) -> float:
    async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        text = await resp.text()
    found = re.search(r"^bot_updates_handled_total ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_two_webhook_instances_share_1000_updates_in_order(
    fake_api: FakeBotAPI, tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    engine = db.create_engine(pg_url)
    await db.upgrade(engine)
    await engine.dispose()
    tg: FakeTelegram = fake_api.telegram
    ports = [free_port(), free_port()]
    for n in range(2):
        (tmp_path / f"i{n}").mkdir()
    procs = [
        await start_bot(
            fake_api,
            tmp_path / f"i{n}",
            _command="webhook",
            DATABASE_URL=pg_url,
            KEYS_URL=pg_url,
            REDIS_URL=redis_url,
            WEBHOOK_URL=f"http://127.0.0.1:{port}",
            WEBHOOK_SECRET=SECRET,
            WEBHOOK_HOST="127.0.0.1",
            PORT=str(port),
            LOG_LEVEL="WARNING",
        )
        for n, port in enumerate(ports)
    ]
    rng = random.Random(7)
    members = [user("en") for _ in range(CHATS)]
    plans = {m["id"]: [rng.random() < 0.5 for _ in range(PER_CHAT)] for m in members}
    missing = ""
    try:
        try:
            await wait_for(lambda: len(tg.sent("setWebhook")) >= 2, seconds=120)
        except AssertionError:
            errors = [(await stop(proc))[1][-3000:] for proc in procs]
            raise AssertionError("the instances did not start:\n" + "\n".join(errors)) from None
        async with ClientSession() as http:

            async def one_chat(member: dict[str, Any]) -> None:
                for i, is_help in enumerate(plans[member["id"]]):
                    body = tg.user_message(member, "/help" if is_help else "/menu")
                    port = ports[(i + member["id"]) % 2]
                    await post(http, f"http://127.0.0.1:{port}/telegram", body)

            await asyncio.gather(*(one_chat(m) for m in members))
            try:
                await wait_for(lambda: len(tg.sent("sendMessage")) >= CHATS * PER_CHAT, 180)
            except AssertionError:
                missing = f"{len(tg.sent('sendMessage'))} answers"
            await asyncio.sleep(1.0)  # a duplicate would show up now
            shares = [await handled(http, port) for port in ports]
    finally:
        results = [await stop(proc) for proc in procs]
    assert not missing, missing + "\n".join(err[-3000:] for _, err in results)
    for code, err in results:
        assert code == 0, err[-3000:]
        assert "Traceback" not in err, err[-3000:]
    sent = tg.sent("sendMessage")
    assert len(sent) == CHATS * PER_CHAT
    for member in members:
        texts = [c.params["text"] for c in sent if str(c.params["chat_id"]) == str(member["id"])]
        assert [("How to use" in t) for t in texts] == plans[member["id"]]
    assert sum(shares) == CHATS * PER_CHAT
    assert min(shares) > 0, shares
