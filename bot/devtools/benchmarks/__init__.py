"""`python -m bot bench`: each module here exposes `async def run() -> list[Result]`.

Targets live here, never in timed unit tests. Results print as a table and as JSON lines.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiogram import Bot

    from bot.config import Settings
    from bot.devtools.localapi import FakeTelegram


@dataclass
class Result:
    name: str
    value: float
    unit: str
    target: float | None = None  # the value must stay at or under this
    detail: str = ""
    floor: float | None = None  # the value must reach at least this

    @property
    def ok(self) -> bool:
        under = self.target is None or self.value <= self.target
        return under and (self.floor is None or self.value >= self.floor)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds per call."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


async def timed_async(fn: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(name: str, samples: list[float], target_p95: float | None = None) -> list[Result]:
    return [
        Result(f"{name} p50", statistics.median(samples), "ms"),
        Result(f"{name} p95", percentile(samples, 95), "ms", target_p95, f"n={len(samples)}"),
    ]


def bench_settings(folder: str) -> Settings:
    """An embedded database in `folder`, a fixed key, and no flood guard (bursts are the point)."""
    import base64

    from bot.config import load_settings, sqlite_url

    return load_settings(
        database_url=sqlite_url(Path(folder) / "bench.sqlite3"),
        master_key=base64.urlsafe_b64encode(b"b" * 32).decode(),
        flood_limit=0,
        _env_file=None,
    )


def local_bot(telegram: FakeTelegram) -> Bot:
    """A Bot talking to the in-process Bot API stand-in."""
    from aiogram import Bot
    from aiogram.client.default import DefaultBotProperties
    from aiogram.enums import ParseMode

    from bot.devtools.localapi import LocalSession

    return Bot(
        "1:bench",
        session=LocalSession(telegram),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


def modules() -> Iterable[str]:
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("bench_"):
            yield info.name


async def run_all(only: str | None = None) -> list[Result]:
    results: list[Result] = []
    for name in modules():
        if only and only not in name:
            continue
        module = importlib.import_module(f"{__name__}.{name}")
        results.extend(await module.run())
    return results


def report(results: list[Result]) -> str:
    lines = [f"{'benchmark':<52} {'value':>12}  {'target':>10}  ok"]
    for r in results:
        target = f"≤ {r.target:g}" if r.target is not None else ""
        target = f"≥ {r.floor:g}" if r.floor is not None else target
        mark = "yes" if r.ok else "NO"
        lines.append(f"{r.name:<52} {r.value:>10.2f} {r.unit:<2} {target:>10}  {mark} {r.detail}")
    lines += [json.dumps(asdict(r), ensure_ascii=False) for r in results]
    return "\n".join(lines)
