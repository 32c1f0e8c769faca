"""The webhook edge: a strong secret, wrong secrets slowed, slow clients cut (M7, L2, L4)."""

from __future__ import annotations

import asyncio
import io
import os
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import App
from bot.cli import with_generated_secret
from bot.config import ConfigError, load_settings
from bot.devtools.localapi import FakeTelegram
from bot.telegram.guard import ConnectionGuard, FailureThrottle, start_site
from bot.telegram.intake import Intake
from bot.telegram.webhook import PATH, SECRET_HEADER, WebhookServer
from tests.fakes import user

SECRET = "guard-test-secret-0123456789abcdefXYZ"


@pytest.fixture
async def server(app: App, bot: Bot, dp: Dispatcher) -> WebhookServer:
    webhook = WebhookServer(app, bot, dp, Intake(app, bot, dp))
    webhook.secret = SECRET.encode()
    return webhook


@pytest.fixture
async def client(server: WebhookServer) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    async with TestClient(TestServer(server.web_app())) as c:
        yield c


@pytest.mark.parametrize("secret", ["a", "x" * 31])
def test_m7_short_webhook_secret_is_refused(secret: str) -> None:
    """M7: a secret under 32 characters is a configuration error naming the variable."""
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        load_settings(webhook_secret=secret, webhook_url="https://x.example")
    assert load_settings(webhook_secret="x" * 32).webhook_secret is not None


def test_m7_unset_secret_is_generated_once_into_a_private_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """M7: webhook mode without a secret generates one (0600), says so once, reuses it."""
    path = tmp_path / "var" / "webhook.secret"
    settings = load_settings(webhook_url="https://x.example")
    first = with_generated_secret(settings, path)
    said = capsys.readouterr().err
    second = with_generated_secret(settings, path)
    assert first.webhook_secret is not None and second.webhook_secret is not None
    value = first.webhook_secret.get_secret_value()
    assert len(value) >= 32 and value == second.webhook_secret.get_secret_value()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert str(path) in said and value not in said
    assert capsys.readouterr().err == ""  # printed on creation only
    # What it generates passes its own validation.
    assert load_settings(webhook_secret=value).webhook_secret is not None


async def test_m7_repeated_wrong_secrets_from_one_address_get_429(
    client: TestClient,  # type: ignore[type-arg]
    server: WebhookServer,
    telegram: FakeTelegram,
) -> None:
    """M7: after a burst of 401s each wrong secret from that address is held and answered
    429; the right secret (Telegram, or anyone behind the same proxy) still passes at once."""
    server.throttle.penalty_seconds = 0.5
    raw = telegram.user_message(user(), "/start")
    statuses = []
    for n in range(server.throttle.burst):
        resp = await client.post(PATH, json=raw, headers={SECRET_HEADER: f"guess-{n}"})
        statuses.append(resp.status)
    assert statuses == [401] * server.throttle.burst
    started = time.monotonic()
    slowed = await asyncio.gather(
        *(client.post(PATH, json=raw, headers={SECRET_HEADER: f"more-{n}"}) for n in range(5))
    )
    assert {r.status for r in slowed} == {429}
    assert time.monotonic() - started >= 0.5  # each held for the penalty
    started = time.monotonic()
    resp = await client.post(PATH, json=raw, headers={SECRET_HEADER: SECRET})
    assert resp.status == 200
    assert time.monotonic() - started < 0.5  # not held
    # Telegram's own network is never throttled; another address is unaffected.
    assert not server.throttle.blocked("149.154.167.220")
    assert not server.throttle.blocked("203.0.113.9")


