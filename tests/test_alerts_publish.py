"""publish_alert: the call the moderation card's Approve makes (issue 16 items 2-3)."""

from __future__ import annotations

import contextlib
import json
import sqlite3

import pytest
from sqlalchemy import func, select

from bot.alerts.service import publish_alert
from bot.app import App
from storage.models import Alert, Broadcast, BroadcastKind, BroadcastState


async def publish(app: App, **overrides: object) -> int:
    values: dict[str, object] = {
        "network_id": "aswa",
        "country": "ke",
        "areas": ["  Nairobi ", "nairobi", "Mombasa"],
        "text": "A man in a grey car near the market refuses to pay.",
        "language": "en",
        "approved_by": 4242,
        "source_report_id": 7,
    }
    values.update(overrides)
    async with app.sessions.begin() as session:
        return await publish_alert(session, **values)  # type: ignore[arg-type]


async def test_publish_alert_records_the_alert_and_its_broadcast_job(app: App) -> None:
    """One alert row (text sealed) and one broadcast job waiting to be planned."""
    alert_id = await publish(app)
    async with app.sessions() as session:
        alert = await session.get(Alert, alert_id)
        assert alert is not None
        assert alert.text == "A man in a grey car near the market refuses to pay."
        assert alert.country == "KE" and json.loads(alert.areas) == ["Nairobi", "Mombasa"]
        assert alert.approved_by_hash == app.identity.tag(4242)
        job = await session.scalar(select(Broadcast).where(Broadcast.alert_id == alert_id))
        assert job is not None
        assert job.kind == BroadcastKind.ALERT and job.state == BroadcastState.PLANNING
        assert job.network_id == "aswa"


async def test_publish_alert_twice_for_one_report_queues_one_broadcast(app: App) -> None:
    """Approve pressed twice (or a replayed update): the same alert, one job."""
    first = await publish(app)
    second = await publish(app, text="Edited text pressed again")
    assert first == second
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Broadcast)) == 1
        assert await session.scalar(select(func.count()).select_from(Alert)) == 1


async def test_publish_alert_without_a_report_always_queues(app: App) -> None:
    a = await publish(app, source_report_id=None)
    b = await publish(app, source_report_id=None)
    assert a != b


async def test_publish_alert_refuses_a_bad_country_or_an_empty_text(app: App) -> None:
    with pytest.raises(ValueError):
        await publish(app, country="Kenya")
    with pytest.raises(ValueError):
        await publish(app, text="   ")


async def test_alert_text_and_approver_are_not_stored_in_clear(app: App) -> None:
    await publish(app)
    path = app.settings.database_url.split("///", 1)[1]
    await app.engine.dispose()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT * FROM alerts").fetchall()
    raw = b"".join(bytes(str(row), "utf-8") for row in rows)
    assert b"grey car" not in raw and b"Nairobi" not in raw and b"4242" not in raw
