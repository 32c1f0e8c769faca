"""The webhook's guard: wrong-secret throttling, read timeouts and a connection cap (M7, L4).

The secret is the only authentication of an update, so an address that keeps presenting a wrong
one is slowed down: once its token bucket is empty, each further wrong secret is held
`penalty_seconds` and answered 429, so with the per-address connection cap it gets a few guesses
a second instead of thousands. The right secret always passes at once (behind a proxy, Telegram
and a guesser share one address). Addresses are kept in a small LRU, so a flood of addresses
costs bounded memory. Telegram's own networks are never throttled or capped per address.

aiohttp has no header read timeout: a client that sends half a request line keeps its
connection for ever (slow loris). `ConnectionGuard` wraps each connection's protocol: a
connection must deliver a full request head within `read_timeout` of opening (or of its previous
response), the body is read under the same timeout (`read_body`), and at most `max_connections`
are open at once (fewer per address).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

# https://core.telegram.org/bots/webhooks#the-short-version: webhooks come from these ranges.
TELEGRAM_NETWORKS = tuple(
    ipaddress.ip_network(net) for net in ("149.154.160.0/20", "91.108.4.0/22")
)
SECRET_BYTES = 32  # 43 URL-safe characters


def is_telegram(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in TELEGRAM_NETWORKS)


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class FailureThrottle:
    """Per-address token bucket, spent only by refused secrets.

    `burst` wrong secrets pass as plain 401s; after that one more per `refill_seconds`.
    """

    burst: int = 10
    refill_seconds: float = 6.0
    penalty_seconds: float = 2.0
    max_addresses: int = 4096
    clock: Callable[[], float] = time.monotonic
    _buckets: OrderedDict[str, _Bucket] = field(default_factory=OrderedDict)

    def _bucket(self, address: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
            self._buckets[address] = bucket
            while len(self._buckets) > self.max_addresses:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(address)
            gained = (now - bucket.stamp) / self.refill_seconds
            bucket.tokens = min(float(self.burst), bucket.tokens + gained)
            bucket.stamp = now
        return bucket

    def blocked(self, address: str | None) -> bool:
        """True while this address has spent its wrong-secret allowance."""
        if address is None or is_telegram(address) or address not in self._buckets:
            return False
        return self._bucket(address).tokens < 1

    def failed(self, address: str | None) -> None:
        if address is None or is_telegram(address):
            return
        bucket = self._bucket(address)
        bucket.tokens = max(0.0, bucket.tokens - 1)

    def __len__(self) -> int:
        return len(self._buckets)


class ConnectionGuard:
    """Caps open connections and closes those that do not deliver a request in time."""

    def __init__(
        self, *, read_timeout: float, max_connections: int, per_address: int | None = None
    ) -> None:
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self.per_address = per_address or max(1, max_connections // 4)
        self.open = 0
        self.by_address: dict[str, int] = {}
        self.refused = 0
        self.timed_out = 0
        self._guarded: dict[asyncio.BaseTransport, _Guarded] = {}

    def factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _Guarded(self, inner())

    # Called by the middleware: a request head has arrived / its response has gone.
    def busy(self, transport: asyncio.BaseTransport | None) -> None:
        guarded = self._guarded.get(transport) if transport is not None else None
        if guarded is not None:
            guarded.disarm()

    def idle(self, transport: asyncio.BaseTransport | None) -> None:
        guarded = self._guarded.get(transport) if transport is not None else None
        if guarded is not None:
            guarded.arm()

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.busy(request.transport)
        try:
            return await handler(request)
        finally:
            self.idle(request.transport)

    async def read_body(self, request: web.Request) -> bytes | None:
        """The body within the read timeout; None (and the connection closed) if it trickles."""
        try:
            async with asyncio.timeout(self.read_timeout):
                return await request.read()
        except TimeoutError:
            self.timed_out += 1
            if request.transport is not None:
                request.transport.close()
            return None


class _Guarded(asyncio.Protocol):
    """Forwards to aiohttp's protocol; enforces the cap and the head timeout."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard, self.inner = guard, inner
        self.transport: asyncio.BaseTransport | None = None
        self.address: str | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        guard = self.guard
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if isinstance(peer, tuple) and peer else None
        mine = guard.by_address.get(self.address or "", 0)
        if guard.open >= guard.max_connections or (
            mine >= guard.per_address and not is_telegram(self.address)
        ):
            guard.refused += 1
            transport.close()
            return
        self.admitted = True
        guard.open += 1
        if self.address is not None:
            guard.by_address[self.address] = mine + 1
        self.transport = transport
        guard._guarded[transport] = self
        self.arm()
        self.inner.connection_made(transport)

    def arm(self) -> None:
        self.disarm()
        self.timer = asyncio.get_running_loop().call_later(self.guard.read_timeout, self._expire)

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expire(self) -> None:
        self.timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.guard.timed_out += 1
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.admitted:
            return
        self.admitted = False
        self.disarm()
        guard = self.guard
        guard.open -= 1
        if self.address is not None:
            left = guard.by_address.get(self.address, 1) - 1
            if left > 0:
                guard.by_address[self.address] = left
            else:
                guard.by_address.pop(self.address, None)
        if self.transport is not None:
            guard._guarded.pop(self.transport, None)
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.admitted:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.admitted else None

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def start_site(
    runner: web.AppRunner, guard: ConnectionGuard, host: str, port: int, backlog: int = 128
) -> asyncio.Server:
    """Like `web.TCPSite(...).start()`, with each connection behind `guard`."""
    assert runner.server is not None
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        guard.factory(runner.server), host, port, backlog=backlog, reuse_address=True
    )


def load_or_create_secret(path: Path) -> tuple[str, bool]:
    """The webhook secret stored at `path` (0600), created on first use; (secret, created)."""
    with contextlib.suppress(FileNotFoundError):
        value = path.read_text().strip()
        if value:
            return value, False
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(SECRET_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value, True
