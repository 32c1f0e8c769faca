"""The bot's background workers, started the same way by `python -m bot run`/`webhook` and by
the terminal chat (`python -m bot chat`), so what works in one works in the other.

- the outbox worker: referral cards, relays, reminders, bad-date cards (bot/referrals/outbox.py);
- the broadcast worker: alerts and news, with its own pacing, so members' answers never queue
  behind a broadcast; one instance at a time sends (a lease row) (bot/alerts/engine.py);
- retention: daily, one instance at a time thanks to a lease row (bot/safety/retention.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiogram import Bot

from bot.alerts.engine import Broadcaster
from bot.app import App
from bot.dispatcher import build_i18n
from bot.referrals.outbox import Delivery, DeliveryConfig, stop_worker
from bot.safety import retention


@dataclass
class Workers:
    delivery: Delivery
    broadcaster: Broadcaster
    stop: asyncio.Event
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    async def close(self) -> None:
        """Stop every worker: current sends finish, leases go back."""
        self.stop.set()
        for name in ("delivery", "broadcasts"):
            task = self.tasks.get(name)
            if task is not None:
                await stop_worker(task)
        purger = self.tasks.get("retention")
        if purger is not None:
            await asyncio.gather(purger, return_exceptions=True)


def start_workers(app: App, bot: Bot, stop: asyncio.Event) -> Workers:
    """Start the three workers on the running loop; they stop when `stop` is set."""
    delivery = Delivery(
        app, bot, build_i18n(app), config=DeliveryConfig.from_settings(app.settings)
    )
    broadcaster = Broadcaster.from_settings(app, bot, build_i18n(app))
    workers = Workers(delivery, broadcaster, stop)
    workers.tasks = {
        "delivery": asyncio.create_task(delivery.run(stop)),
        "broadcasts": asyncio.create_task(broadcaster.run(stop)),
        "retention": asyncio.create_task(retention.retention_loop(app, stop)),
    }
    return workers
