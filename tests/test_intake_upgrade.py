"""Upgrading with updates waiting (issue 10): rows stored before 0007 have no chat key."""

from __future__ import annotations

from sqlalchemy import select, update

from bot.app import App
from bot.devtools.localapi import FakeTelegram
from bot.telegram.intake import Intake
from storage.models import InboxUpdate
from tests.fakes import user


async def as_before_0007(app: App, update_ids: list[int]) -> None:
    """What an upgrade left: the rows waiting, with no chat key (0007 added the column)."""
    async with app.sessions.begin() as session:
        await session.execute(
            update(InboxUpdate).where(InboxUpdate.update_id.in_(update_ids)).values(chat_key=None)
        )


async def test_upgrade_caveat_rows_pending_before_0007_are_handled_in_order(
    app: App, intake: Intake, telegram: FakeTelegram
) -> None:
    member, other = user("en"), user("en")
    old = [
        telegram.user_message(member, "/help"),
        telegram.user_message(other, "/menu"),
        telegram.user_message(member, "/menu"),
    ]
    assert await intake.store_updates(old) == 3
    await as_before_0007(app, [u["update_id"] for u in old])
    newer = telegram.user_message(member, "/help")  # after the upgrade, from the same chat
    assert await intake.store_updates([newer]) == 1

    assert await intake.drain() == 4
    texts = [
        "How to use" in str(e.message["text"])
        for e in telegram.events
        if e.kind == "sent" and e.chat_id == member["id"] and e.message is not None
    ]
    assert texts == [True, False, True], "the old updates were skipped or run out of order"
    assert any(e.chat_id == other["id"] for e in telegram.events if e.kind == "sent")
    async with app.sessions() as session:
        waiting = await session.scalar(
            select(InboxUpdate.update_id).where(InboxUpdate.handled_at.is_(None))
        )
    assert waiting is None


async def test_upgrade_caveat_an_old_row_that_cannot_be_opened_is_set_aside(
    app: App, intake: Intake, telegram: FakeTelegram
) -> None:
    member = user("en")
    old = telegram.user_message(member, "/menu")
    assert await intake.store_updates([old]) == 1
    await as_before_0007(app, [old["update_id"]])
    async with app.sessions.begin() as session:
        await session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.update_id == old["update_id"])
            .values(payload=b"\0" * 40)
        )
    later = telegram.user_message(member, "/help")
    assert await intake.store_updates([later]) == 1
    assert await intake.drain() == 1  # the later one; the broken one is quarantined
    async with app.sessions() as session:
        row = await session.get(InboxUpdate, old["update_id"])
    assert row is not None and row.quarantined_at is not None
