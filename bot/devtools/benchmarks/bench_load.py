"""Load: the full bot against a bare aiogram echo bot (echo_bot.py), in one run, as ratios.

Both run as real webhook processes against the same fake Bot API here, on loopback:
(a) 200 members in a closed loop (each sends, waits for the answer, sends again), no API delay;
(b) the same with a 60 ms Bot API round trip; (c) 100 updates/s paced, latency percentiles;
(d) with BENCH_POSTGRES_URL (or TEST_POSTGRES_URL) and TEST_REDIS_URL: two full-bot instances
against one on PostgreSQL. CPU per update and RSS are read from /proc for the bot's process.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web

from bot.devtools.benchmarks import Result, percentile

TOKEN = "1:bench-token"
SECRET = "bench-secret_0123456789abcdef-0123456789"
MEMBERS = 200
WINDOW = 8.0  # seconds measured per scenario, after a warm-up
ANSWER_WITHIN = 10.0
# Telegram opens at most `max_connections` (default 40) to a webhook; the bench does the same.
# More from one address than the guard allows per address (a quarter of its cap) would be
# refused and reconnect in a loop: the bench would measure the churn, not the bot.
CONNECTIONS = 40
TICK = os.sysconf("SC_CLK_TCK")
UPDATE_IDS = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeApi:
    """The Bot API as little as the two bots need; sendMessage answers the waiting member."""

    def __init__(self) -> None:
        self.latency = 0.0
        self.waiting: dict[int, asyncio.Future[float]] = {}
        self.ids = itertools.count(1)
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"].lower()
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        if self.latency:
            await asyncio.sleep(self.latency)
        result: Any = True
        if method == "getme":
            result = {"id": 1, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}
        elif method in ("sendmessage", "editmessagetext"):
            chat = int(params.get("chat_id") or 0)
            result = {
                "message_id": next(self.ids),
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private" if chat > 0 else "group"},
                "text": "ok",
            }
            waiter = self.waiting.pop(chat, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(time.perf_counter())
        elif method == "getupdates":
            await asyncio.sleep(1)
            result = []
        return web.json_response({"ok": True, "result": result})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@dataclass
class Proc:
    name: str
    process: asyncio.subprocess.Process
    port: int
    started_in: float = 0.0
    idle_rss: float = 0.0

    def cpu(self) -> float:
        """Seconds of CPU used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def status(self, key: str) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # MB
        return 0.0


async def spawn(name: str, argv: list[str], env: dict[str, str], port: int) -> Proc:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    proc = Proc(name, process, port)
    async with ClientSession() as http:
        for _ in range(3000):
            if process.returncode is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}")
            try:
                async with http.post(f"http://127.0.0.1:{port}/telegram", data=b"{}") as resp:
                    await resp.read()
                break
            except OSError:
                await asyncio.sleep(0.02)
    proc.started_in = time.perf_counter() - started
    await asyncio.sleep(1.0)
    proc.idle_rss = proc.status("VmRSS")
    return proc


async def stop(proc: Proc) -> None:
    if proc.process.returncode is None:
        proc.process.terminate()
        try:
            await asyncio.wait_for(proc.process.wait(), 20)
        except TimeoutError:
            proc.process.kill()
            await proc.process.wait()


@dataclass
class Run:
    answered: int = 0
    unanswered: int = 0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu: float = 0.0

    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0


class Members:
    def __init__(self, api: FakeApi, ports: list[int]) -> None:
        self.api, self.ports = api, ports
        # Shared by every scenario: the bot drops a repeated update_id, as it must.
        self.update_ids = UPDATE_IDS
        self.message_ids = UPDATE_IDS
        self.turn = itertools.count()

    def body(self, member: int) -> bytes:
        return json.dumps(
            {
                "update_id": next(self.update_ids),
                "message": {
                    "message_id": next(self.message_ids),
                    "date": int(time.time()),
                    "chat": {"id": member, "type": "private", "first_name": "M"},
                    "from": {"id": member, "is_bot": False, "first_name": "M"},
                    "text": "/menu",
                    "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
                },
            }
        ).encode()

    async def one(self, http: ClientSession, member: int, run: Run | None) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[float] = loop.create_future()
        self.api.waiting[member] = waiter
        port = self.ports[next(self.turn) % len(self.ports)]
        sent = time.perf_counter()
        for _ in range(50):  # as Telegram: again until 200
            try:
                async with http.post(
                    f"http://127.0.0.1:{port}/telegram",
                    data=self.body(member),
                    headers={
                        "X-Telegram-Bot-Api-Secret-Token": SECRET,
                        "Content-Type": "application/json",
                    },
                ) as resp:
                    if resp.status == 200:
                        break
            except (OSError, ClientError, TimeoutError):
                pass  # a dropped keep-alive connection, as Telegram sees one: send again
            await asyncio.sleep(0.1)
        try:
            answered = await asyncio.wait_for(waiter, ANSWER_WITHIN)
        except TimeoutError:
            self.api.waiting.pop(member, None)
            if run is not None:
                run.unanswered += 1
            return
        if run is not None:
            run.answered += 1
            run.latencies.append((answered - sent) * 1000)


