"""Webhook mode for several instances behind a load balancer.

Each POST is checked against the secret (401, constant-time compare, nothing stored: R21), its
body sealed into the shared inbox as received and only then answered 200; if the database cannot
take it, Telegram gets a 503 and sends it again (R1). A repeat, even one posted at the same
moment, gets 200 and is stored once (L3); an update that cannot be stored at all is set aside
and answered 200, so Telegram does not send it for ever (M1). Every instance handles updates
from the inbox, each chat claimed by one instance at a time (bot/telegram/intake.py), so a
member's updates keep their order and each is handled once (R3). `/healthz` reports the
database, Redis and the inbox backlog (R36), and answers 503 when any of them is down;
`/metrics` the counters, latencies and backlogs, in Prometheus form. Wrong secrets, slow
clients and connection floods meet `guard.py` (M7, L4).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from typing import Any

from aiogram import Bot, Dispatcher
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from bot import metrics
from bot.app import App
from bot.telegram.guard import ConnectionGuard, FailureThrottle, start_site
from bot.telegram.intake import Intake, parse_body
from storage import db
from storage.models import utcnow
from storage.repositories.alerts import BroadcastRepo
from storage.repositories.inbox import InboxRepo

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
PATH = "/telegram"


class WebhookServer:
    def __init__(self, app: App, bot: Bot, dp: Dispatcher, intake: Intake) -> None:
        self.app, self.bot, self.dp, self.intake = app, bot, dp, intake
        secret = app.settings.webhook_secret
        self.secret = secret.get_secret_value().encode() if secret else b""
        self.instance = secrets.token_hex(8)
        self.wake = asyncio.Event()
        self.throttle = FailureThrottle()
        self.guard = ConnectionGuard(
            read_timeout=app.settings.webhook_read_timeout,
            max_connections=app.settings.webhook_max_connections,
        )

    def web_app(self) -> web.Application:
        application = web.Application(client_max_size=1 << 20, middlewares=[self.guard.middleware])
        application.router.add_post(PATH, self.receive)
        application.router.add_get("/healthz", self.health)
        application.router.add_get("/metrics", self.metrics)
        return application

    async def receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not self.secret or not hmac.compare_digest(given, self.secret):
            # The right secret always passes, so a guesser sharing an address with Telegram
            # (a proxy in front) cannot lock Telegram out; its own wrong guesses are slowed.
            address = request.remote
            if self.throttle.blocked(address):
                await asyncio.sleep(self.throttle.penalty_seconds)
                return web.Response(status=429, headers={"Retry-After": "60"})
            self.throttle.failed(address)
            if self.throttle.blocked(address):
                log.warning("repeated wrong webhook secrets: that address is slowed down")
            else:
                log.warning("webhook call with a missing or wrong secret refused")
            return web.Response(status=401)
        body = await self.guard.read_body(request)
        if body is None:
            return web.Response(status=408)
        try:
            item = parse_body(body)
        except ValueError:
            return web.Response(status=400)
        try:
            await self.intake.store_together(item)  # with the POSTs arriving meanwhile
        except Exception as exc:
            # Not stored, so not acknowledged: Telegram will send it again.
            log.warning("inbox unavailable (%s); answering 503", type(exc).__name__)
            return web.Response(status=503)
        self.intake.wake.set()
        return web.Response(status=200)

    async def metrics(self, request: web.Request) -> web.Response:
        await metrics.BACKLOG.refresh(self._backlogs)
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _backlogs(self) -> dict[str, tuple[int, float]]:
        now = utcnow()
        async with self.app.sessions() as session:
            queue = InboxRepo(session)
            readings = {
                "inbox": await queue.backlog(),
                "outbox": await queue.outbox_backlog(),
                # Members still to reach in running broadcasts (issue 16).
                "broadcast": await BroadcastRepo(session).backlog(),
            }
        return {
            name: (count, (now - oldest).total_seconds() if oldest else 0.0)
            for name, (count, oldest) in readings.items()
        }

    async def health(self, request: web.Request) -> web.Response:
        report: dict[str, Any] = {}
        healthy = True
        try:
            async with self.app.sessions() as session:
                await db.ping(session)
                count, oldest = await InboxRepo(session).backlog()
            report["database"] = "ok"
            report["inbox_backlog"] = count
            report["inbox_oldest_seconds"] = (
                round((utcnow() - oldest).total_seconds(), 1) if oldest else 0
            )
        except (SQLAlchemyError, OSError) as exc:
            report["database"] = f"down: {type(exc).__name__}"
            healthy = False
        if self.app.settings.redis_url:
            report["redis"] = await _redis_status(self.app.settings.redis_url)
            healthy = healthy and report["redis"] == "ok"
        for name, probe in self.app.health_probes.items():
            try:
                report[name] = await probe()
            except Exception as exc:  # any probe failing is "down", never a bare 500 (L2)
                report[name] = f"down: {type(exc).__name__}"
                healthy = False
        return web.Response(
            status=200 if healthy else 503,
            text=json.dumps(report),
            content_type="application/json",
        )

    async def drain_forever(self, stop: asyncio.Event) -> None:
        """Handle the inbox with the other instances until `stop`, each chat by one of them."""
        await self.intake.run(stop)


async def _redis_status(url: str) -> str:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()
        return "ok"
    except (RedisError, OSError) as exc:
        return f"down: {type(exc).__name__}"
    finally:
        await client.aclose()


async def serve(app: App, bot: Bot, dp: Dispatcher, intake: Intake, stop: asyncio.Event) -> None:
    server = WebhookServer(app, bot, dp, intake)
    runner = web.AppRunner(
        server.web_app(),
        access_log=None,
        # An idle kept-alive connection is closed by the guard's read timeout anyway.
        keepalive_timeout=app.settings.webhook_read_timeout,
    )
    await runner.setup()
    site = await start_site(runner, server.guard, app.settings.webhook_host, app.settings.port)
    assert app.settings.webhook_url is not None and app.settings.webhook_secret is not None
    if app.settings.webhook_url.startswith("http://"):
        log.warning("WEBHOOK_URL is http://: only for a local Bot API server or a loopback test")
    # Never drop pending updates: they are members' messages from the restart window.
    await bot.set_webhook(
        app.settings.webhook_url + PATH,
        secret_token=app.settings.webhook_secret.get_secret_value(),
        allowed_updates=dp.resolve_used_update_types(),
        drop_pending_updates=False,
    )
    try:
        await server.drain_forever(stop)
    finally:
        site.close()
        await runner.cleanup()
