"""A fault injector for FakeTelegram: 429 with retry_after, 5xx, 403, dropped connections.

`Faults` decides per call; install it in-process (`telegram.faults.append(faults)`) or behind
real HTTP with `FaultyBotAPI`, which can also drop the TCP connection, before the request is
handled (nothing happened) or after (the message exists, the bot never hears of it: R6).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.devtools.localapi import FakeTelegram, Params, Reply, error
from tests.fake_api import FakeBotAPI

DROP_BEFORE, DROP_AFTER = "drop-before", "drop-after"


@dataclass
class Faults:
    """Scripted, seeded faults on the methods named in `methods` (sendMessage by default)."""

    seed: int = 1
    p429: float = 0.0
    p500: float = 0.0
    p_drop_before: float = 0.0
    p_drop_after: float = 0.0
    retry_after: int = 1
    max_429: int = 3  # each 429 costs at least `retry_after` seconds of the test's time
    forbidden: set[int] = field(default_factory=set)  # chats that answer 403 for good
    migrated: dict[int, int] = field(default_factory=dict)  # old chat -> new supergroup
    methods: frozenset[str] = frozenset({"sendMessage"})
    only: set[int] | None = None  # random faults only for these chats (None: every chat)
    counts: Counter[str] = field(default_factory=Counter)
    # Every decision in order: (chat_id, fault or "", time.monotonic())
    log: list[tuple[int, str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def decide(self, method: str, params: Params) -> str | None:
        if method not in self.methods:
            return None
        chat = int(params.get("chat_id") or 0)
        fault: str | None = None
        if chat in self.forbidden:
            fault = "403"
        elif chat in self.migrated:
            fault = "migrate"
        elif self.only is None or chat in self.only:
            roll = self.rng.random()
            for name, p in (
                ("429", self.p429 if self.counts["429"] < self.max_429 else 0.0),
                ("500", self.p500),
                (DROP_BEFORE, self.p_drop_before),
                (DROP_AFTER, self.p_drop_after),
            ):
                if roll < p:
                    fault = name
                    break
                roll -= p
        if fault is not None:
            self.counts[fault] += 1
        self.log.append((chat, fault or "", time.monotonic()))
        return fault

    def reply(self, fault: str, params: Params) -> Reply | None:
        chat = int(params.get("chat_id") or 0)
        if fault == "429":
            return error(
                429,
                f"Too Many Requests: retry after {self.retry_after}",
                retry_after=self.retry_after,
            )
        if fault == "500":
            return error(500, "Internal Server Error")
        if fault == "403":
            return error(403, "Forbidden: bot was kicked from the supergroup chat")
        if fault == "migrate":
            return error(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=self.migrated[chat],
            )
        return None

    def __call__(self, method: str, params: Params) -> Reply | None:
        """In-process use: everything but the dropped connections."""
        fault = self.decide(method, params)
        return self.reply(fault, params) if fault else None


class FaultyBotAPI(FakeBotAPI):
    """FakeBotAPI whose connections can also break, as a flaky network does."""

    def __init__(self, faults: Faults, telegram: FakeTelegram | None = None, **kw: Any) -> None:
        super().__init__(telegram, **kw)
        self.faults = faults

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        fault = self.faults.decide(method, params)
        if fault == DROP_BEFORE:
            return self._drop(request)
        if fault is not None and fault != DROP_AFTER:
            reply = self.faults.reply(fault, params)
            if reply is not None:
                status, body = reply
                return web.json_response(body, status=status)
        status, body = await self.telegram.handle(method, params)
        if fault == DROP_AFTER:
            return self._drop(request)
        return web.json_response(body, status=status)

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        if request.transport is not None:
            request.transport.abort()
        raise web.HTTPServiceUnavailable  # never reaches the client: the socket is gone