async def closed_loop(members: Members, procs: list[Proc], warm: float = 2.0) -> Run:
    run = Run()
    measuring = False
    deadline = time.perf_counter() + warm + WINDOW

    async def member(person: int) -> None:
        while time.perf_counter() < deadline:
            await members.one(http, person, run if measuring else None)

    async with telegram() as http:
        tasks = [asyncio.create_task(member(10_000 + i)) for i in range(MEMBERS)]
        await asyncio.sleep(warm)
        measuring = True
        cpu0, t0 = sum(p.cpu() for p in procs), time.perf_counter()
        await asyncio.sleep(WINDOW)
        run.seconds = time.perf_counter() - t0
        run.cpu = sum(p.cpu() for p in procs) - cpu0
        measuring = False
        await asyncio.gather(*tasks)
    return run


async def paced(members: Members, procs: list[Proc], rate: float = 100.0) -> Run:
    run = Run()
    async with telegram() as http:
        for i in range(int(rate)):  # warm-up, unmeasured
            await members.one(http, 20_000 + i % MEMBERS, None)
        cpu0, t0 = sum(p.cpu() for p in procs), time.perf_counter()
        tasks = []
        for i in range(int(rate * WINDOW)):
            tasks.append(asyncio.create_task(members.one(http, 30_000 + i % MEMBERS, run)))
            await asyncio.sleep(max(0.0, t0 + (i + 1) / rate - time.perf_counter()))
        await asyncio.gather(*tasks)
        run.seconds = time.perf_counter() - t0
        run.cpu = sum(p.cpu() for p in procs) - cpu0
    return run


def telegram() -> ClientSession:
    return ClientSession(
        timeout=ClientTimeout(total=30), connector=TCPConnector(limit=CONNECTIONS)
    )


def full_env(api: FakeApi, port: int, folder: Path, **extra: str) -> dict[str, str]:
    return {
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": api.url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder}/bench.sqlite3",
        "MASTER_KEY": "YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI=",
        "WEBHOOK_URL": f"http://127.0.0.1:{port}",
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_HOST": "127.0.0.1",
        "PORT": str(port),
        "FLOOD_LIMIT": "0",
        "LOG_LEVEL": "ERROR",
        "ADMIN_IDS": "",
        "WEBHOOK_MAX_CONNECTIONS": str(CONNECTIONS * 4),
        **extra,
    }


def echo_env(api: FakeApi, port: int) -> dict[str, str]:
    return {
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": api.url,
        "WEBHOOK_SECRET": SECRET,
        "PORT": str(port),
    }


FULL = [sys.executable, "-m", "bot", "webhook"]
ECHO = [sys.executable, "-m", "bot.devtools.benchmarks.echo_bot"]


def figures(run: Run) -> dict[str, float]:
    lat = run.latencies or [0.0]
    return {
        "rate": run.rate(),
        "p50": percentile(lat, 50),
        "p95": percentile(lat, 95),
        "p99": percentile(lat, 99),
        "cpu": run.cpu * 1000 / max(1, run.answered),
        "unanswered": float(run.unanswered),
    }


async def scenario(
    api: FakeApi, procs: list[Proc], latency: float, drive: Callable[..., Awaitable[Run]]
) -> Run:
    api.latency = latency
    return await drive(Members(api, [p.port for p in procs]), procs)


