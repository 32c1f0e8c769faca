"""The retention job with a fake clock: nothing is left past its limit (R26)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import cli
from bot.app import App, create_app
from bot.config import Settings, sqlite_url
from bot.safety.retention import INBOX_MAX, INBOX_REPEATS, purge, purge_if_due
from bot.safety.service import WINDOW
from storage.models import (
    InboxUpdate,
    Member,
    MessageSighting,
    OutboxMessage,
    Referral,
    Relay,
)
from storage.repositories import ReferralRepo
from tests.conftest import make_settings

NOW = dt.datetime(2030, 6, 1, 3, 0)


def ago(**delta: float) -> dt.datetime:
    return NOW - dt.timedelta(**delta)


async def seed(app: App) -> int:
    """Rows on both sides of every limit; returns the member's id."""
    async with app.sessions.begin() as session:
        member = Member(public_id="ABC123", telegram_id=4242)
        session.add(member)
        await session.flush()
        session.add_all(
            MessageSighting(member_id=member.id, message_id=i, outgoing=bool(i % 2), seen_at=at)
            for i, at in enumerate([ago(hours=49), ago(hours=48, seconds=1), ago(hours=47)])
        )
        session.add_all(
            [
                InboxUpdate(
                    update_id=1, payload=None, received_at=ago(days=2), handled_at=ago(hours=25)
                ),
                InboxUpdate(
                    update_id=2, payload=None, received_at=ago(hours=23), handled_at=ago(hours=23)
                ),
                InboxUpdate(update_id=3, payload=b"x", received_at=ago(days=8), attempts=5),
                InboxUpdate(update_id=4, payload=b"x", received_at=ago(hours=1)),
            ]
        )

        def referral(code: str, state: str, **fields: object) -> Referral:
            return Referral(
                code=code,
                member_id=member.id,
                need="legal",
                country="KE",
                language="en",
                network_id="aswa",
                state=state,
                **fields,
            )

        old_closed = referral(
            "R-OLD01", "closed", created_at=ago(days=120), closed_at=ago(days=91)
        )
        recent_closed = referral(
            "R-NEW01", "closed", created_at=ago(days=95), closed_at=ago(days=89)
        )
        withdrawn = referral("R-WDR01", "withdrawn", created_at=ago(days=300))
        still_open = referral("R-OPN01", "answered", created_at=ago(days=200), body=b"sealed")
        for row in (old_closed, recent_closed, withdrawn, still_open):
            # Through the repository: it seals the need, country and network (H1).
            await ReferralRepo(session).add(row)
        delivered = Relay(
            referral_id=still_open.id, direction="to_member", body=b"sealed", source_update_id=10
        )
        owed = Relay(
            referral_id=still_open.id, direction="to_member", body=b"sealed", source_update_id=11
        )
        on_old = Relay(
            referral_id=old_closed.id, direction="to_group", body=b"sealed", source_update_id=12
        )
        session.add_all([delivered, owed, on_old])
        await session.flush()
        session.add_all(
            [
                OutboxMessage(
                    key="relay:1",
                    referral_id=still_open.id,
                    relay_id=delivered.id,
                    destination="member",
                    kind="relay",
                    state="sent",
                ),
                OutboxMessage(
                    key="relay:2",
                    referral_id=still_open.id,
                    relay_id=owed.id,
                    destination="member",
                    kind="relay",
                    state="pending",
                ),
                OutboxMessage(
                    key="card:old",
                    referral_id=old_closed.id,
                    destination="network",
                    kind="card",
                    state="sent",
                ),
            ]
        )
        return member.id


async def count(app: App, model: type, *where: object) -> int:
    async with app.sessions() as session:
        return int(
            await session.scalar(select(func.count()).select_from(model).where(*where)) or 0
        )


async def test_retention_leaves_no_row_past_its_limit(app: App) -> None:
    """Acceptance: with a fake clock, one pass leaves nothing older than its limit."""
    await check_retention(app)


async def test_retention_on_postgres_with_keys_in_another_database(
    pg_url: str, tmp_path: Path
) -> None:
    """The same pass on PostgreSQL, its key store in a database of its own (KEYS_URL)."""
    from storage import db

    engine = db.create_engine(pg_url)
    await db.upgrade(engine)
    await engine.dispose()
    settings = make_settings(tmp_path, database_url=pg_url, keys_url=sqlite_url(tmp_path / "k.db"))
    app = await create_app(settings)
    try:
        await check_retention(app)
    finally:
        await app.close()


