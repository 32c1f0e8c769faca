"""What one update costs (issue 10, item 5): the round trips a profile found, held down.

Counts, not timings: statements and thread hand-overs per update are the same on any machine.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event, select, text

from bot.app import App
from bot.devtools.localapi import FakeTelegram
from bot.telegram.intake import Intake, parse_body
from storage.models import InboxUpdate
from tests.fakes import user


class Statements:
    def __init__(self, app: App) -> None:
        self.engine = app.engine.sync_engine
        self.seen: Counter[str] = Counter()

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._note)

    def _note(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = statement.split()
        self.seen[" ".join(words[:3]) if words[0] == "INSERT" else words[0]] += 1


@pytest.fixture
def hand_overs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Calls aiosqlite hands to its thread, by what they run."""
    seen: Counter[str] = Counter()
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen[getattr(fn, "__name__", "?")] += 1
        return await original(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield seen


def body(update: dict[str, Any]) -> bytes:
    return json.dumps(update).encode()


async def test_profile_a_statement_runs_in_place_with_no_thread_hand_over(
    app: App, hand_overs: Counter[str]
) -> None:
    async with app.sessions() as session:
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
        hand_overs.clear()
        assert (await session.execute(text("SELECT 2"))).scalar_one() == 2
        await session.commit()  # nothing was written: SQLite has no transaction open
    assert sum(hand_overs.values()) == 0, hand_overs
    async with app.sessions.begin() as session:  # a write commits, in place too
        await session.execute(text("CREATE TABLE IF NOT EXISTS cost_probe (x INTEGER)"))
        await session.execute(text("INSERT INTO cost_probe VALUES (1)"))
    assert sum(hand_overs.values()) == 0, hand_overs
    async with app.sessions() as session:
        assert (await session.execute(text("SELECT count(*) FROM cost_probe"))).scalar() == 1


async def test_profile_a_lock_held_by_another_process_is_waited_for_off_the_loop(
    app: App, intake: Intake, telegram: FakeTelegram, hand_overs: Counter[str]
) -> None:
    """`python -m bot purge` or a backup holding the write lock: the update waits for it on a
    thread (statements run in place only while nothing holds the file), then is stored; the
    event loop keeps running meanwhile."""
    path = app.engine.url.database
    assert path
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the write lock, held by someone else
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    clock = asyncio.create_task(ticker())
    store = asyncio.create_task(intake.store_updates([telegram.user_message(user("en"), "/menu")]))
    await asyncio.sleep(0.5)
    assert not store.done()
    assert ticks >= 10, "the loop stood still while the lock was held"
    other.execute("COMMIT")
    other.close()
    assert await asyncio.wait_for(store, 10) == 1
    clock.cancel()
    assert hand_overs["_patiently"] >= 1, hand_overs
    assert await intake.drain() == 1


async def test_profile_plain_filters_run_in_place_not_on_threads(
    intake: Intake, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    original = asyncio.to_thread

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", counted)
    member = user("en")
    await intake.store_updates([telegram.user_message(member, "/menu")])
    await intake.store_updates([telegram.user_message(member, "hello")])
    assert await intake.drain() == 2
    assert calls == 0, "a filter went through the thread pool"
    assert len([e for e in telegram.events if e.kind == "sent"]) == 2


async def test_profile_webhook_posts_arriving_together_share_one_commit(
    app: App, intake: Intake, telegram: FakeTelegram
) -> None:
    members = [user("en") for _ in range(20)]
    items = [parse_body(body(telegram.user_message(m, "/menu"))) for m in members]
    repeat = parse_body(body(json.loads(items[0].raw)))  # Telegram sending one again
    with Statements(app) as statements:
        await asyncio.gather(*[intake.store_together(i) for i in [*items, repeat]])
    assert statements.seen["INSERT INTO inbox"] <= 2, statements.seen
    async with app.sessions() as session:
        stored = (await session.scalars(select(InboxUpdate.update_id))).all()
    assert sorted(stored) == sorted(i.update_id for i in items)
    assert await intake.drain() == 20


async def test_profile_menu_update_costs_few_statements(
    app: App, intake: Intake, telegram: FakeTelegram
) -> None:
    members = [user("en") for _ in range(20)]
    for m in members:  # members exist, caches are warm
        await intake.store_updates([telegram.user_message(m, "/menu")])
    await intake.drain()
    with Statements(app) as statements:
        await asyncio.gather(
            *[
                intake.store_together(parse_body(body(telegram.user_message(m, "/menu"))))
                for m in members
            ]
        )
        assert await intake.drain() == 20
    per_update = sum(statements.seen.values()) / 20
    # Was ~8 (member lookup, two inserts and a delete for message ids, a lane's re-query, ...).
    assert per_update <= 4.0, statements.seen
