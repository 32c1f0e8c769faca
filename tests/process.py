"""Start and stop the real `python -m bot` process against the fake Bot API over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.conftest import TOKEN
from tests.fake_api import FakeBotAPI


async def start_bot(
    fake_api: FakeBotAPI, tmp_path: Path, _command: str = "run", **env: str
) -> asyncio.subprocess.Process:
    environment = {
        **os.environ,
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": fake_api.url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/e2e.sqlite3",
        "MASTER_KEY": "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=",
        "LOG_LEVEL": "INFO",
        **env,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        _command,
        env=environment,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


# Generous bounds: a passing test never waits this long, and a loaded 2-core machine (two test
# workers, each starting interpreters that import aiogram) can take a minute to start one.
PROCESS_TIMEOUT = 180.0


async def wait_for(predicate, seconds: float = PROCESS_TIMEOUT) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for the bot")
        await asyncio.sleep(0.05)


async def stop(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), timeout=PROCESS_TIMEOUT)
    return proc.returncode or 0, err.decode()
