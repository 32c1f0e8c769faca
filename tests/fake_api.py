"""FakeTG: the in-process FakeTelegram behind real HTTP on loopback, as `/bot{token}/{method}`."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.devtools.localapi import FakeTelegram


class FakeBotAPI:
    def __init__(self, telegram: FakeTelegram | None = None, token: str | None = None) -> None:
        self.telegram = telegram or FakeTelegram()
        self.token = token
        self.runner: web.AppRunner | None = None
        self.url = ""
        self.requests = 0

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        token, method = request.match_info["token"], request.match_info["method"]
        if self.token is not None and token != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        status, body = await self.telegram.handle(method, params)
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        self.telegram.closing.set()
        if self.runner is not None:
            await self.runner.cleanup()
