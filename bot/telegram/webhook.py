"""Webhook mode for several instances behind a load balancer.

Each POST is checked against the secret (401, constant-time compare, nothing stored: R21), sealed
into the shared inbox and only then answered 200; if the database cannot take it, Telegram gets a
503 and sends it again (R1). Handling happens from the inbox by whichever instance holds the
"inbox" lease, one at a time, so a member's updates keep their order and each is handled once
(R3). `/healthz` reports the database, Redis and the inbox backlog (R36).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import json
import logging
import secrets
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from bot.app import App
from bot.telegram.intake import Intake
from storage import db
from storage.models import utcnow
from storage.repositories import InboxRepo, LeaseRepo

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
PATH = "/telegram"
LEASE = "inbox"
LEASE_TTL = dt.timedelta(seconds=30)


class WebhookServer:
    def __init__(self, app: App, bot: Bot, dp: Dispatcher, intake: Intake) -> None:
        self.app, self.bot, self.dp, self.intake = app, bot, dp, intake
        secret = app.settings.webhook_secret
        self.secret = secret.get_secret_value().encode() if secret else b""
        self.instance = secrets.token_hex(8)
        self.wake = asyncio.Event()

    def web_app(self) -> web.Application:
        application = web.Application(client_max_size=1 << 20)
        application.router.add_post(PATH, self.receive)
        application.router.add_get("/healthz", self.health)
        return application

    async def receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not self.secret or not hmac.compare_digest(given, self.secret):
            log.warning("webhook call with a missing or wrong secret refused")
            return web.Response(status=401)
        try:
            update = Update.model_validate(await request.json(), context={"bot": self.bot})
        except (ValueError, ValidationError):
            return web.Response(status=400)
        try:
            await self.intake.store([update])
        except (SQLAlchemyError, OSError) as exc:
            # Not stored, so not acknowledged: Telegram will send it again.
            log.error("inbox unavailable (%s); answering 503", type(exc).__name__)
            return web.Response(status=503)
        self.wake.set()
        return web.Response(status=200)

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
            report[name] = await probe()
        return web.Response(
            status=200 if healthy else 503,
            text=json.dumps(report),
            content_type="application/json",
        )

    async def drain_forever(self, stop: asyncio.Event) -> None:
        """Handle the inbox while holding the lease; another instance takes over if we die."""
        while not stop.is_set():
            try:
                async with self.app.sessions.begin() as session:
                    mine = await LeaseRepo(session).acquire(LEASE, self.instance, LEASE_TTL)
                if mine:
                    await self.intake.drain()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("inbox drain paused (%s)", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=0.5)
            self.wake.clear()
        with contextlib.suppress(SQLAlchemyError, OSError):
            async with self.app.sessions.begin() as session:
                await LeaseRepo(session).release(LEASE, self.instance)


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
    runner = web.AppRunner(server.web_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, app.settings.webhook_host, app.settings.port)
    await site.start()
    assert app.settings.webhook_url is not None and app.settings.webhook_secret is not None
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
        await runner.cleanup()
