"""Broadcast (issue 16): an alert to N opted-in members through the real `python -m bot run`.

The process polls a fake Bot API over HTTP on loopback, which answers 1% of the broadcast's
sends with 429 (retry_after 1 s). BROADCAST_RATE is 25/s in real time. Measured:
- messages delivered per second, sustained, before a kill -9 at 50% and after the restart;
- duplicates and skipped members once the restarted process has finished (a member gets it
  twice only for a send open at the kill: those rows are flagged `repeat`);
- members' answer times (p99) with no broadcast and while one runs.

N is 10,000 (about 7 minutes at 25/s); `python -m bot bench broadcast --quick` uses 1,000.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.devtools.benchmarks import Result, percentile
from bot.devtools.localapi import FakeTelegram, Params, Reply, error

TOKEN = "1:bench-broadcast"
KEY = base64.urlsafe_b64encode(b"b" * 32).decode()
FULL, QUICK = 10_000, 1_000
RATE = 25.0
PROBES = 20  # members who keep talking to the bot during the run
PROBE_EVERY = 0.2  # seconds between two probe messages (5 updates/s)
QUIET = 15.0  # seconds of probes with no broadcast, before it and again after it


def scale() -> int:
    return QUICK if os.environ.get("BENCH_QUICK") else FULL


class Api:
    """FakeTelegram over HTTP; counts broadcast sends, times answers to probe members."""

    def __init__(self, recipients: set[int], p429: float = 0.01) -> None:
        self.telegram = FakeTelegram()
        self.telegram.faults.append(self.fault)
        self.recipients = recipients
        self.p429 = p429
        self.rng = random.Random(16)
        self.delivered: Counter[int] = Counter()
        self.times: list[float] = []  # when each broadcast message was delivered
        self.answers: dict[int, asyncio.Future[float]] = {}
        self.runner: web.AppRunner | None = None
        self.url = ""
        self.refused = 0

    def fault(self, method: str, params: Params) -> Reply | None:
        if method != "sendMessage":
            return None
        chat = int(params.get("chat_id") or 0)
        if chat in self.recipients:
            if self.rng.random() < self.p429:
                self.refused += 1
                return error(429, "Too Many Requests: retry after 1", retry_after=1)
            self.delivered[chat] += 1
            self.times.append(time.monotonic())
        elif chat in self.answers and not self.answers[chat].done():
            self.answers[chat].set_result(time.monotonic())
        return None

    async def handle(self, request: web.Request) -> web.Response:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        status, body = await self.telegram.handle(request.match_info["method"], params)
        return web.json_response(body, status=status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.telegram.closing.set()
        if self.runner is not None:
            await self.runner.cleanup()

    async def ask(self, member: dict[str, Any]) -> float | None:
        """One probe: a member sends /help; milliseconds until the bot answers (None: 30 s
        without an answer)."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.answers[member["id"]] = future
        start = time.monotonic()
        await self.telegram.updates.put(self.telegram.user_message(member, "/help"))
        try:
            answered = await asyncio.wait_for(future, timeout=30)
        except TimeoutError:
            return None
        return (answered - start) * 1000


def env(folder: Path, api: Api) -> dict[str, str]:
    return {
        **os.environ,
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": api.url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder}/bench.sqlite3",
        "MASTER_KEY": KEY,
        "LOG_LEVEL": "WARNING",
        "FLOOD_LIMIT": "0",
        "BROADCAST_RATE": str(RATE),
    }


async def spawn(folder: Path, api: Api) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env=env(folder, api),
        cwd=folder,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def prepare(folder: Path, n: int) -> list[int]:
    """N members subscribed to alerts for Kenya; returns their Telegram ids."""
    from bot.app import create_app
    from bot.config import load_settings, sqlite_url
    from storage.models import SubscriptionKind
    from storage.repositories import MemberRepo, SubscriptionRepo

    settings = load_settings(
        database_url=sqlite_url(folder / "bench.sqlite3"), master_key=KEY, _env_file=None
    )
    app = await create_app(settings)
    chats = list(range(7_000_000, 7_000_000 + n))
    try:
        for start in range(0, n, 1000):
            async with app.sessions.begin() as session:
                members, subs = MemberRepo(session), SubscriptionRepo(session)
                for chat in chats[start : start + 1000]:
                    member, _new = await members.get_or_create(chat)
                    member.language = "en"
                    await subs.subscribe(member.id, SubscriptionKind.ALERTS, "KE")
    finally:
        await app.close()
    return chats


async def publish(folder: Path) -> None:
    from bot.alerts.service import publish_alert
    from bot.app import create_app
    from bot.config import load_settings, sqlite_url

    settings = load_settings(
        database_url=sqlite_url(folder / "bench.sqlite3"), master_key=KEY, _env_file=None
    )
    app = await create_app(settings)
    try:
        async with app.sessions.begin() as session:
            await publish_alert(
                session,
                network_id="aswa",
                country="KE",
                areas=[],
                text="A man in a grey car near the market refuses to pay.",
                language="en",
                approved_by=1,
                source_report_id=None,
            )
    finally:
        await app.close()


