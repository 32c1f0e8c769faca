"""Prometheus metrics (`GET /metrics` in webhook mode).

Labels are small fixed sets (an error kind, a delivery result): never a Telegram id, a username,
a network or a text. Backlogs are read from the database when scraped, so every instance reports
the same shared inbox and outbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)
REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES_RECEIVED = Counter(
    "bot_updates_received", "Updates newly committed to the inbox", registry=REGISTRY
)
UPDATES_HANDLED = Counter("bot_updates_handled", "Updates handled", registry=REGISTRY)
UPDATES_FAILED = Counter(
    "bot_updates_failed",
    "Handling attempts that failed and will be retried or set aside",
    ["kind"],
    registry=REGISTRY,
)
UPDATES_QUARANTINED = Counter(
    "bot_updates_quarantined",
    "Updates set aside: not storable or not handleable",
    registry=REGISTRY,
)
HANDLER_SECONDS = Histogram(
    "bot_handler_seconds",
    "Time to handle one update, Bot API calls included",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "bot_deliveries",
    "Outbox send attempts by result (ok, retry, 429, 403, dead)",
    ["result"],
    registry=REGISTRY,
)


Backlog = tuple[int, float]  # count, age of the oldest in seconds


class BacklogCollector(Collector):
    """Inbox and outbox backlogs, read from the database when scraped; the reading is kept for
    the synchronous collect() that prometheus_client calls."""

    def __init__(self) -> None:
        self.last: dict[str, Backlog] = {}

    async def refresh(self, read: Callable[[], Awaitable[dict[str, Backlog]]]) -> None:
        try:
            self.last = await asyncio.wait_for(read(), timeout=5)
        except Exception as exc:  # a scrape during an outage still answers
            log.info("backlog not read: %s", type(exc).__name__)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for name, (count, age) in sorted(self.last.items()):
            yield GaugeMetricFamily(f"bot_{name}_backlog", f"Rows waiting in the {name}", count)
            yield GaugeMetricFamily(
                f"bot_{name}_oldest_seconds", f"Age of the oldest row waiting in the {name}", age
            )


BACKLOG = BacklogCollector()
REGISTRY.register(BACKLOG)


def render() -> bytes:
    return generate_latest(REGISTRY)


# -- broadcasts (issue 16) --
BROADCAST_SENDS = Counter(
    "bot_broadcast_sends",
    "Broadcast send attempts by result (ok, 429, 403, retry, failed, repeat, db_wait)",
    ["result"],
    registry=REGISTRY,
)
BROADCASTS_ACTIVE = Gauge(
    "bot_broadcasts_active", "1 while this instance sends a broadcast", registry=REGISTRY
)