async def run() -> list[Result]:
    results: list[Result] = []
    api = FakeApi()
    await api.start()
    table: dict[str, dict[str, dict[str, float]]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for kind in ("echo", "full"):
                port = free_port()
                if kind == "echo":
                    proc = await spawn("echo", ECHO, echo_env(api, port), port)
                else:
                    # Start-up is measured as a restart, as in (d): the schema is made first
                    # (a first start migrates an empty database once, Alembic and all).
                    await migrated(f"sqlite+aiosqlite:///{tmp}/bench.sqlite3")
                    proc = await spawn("full", FULL, full_env(api, port, Path(tmp)), port)
                try:
                    rows = table.setdefault(kind, {})
                    rows["a"] = figures(await scenario(api, [proc], 0.0, closed_loop))
                    rows["b"] = figures(await scenario(api, [proc], 0.06, closed_loop))
                    rows["c"] = figures(await scenario(api, [proc], 0.0, paced))
                    rows["proc"] = {
                        "start": proc.started_in,
                        "idle_rss": proc.idle_rss,
                        "peak_rss": proc.status("VmHWM"),
                    }
                finally:
                    await stop(proc)
            results += report(table)
            results += await scale_out(api, Path(tmp))
    finally:
        await api.stop()
    return results


async def migrated(url: str) -> None:
    from storage import db

    engine = db.create_engine(url)
    try:
        await db.upgrade(engine)
    finally:
        await engine.dispose()


def report(table: dict[str, dict[str, dict[str, float]]]) -> list[Result]:
    out: list[Result] = []
    echo, full = table["echo"], table["full"]
    names = {"a": "(a) 200 members, 0 ms", "b": "(b) 200 members, 60 ms", "c": "(c) 100/s paced"}
    for key, label in names.items():
        for kind, rows in (("echo", echo), ("full", full)):
            r = rows[key]
            out.append(Result(f"load {label} {kind}: updates/s", r["rate"], "/s"))
            out += [
                Result(f"load {label} {kind}: p{q}", r[f"p{q}"], "ms", detail="")
                for q in (50, 95, 99)
            ]
            out.append(Result(f"load {label} {kind}: CPU per update", r["cpu"], "ms"))
            out.append(Result(f"load {label} {kind}: unanswered", r["unanswered"], "", 0.0))
        if key in ("a", "b"):
            ratio = full[key]["rate"] / max(echo[key]["rate"], 1e-9)
            out.append(Result(f"load {label}: full/echo updates/s", ratio, "x", floor=0.5))
        cpu = full[key]["cpu"] / max(echo[key]["cpu"], 1e-9)
        out.append(Result(f"load {label}: full/echo CPU per update", cpu, "x", 2.5))
    out.append(Result("load (c) full bot p99", full["c"]["p99"], "ms", 50.0))
    for kind, rows in (("echo", echo), ("full", full)):
        out.append(Result(f"load {kind}: start-up", rows["proc"]["start"], "s"))
        out.append(Result(f"load {kind}: idle RSS", rows["proc"]["idle_rss"], "MB"))
        out.append(Result(f"load {kind}: peak RSS", rows["proc"]["peak_rss"], "MB"))
    out.append(
        Result(
            "load: full start-up minus echo",
            full["proc"]["start"] - echo["proc"]["start"],
            "s",
            1.5,
        )
    )
    out.append(
        Result(
            "load: full idle RSS minus echo",
            full["proc"]["idle_rss"] - echo["proc"]["idle_rss"],
            "MB",
            40.0,
        )
    )
    return out


async def scale_out(api: FakeApi, folder: Path) -> list[Result]:
    """(d) two instances against one, on PostgreSQL and Redis (skipped without them)."""
    base = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL")
    redis = os.environ.get("TEST_REDIS_URL")
    if not base or not redis:
        return [Result("load (d) skipped: no BENCH_POSTGRES_URL and TEST_REDIS_URL", 0, "")]
    import asyncpg  # type: ignore[import-untyped]

    rates = []
    for count in (1, 2):
        name = "bench_" + uuid.uuid4().hex[:10]
        admin = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://"))
        await admin.execute(f"CREATE DATABASE {name}")
        url = base.rsplit("/", 1)[0] + "/" + name
        await migrated(url)
        procs: list[Proc] = []
        try:
            for n in range(count):
                port = free_port()
                env = full_env(api, port, folder, DATABASE_URL=url, KEYS_URL=url, REDIS_URL=redis)
                procs.append(await spawn(f"pg{n}", FULL, env, port))
            rates.append(await scenario(api, procs, 0.0, closed_loop))
        finally:
            for proc in procs:
                await stop(proc)
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            await admin.close()
    one, two = rates
    return [
        Result("load (d) one instance on PostgreSQL: updates/s", one.rate(), "/s"),
        Result("load (d) two instances on PostgreSQL: updates/s", two.rate(), "/s"),
        Result("load (d) unanswered", float(one.unanswered + two.unanswered), "", 0.0),
        Result("load (d) two/one updates/s", two.rate() / max(one.rate(), 1e-9), "x", floor=1.6),
    ]