async def flagged(folder: Path) -> int:
    from sqlalchemy import func, select

    from bot.app import create_app
    from bot.config import load_settings, sqlite_url
    from storage.models import BroadcastRecipient

    settings = load_settings(
        database_url=sqlite_url(folder / "bench.sqlite3"), master_key=KEY, _env_file=None
    )
    app = await create_app(settings)
    try:
        async with app.sessions() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(BroadcastRecipient)
                    .where(BroadcastRecipient.repeat)
                )
                or 0
            )
    finally:
        await app.close()


async def probe(
    api: Api, members: list[dict[str, Any]], samples: list[float], running: asyncio.Event
) -> None:
    """Members keep asking while `running` is set. A probe still open when it is cleared is
    not counted (a killed bot's silence is not a latency). Never cancelled: on Python 3.11 a
    cancel racing `wait_for`'s answer can be swallowed, and the loop would run for ever."""
    i = 0
    while running.is_set():
        sample = await api.ask(members[i % len(members)])
        if not running.is_set():
            return
        samples.append(sample if sample is not None else 30_000.0)
        i += 1
        await asyncio.sleep(PROBE_EVERY)


def start_probes(
    api: Api, members: list[dict[str, Any]], samples: list[float]
) -> tuple[asyncio.Event, asyncio.Task[None]]:
    running = asyncio.Event()
    running.set()
    return running, asyncio.create_task(probe(api, members, samples, running))


async def probe_for(api: Api, members: list[dict[str, Any]], seconds: float) -> list[float]:
    samples: list[float] = []
    running, task = start_probes(api, members, samples)
    await asyncio.sleep(seconds)
    running.clear()
    await asyncio.wait_for(task, timeout=40)
    return samples


async def wait(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


def rate(times: list[float]) -> float:
    """Messages a second between the 5th and the last percentile of a run (warm-up aside)."""
    if len(times) < 20:
        return 0.0
    ordered = sorted(times)
    start = ordered[len(ordered) // 20]
    span = ordered[-1] - start
    return (len(ordered) - len(ordered) // 20 - 1) / span if span > 0 else 0.0


async def run() -> list[Result]:
    n = scale()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        chats = await prepare(folder, n)
        api = Api(set(chats))
        await api.start()
        members = [
            {"id": 6_000_000 + i, "is_bot": False, "first_name": "P", "language_code": "en"}
            for i in range(PROBES)
        ]
        load = os.getloadavg()[0]
        proc = await spawn(folder, api)
        try:
            for _ in range(10):  # up and answering (starting takes a while on a busy machine)
                if await api.ask(members[0]) is not None:
                    break
            quiet_before = await probe_for(api, members, QUIET)
            await publish(folder)
            during: list[float] = []
            running, first = start_probes(api, members, during)
            await wait(lambda: sum(api.delivered.values()) >= n // 2, n / RATE * 2 + 120)
            running.clear()  # the probe open at the kill is dropped
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            before = list(api.times)
            restarted = time.monotonic()
            proc = await spawn(folder, api)
            await wait(lambda: len(api.times) > len(before), 180)
            resumed = api.times[len(before)] - restarted if len(api.times) > len(before) else 0.0
            # Probes again once the restarted bot is sending (not while it starts).
            running, second = start_probes(api, members, during)
            finished = await wait(lambda: len(api.delivered) == n, n / RATE * 2 + 180)
            running.clear()
            await asyncio.wait_for(asyncio.gather(first, second), timeout=40)
            after = api.times[len(before) :]
            quiet_after = await probe_for(api, members, QUIET)
            load = max(load, os.getloadavg()[0])
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), timeout=30)
            await api.stop()
        repeats = await flagged(folder)
    duplicates = sum(c - 1 for c in api.delivered.values())
    skipped = n - len(api.delivered)
    # No-broadcast answers are sampled before the broadcast and after it (the machine's load
    # drifts over a run: bracketing keeps the comparison fair); both p99s are shown.
    quiet = quiet_before + quiet_after
    base_p99, during_p99 = percentile(quiet, 99), percentile(during, 99)
    scale_note = f"N={n:,}" + (" (--quick)" if n == QUICK else "")
    return [
        Result(
            "broadcast msgs/s before kill -9",
            rate(before),
            "/s",
            floor=24.0,
            detail=f"{scale_note}, 1% 429: {api.refused}, load average {load:.1f}",
        ),
        Result("broadcast msgs/s after restart", rate(after), "/s", floor=24.0),
        Result(
            "broadcast restart to first send",
            resumed,
            "s",
            detail="process start included",
        ),
        Result("broadcast skipped", float(skipped), "", 0.0, "" if finished else "unfinished"),
        Result(
            "broadcast duplicates not flagged",
            float(max(0, duplicates - repeats)),
            "",
            0.0,
            f"{duplicates} duplicates, {repeats} rows flagged repeat",
        ),
        Result("broadcast duplicates (sends open at the kill)", float(duplicates), "", 1.0),
        Result(
            "member p99 without broadcast",
            base_p99,
            "ms",
            detail=f"n={len(quiet)}; before {percentile(quiet_before, 99):.0f} ms, "
            f"after {percentile(quiet_after, 99):.0f} ms",
        ),
        Result("member p99 during broadcast", during_p99, "ms", detail=f"n={len(during)}"),
        Result("member p99 ratio during/without", during_p99 / max(base_p99, 1e-3), "x", 2.0),
    ]
