"""kill -9 in the middle of a broadcast of the real `python -m bot run` process (R35)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.app import create_app
from bot.config import sqlite_url
from storage.models import Broadcast, BroadcastRecipient, BroadcastState
from tests.alerts_kit import approve, subscribers
from tests.conftest import make_settings
from tests.fake_api import FakeBotAPI
from tests.process import start_bot, stop, wait_for

N = 120
LANES = 1


async def test_kill_9_mid_broadcast_resumes_with_none_skipped_and_repeats_flagged(
    fake_api: FakeBotAPI, tmp_path: Path
) -> None:
    """Killed at half way and restarted: every member gets the alert; a member gets it twice
    only for a send that was open at the kill, and that row is flagged as a repeat."""
    settings = make_settings(tmp_path, database_url=sqlite_url(tmp_path / "e2e.sqlite3"))
    app = await create_app(settings)
    try:
        chats = await subscribers(app, N)
        await approve(app)
    finally:
        await app.close()
    wanted = set(chats)
    tg = fake_api.telegram
    got: Counter[int] = Counter()
    half = asyncio.Event()

    def count(method: str, params: dict[str, Any]) -> None:
        if method == "sendMessage" and int(params["chat_id"]) in wanted:
            got[int(params["chat_id"])] += 1
            if sum(got.values()) >= N // 2:
                half.set()

    tg.faults.append(count)
    env = {"BROADCAST_RATE": "60", "BROADCAST_LANES": str(LANES)}
    proc = await start_bot(fake_api, tmp_path, **env)
    try:
        await asyncio.wait_for(half.wait(), timeout=60)
    finally:
        proc.kill()
        await proc.wait()
    at_kill = sum(got.values())
    assert at_kill < N
    proc = await start_bot(fake_api, tmp_path, **env)
    try:
        await wait_for(lambda: set(got) == wanted, seconds=60)
        await asyncio.sleep(0.5)
    finally:
        code, err = await stop(proc)
    assert code == 0, err
    app = await create_app(settings)
    try:
        async with app.sessions() as session:
            job = await session.scalar(select(Broadcast))
            rows = list(await session.scalars(select(BroadcastRecipient)))
    finally:
        await app.close()
    duplicates = sum(n - 1 for n in got.values())
    assert set(got) == wanted  # 0 skipped
    assert job is not None and job.state == BroadcastState.DONE
    assert duplicates <= LANES
    assert duplicates <= sum(r.repeat for r in rows)  # every duplicate is flagged