def test_m7_throttle_refills_and_its_memory_is_bounded() -> None:
    """M7: one more guess per refill period; at most max_addresses addresses are remembered."""
    now = [0.0]
    throttle = FailureThrottle(burst=3, refill_seconds=6, max_addresses=100, clock=lambda: now[0])
    for _ in range(3):
        throttle.failed("198.51.100.7")
    assert throttle.blocked("198.51.100.7")
    now[0] += 6
    assert not throttle.blocked("198.51.100.7")
    throttle.failed("198.51.100.7")
    assert throttle.blocked("198.51.100.7")
    for i in range(10_000):
        throttle.failed(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert len(throttle) == 100
    for _ in range(50):
        throttle.failed("91.108.4.1")  # Telegram
    assert not throttle.blocked("91.108.4.1")


async def test_l2_healthz_is_503_json_when_a_probe_raises(
    client: TestClient,  # type: ignore[type-arg]
    app: App,
) -> None:
    """L2: a dependency probe that raises (the outbox's, with the database down) gives a 503
    with the JSON report, never a bare 500."""

    async def broken() -> dict[str, object]:
        raise OSError("database unreachable")

    app.health_probes["outbox"] = broken
    resp = await client.get("/healthz")
    assert resp.status == 503
    body = await resp.json()
    assert body["outbox"] == "down: OSError"
    assert body["database"] == "ok"


async def _slow_clients(port: int, count: int, partial: bytes) -> list[asyncio.StreamReader]:
    readers = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(partial)
        await writer.drain()
        readers.append((reader, writer))
    return readers  # type: ignore[return-value]


async def _closed_within(conns, limit: float) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """How many of the connections the server closed within `limit` s, and when the last was."""
    started = time.monotonic()

    async def one(reader: asyncio.StreamReader) -> float | None:
        try:
            async with asyncio.timeout(limit):
                while await reader.read(1024):
                    pass
            return time.monotonic() - started
        except (TimeoutError, ConnectionError):
            return None if time.monotonic() - started >= limit else time.monotonic() - started

    results = await asyncio.gather(*(one(r) for r, _w in conns))
    for _r, w in conns:
        w.close()
    closed = [t for t in results if t is not None]
    return len(closed), max(closed, default=0.0)


@pytest.mark.parametrize(
    "partial",
    [
        b"POST /telegram HTTP/1.1\r\nHost: x\r\n",  # the head never ends
        b"POST /telegram HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
        + f"{SECRET_HEADER}: {SECRET}\r\n\r\n".encode()
        + b'{"update_id": ',  # the body trickles
    ],
    ids=["partial-head", "trickled-body"],
)
async def test_l4_slow_loris_connections_are_closed_within_the_timeout(
    server: WebhookServer, unused_tcp_port: int, partial: bytes
) -> None:
    """L4: 30 connections that never finish their request are closed by the read timeout;
    meanwhile a normal request is still answered."""
    server.guard = ConnectionGuard(read_timeout=1.0, max_connections=100, per_address=100)
    runner = web.AppRunner(server.web_app(), access_log=None)
    await runner.setup()
    site = await start_site(runner, server.guard, "127.0.0.1", unused_tcp_port)
    try:
        conns = await _slow_clients(unused_tcp_port, 30, partial)
        async with ClientSession() as http:
            resp = await http.get(f"http://127.0.0.1:{unused_tcp_port}/healthz")
            assert resp.status == 200
        closed, last = await _closed_within(conns, 5.0)
        assert closed == 30
        assert last < 3.0
        assert server.guard.timed_out >= 30
    finally:
        site.close()
        await runner.cleanup()


async def test_l4_connection_cap_refuses_the_excess(
    server: WebhookServer, unused_tcp_port: int
) -> None:
    """L4: past the per-address cap new connections are closed at once; open ones stay
    until their timeout, and the count returns to zero."""
    server.guard = ConnectionGuard(read_timeout=2.0, max_connections=40, per_address=10)
    runner = web.AppRunner(server.web_app(), access_log=None)
    await runner.setup()
    site = await start_site(runner, server.guard, "127.0.0.1", unused_tcp_port)
    try:
        conns = await _slow_clients(unused_tcp_port, 15, b"GET /healthz HTTP/1.1\r\n")
        closed, _last = await _closed_within(conns[10:], 1.0)
        assert closed == 5
        assert server.guard.refused == 5
        closed, last = await _closed_within(conns[:10], 5.0)
        assert closed == 10 and last < 4.0
        for _ in range(50):
            if server.guard.open == 0:
                break
            await asyncio.sleep(0.05)
        assert server.guard.open == 0 and server.guard.by_address == {}
    finally:
        site.close()
        await runner.cleanup()


async def test_body_limits_still_hold_under_the_read_timeout(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    """What held up still holds: more than 1 MiB is a 413; a wrong secret is refused without
    reading the body; garbage is a 400."""
    big = b"{" + b" " * (1 << 20) + b"}"
    resp = await client.post(PATH, data=io.BytesIO(big), headers={SECRET_HEADER: SECRET})
    assert resp.status == 413
    resp = await client.post(PATH, data=io.BytesIO(big), headers={SECRET_HEADER: "wrong"})
    assert resp.status == 401
    resp = await client.post(PATH, data=b"[1, 2]", headers={SECRET_HEADER: SECRET})
    assert resp.status == 400