async def check_retention(app: App) -> None:
    assert app.keystore is not None
    member_id = await seed(app)
    await app.keystore.put(999, b"orphan key", now=ago(days=2))  # no such member
    await app.keystore.put(998, b"young orphan", now=ago(hours=1))  # may be mid-creation
    await app.keystore.put(member_id, b"member key", now=ago(days=30))

    counts = await purge(app, NOW)

    assert await count(app, MessageSighting, MessageSighting.seen_at < NOW - WINDOW) == 0
    assert await count(app, MessageSighting) == 1
    assert await count(app, InboxUpdate, InboxUpdate.handled_at < NOW - INBOX_REPEATS) == 0
    assert await count(app, InboxUpdate, InboxUpdate.received_at < NOW - INBOX_MAX) == 0
    assert await count(app, InboxUpdate) == 2
    limit = NOW - dt.timedelta(days=app.settings.retention_days)
    terminal = Referral.state.in_(("closed", "withdrawn", "deleted"))
    assert await count(app, Referral, terminal, Referral.closed_at < limit) == 0
    async with app.sessions() as session:
        left = set(await session.scalars(select(Referral.code)))
        bodies = {r.source_update_id: r.body for r in await session.scalars(select(Relay))}
    # The withdrawn one had no closing date: its 90 days start now. Open ones stay.
    assert left == {"R-NEW01", "R-WDR01", "R-OPN01"}
    # A delivered relay's text is gone; the one still owed keeps it; the old one went with
    # its referral (and its outbox rows with it).
    assert bodies == {10: None, 11: b"sealed"}
    assert await count(app, OutboxMessage, OutboxMessage.key == "card:old") == 0
    assert await app.keystore.get(999) is None
    assert await app.keystore.get(998) is not None
    assert await app.keystore.get(member_id) is not None
    assert counts == {
        "message_ids": 2,
        "inbox": 2,
        "referrals": 1,
        "relay_texts": 1,
        "orphan_keys": 1,
        "bad_date_reports": 0,
        "alerts": 0,  # expired alerts and news (issue 16): none here
    }
    # A second pass finds nothing more.
    again = await purge(app, NOW)
    assert set(again.values()) == {0}


async def test_only_one_instance_runs_the_daily_pass(app: App) -> None:
    """Two instances at once: one does the work; neither runs again within the day."""
    results = await asyncio.gather(
        purge_if_due(app, "instance-a", NOW), purge_if_due(app, "instance-b", NOW)
    )
    assert sorted(r is None for r in results) == [False, True]
    assert await purge_if_due(app, "instance-c", NOW) is None


async def test_purge_command_for_cron(
    settings: Settings, app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m bot purge` runs once a day; --force runs anyway."""
    assert await cli.purge(settings, force=False) == 0
    assert "Deleted:" in capsys.readouterr().out
    assert await cli.purge(settings, force=False) == 0
    assert "Skipped" in capsys.readouterr().out
    assert await cli.purge(settings, force=True) == 0
    assert "Deleted:" in capsys.readouterr().out


async def test_keys_url_naming_the_main_database_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """KEYS_URL set to DATABASE_URL (as the scale-out test and the load bench do) is the main
    database's own key table, with the warning: the daily pass and members' keys still work
    (it used to meet the migrated `member_keys` table as a store of its own: ProgrammingError,
    no column `created_at`)."""
    from storage import db
    from storage.models import Member
    from storage.repositories import MemberRepo

    engine = db.create_engine(pg_url)
    await db.upgrade(engine)
    await engine.dispose()
    app = await create_app(make_settings(tmp_path, database_url=pg_url, keys_url=pg_url))
    try:
        assert app.keystore is None  # the keys stay in the main database, as without KEYS_URL
        async with app.sessions.begin() as session:
            member, _ = await MemberRepo(session).get_or_create(7_600_000_099)
            await ReferralRepo(session).add(
                Referral(
                    code="R-SAME1",
                    member_id=member.id,
                    need="legal-help",
                    country="KE",
                    language="en",
                    network_id="aswa",
                    group_network_id="aswa",
                )
            )
        counts = await purge(app, NOW)
        assert counts["orphan_keys"] == 0
        async with app.sessions() as session:
            found = await ReferralRepo(session).by_code("R-SAME1")
            assert found is not None and found.need == "legal-help"
            assert await session.scalar(select(func.count()).select_from(Member)) == 1
    finally:
        await app.close()
