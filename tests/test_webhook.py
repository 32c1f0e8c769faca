"""Webhook mode: secret checked, stored before 200, 503 when the inbox is down, health report."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot, Dispatcher
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bot.app import App
from bot.devtools.localapi import FakeTelegram
from bot.telegram.intake import Intake
from bot.telegram.webhook import PATH, SECRET_HEADER, WebhookServer
from storage.models import InboxUpdate
from tests.fakes import user

SECRET = "s3cret_Token-1"


@pytest.fixture
async def client(app: App, bot: Bot, dp: Dispatcher) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    server = WebhookServer(app, bot, dp, Intake(app, bot, dp))
    server.secret = SECRET.encode()
    async with TestClient(TestServer(server.web_app())) as c:
        c.server.webhook = server  # type: ignore[attr-defined]
        yield c


async def inbox_count(app: App) -> int:
    async with app.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(InboxUpdate)) or 0)


@pytest.mark.parametrize("header", [None, "wrong", SECRET + "x", ""])
async def test_missing_or_wrong_secret_is_refused_and_nothing_stored(
    client: TestClient,
    app: App,
    telegram: FakeTelegram,
    header: str | None,  # type: ignore[type-arg]
) -> None:
    """R21: 401 and no inbox row."""
    headers = {SECRET_HEADER: header} if header is not None else {}
    resp = await client.post(PATH, json=telegram.user_message(user(), "/start"), headers=headers)
    assert resp.status == 401
    assert await inbox_count(app) == 0


async def test_update_is_stored_before_200_and_handled_once_despite_repeats(
    client: TestClient,
    app: App,
    telegram: FakeTelegram,  # type: ignore[type-arg]
) -> None:
    """R1/R3: the update is in the inbox when 200 is answered; three re-POSTs, one reply."""
    raw = telegram.user_message(user("es"), "/menu")
    for _ in range(3):
        resp = await client.post(PATH, json=raw, headers={SECRET_HEADER: SECRET})
        assert resp.status == 200
        assert await inbox_count(app) == 1
    server: WebhookServer = client.server.webhook  # type: ignore[attr-defined]
    stop = asyncio.Event()
    drainer = asyncio.create_task(server.drain_forever(stop))
    for _ in range(100):
        if telegram.sent("sendMessage"):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await drainer
    assert len(telegram.sent("sendMessage")) == 1


async def test_database_down_answers_503_then_the_retry_is_processed(
    client: TestClient,
    app: App,
    telegram: FakeTelegram,
    tmp_path,  # type: ignore[no-untyped-def,type-arg]
) -> None:
    """R1: with the inbox unreachable Telegram gets a 5xx; its retry later lands once."""
    raw = telegram.user_message(user(), "/menu")
    healthy = app.sessions
    # A file where the database's folder should be: every connection fails.
    (tmp_path / "no").write_text("not a folder")
    broken = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/no/x.sqlite3")
    app.sessions = async_sessionmaker(broken)
    server: WebhookServer = client.server.webhook  # type: ignore[attr-defined]
    server.intake.app.sessions = app.sessions
    resp = await client.post(PATH, json=raw, headers={SECRET_HEADER: SECRET})
    assert resp.status == 503
    health = await client.get("/healthz")
    assert health.status == 503
    app.sessions = healthy
    resp = await client.post(PATH, json=raw, headers={SECRET_HEADER: SECRET})
    assert resp.status == 200
    assert await inbox_count(app) == 1
    await broken.dispose()


async def test_bad_json_is_a_400(client: TestClient) -> None:  # type: ignore[type-arg]
    """Garbage in the body is refused without a traceback."""
    resp = await client.post(PATH, data=b"{not json", headers={SECRET_HEADER: SECRET})
    assert resp.status == 400


async def test_health_reports_database_and_backlog(client: TestClient) -> None:  # type: ignore[type-arg]
    """R36: /healthz says what is up and how far behind the inbox is."""
    resp = await client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert body["database"] == "ok" and body["inbox_backlog"] == 0


@pytest.mark.process
async def test_webhook_process_sets_webhook_and_serves(
    fake_api,
    tmp_path,
    unused_tcp_port,  # type: ignore[no-untyped-def]
) -> None:
    """The real `python -m bot webhook` registers itself and answers a POSTed update."""
    from tests.process import start_bot, stop, wait_for

    tg: FakeTelegram = fake_api.telegram
    proc = await start_bot(
        fake_api,
        tmp_path,
        WEBHOOK_URL="https://bot.example.org",
        WEBHOOK_SECRET=SECRET,
        PORT=str(unused_tcp_port),
        WEBHOOK_HOST="127.0.0.1",
        _command="webhook",
    )
    try:
        await wait_for(lambda: tg.sent("setWebhook"))
        (call,) = tg.sent("setWebhook")
        assert call.params["url"] == "https://bot.example.org/telegram"
        assert str(call.params.get("drop_pending_updates", "false")).lower() == "false"
        member = user("ru")
        async with ClientSession() as http:
            for _ in range(50):
                try:
                    resp = await http.post(
                        f"http://127.0.0.1:{unused_tcp_port}{PATH}",
                        json=tg.user_message(member, "/menu"),
                        headers={SECRET_HEADER: SECRET},
                    )
                    break
                except OSError:
                    await asyncio.sleep(0.1)
            assert resp.status == 200
        await wait_for(lambda: tg.sent("sendMessage", member["id"]))
    finally:
        code, err = await stop(proc)
    assert code == 0, err


async def test_two_instances_handle_each_update_once_in_order(
    app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """R33/R3: updates POSTed to alternating instances are each handled once, in order."""
    from bot.dispatcher import build_dispatcher

    servers = []
    for _ in range(2):
        dp = build_dispatcher(app)
        server = WebhookServer(app, bot, dp, Intake(app, bot, dp))
        server.secret = SECRET.encode()
        servers.append(server)
    stop = asyncio.Event()
    drainers = [asyncio.create_task(s.drain_forever(stop)) for s in servers]
    members = [user("en") for _ in range(4)]
    async with (
        TestClient(TestServer(servers[0].web_app())) as a,
        TestClient(TestServer(servers[1].web_app())) as b,
    ):
        for i in range(12):
            raw = telegram.user_message(members[i % 4], "/menu" if (i // 4) % 2 else "/help")
            resp = await (a if i % 2 else b).post(PATH, json=raw, headers={SECRET_HEADER: SECRET})
            assert resp.status == 200
        for _ in range(200):
            if len(telegram.sent("sendMessage")) >= 12:
                break
            await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*drainers)
    sent = telegram.sent("sendMessage")
    assert len(sent) == 12
    for member in members:
        texts = [c.params["text"] for c in sent if str(c.params["chat_id"]) == str(member["id"])]
        assert [("How to use" in t) for t in texts] == [True, False, True]
