"""/alerts for members and /announce for group admins, through the production dispatcher."""

from __future__ import annotations

import contextlib
import sqlite3

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy import select

from bot.app import App
from bot.devtools.localapi import FakeTelegram
from bot.telegram.intake import Intake
from storage.models import Broadcast, BroadcastState, Subscription, SubscriptionKind
from storage.repositories import MemberRepo
from tests.alerts_kit import approve, broadcaster, received, subscribers
from tests.fakes import Chat
from tests.referral_kit import Group, staff
from tests.test_conversation import lock_screen_problems


@pytest.fixture
def group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake) -> Group:
    return Group(telegram, bot, dp, intake, title="ASWA staff")


async def subscriptions(app: App, chat: Chat) -> dict[SubscriptionKind, Subscription]:
    async with app.sessions() as session:
        member = await MemberRepo(session).get(chat.chat_id)
        assert member is not None
        rows = await session.scalars(
            select(Subscription).where(Subscription.member_id == member.id)
        )
        return {s.kind: s for s in rows}


@pytest.mark.settings(flood_limit=0)
async def test_alerts_opt_in_for_a_country_and_areas_then_out_in_one_tap(
    chat: Chat, app: App
) -> None:
    replies = await chat.say("/alerts")
    assert "Alerts: off." in replies[-1] and "News: off." in replies[-1]
    replies = await chat.tap("Get alerts")
    assert "For which country?" in replies[-1]
    replies = await chat.say("Kenya")
    if any("remember" in r for r in replies):
        replies = await chat.tap("No, just this time")
    assert "Alerts: on, for Kenya." in replies[-1]
    assert "News: off." in replies[-1]  # news is a separate choice
    await chat.tap("Name areas")
    replies = await chat.say("Nairobi,  kisumu ; Nairobi")
    assert "Alerts: on, for Kenya (Nairobi, kisumu)." in replies[-1]
    subs = await subscriptions(app, chat)
    assert subs[SubscriptionKind.ALERTS].country == "KE"
    replies = await chat.tap("Stop alerts")
    assert "Alerts: off." in replies[-1]
    assert await subscriptions(app, chat) == {}


@pytest.mark.settings(flood_limit=0)
async def test_news_opt_in_uses_the_saved_country_without_asking(chat: Chat, app: App) -> None:
    async with app.sessions.begin() as session:
        member, _new = await MemberRepo(session).get_or_create(chat.chat_id)
        member.country = "UG"
    await chat.say("/alerts")
    replies = await chat.tap("Get news")
    assert "News: on, for Uganda." in replies[-1] and "Alerts: off." in replies[-1]
    assert set(await subscriptions(app, chat)) == {SubscriptionKind.NEWS}


@pytest.mark.settings(flood_limit=0)
async def test_subscription_country_and_areas_are_sealed_and_keyed_by_internal_id(
    chat: Chat, app: App
) -> None:
    await chat.say("/alerts")
    await chat.tap("Get alerts")
    replies = await chat.say("Kenya")
    if any("remember" in r for r in replies):
        await chat.tap("No, just this time")
    await chat.tap("Name areas")
    await chat.say("Kisumu")
    path = app.settings.database_url.split("///", 1)[1]
    await app.engine.dispose()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT * FROM subscriptions").fetchall()
    raw = repr(rows)
    assert rows and "KE" not in raw and "Kisumu" not in raw and str(chat.chat_id) not in raw


async def test_announce_from_a_non_admin_is_refused_clearly(
    group: Group, telegram: FakeTelegram, app: App
) -> None:
    await group.bind("aswa")
    await group.say("/announce The clinic is closed on Friday.")
    last = group.bot_messages()[-1]["text"]
    assert "Only this group's admins can send news" in last
    async with app.sessions() as session:
        assert list(await session.scalars(select(Broadcast))) == []


async def test_announce_to_zero_recipients_says_so_and_queues_nothing(
    group: Group, telegram: FakeTelegram, app: App
) -> None:
    await group.bind("aswa")
    telegram.admins[group.chat_id] = {group.person["id"]}
    await group.say("/announce The clinic is closed on Friday.")
    preview = group.bot_messages()[-1]
    assert "Preview" in preview["text"] and "The clinic is closed on Friday." in preview["text"]
    await group.tap(preview["message_id"], group.button(preview, "All our countries"))
    last = telegram.messages[(group.chat_id, preview["message_id"])]
    assert "Nobody would receive this" in last["text"]
    async with app.sessions() as session:
        assert list(await session.scalars(select(Broadcast))) == []


async def test_announce_preview_audience_confirm_then_progress_in_the_group(
    group: Group, telegram: FakeTelegram, app: App, bot: Bot
) -> None:
    await group.bind("aswa")
    telegram.admins[group.chat_id] = {group.person["id"]}
    kenya = await subscribers(app, 3, country="KE", kind=SubscriptionKind.NEWS)
    french = await subscribers(app, 2, country="UG", kind=SubscriptionKind.NEWS, language="fr")
    elsewhere = await subscribers(app, 2, country="DE", kind=SubscriptionKind.NEWS)
    await group.say("/announce The clinic on Main Street is closed on Friday.")
    preview = group.bot_messages()[-1]
    mid = preview["message_id"]
    await group.tap(mid, group.button(preview, "One language"))
    await group.tap(mid, group.button(telegram.messages[(group.chat_id, mid)], "Français"))
    confirm = telegram.messages[(group.chat_id, mid)]
    assert "Send this news to 2 members?" in confirm["text"]
    await group.tap(mid, group.button(confirm, "Another audience"))
    await group.tap(
        mid, group.button(telegram.messages[(group.chat_id, mid)], "All our countries")
    )
    confirm = telegram.messages[(group.chat_id, mid)]
    assert "Send this news to 5 members?" in confirm["text"]
    send = group.button(confirm, "Send to 5 members")
    await group.tap(mid, send)
    await group.tap(mid, send)  # a double tap queues one broadcast
    await broadcaster(app, bot).drain()
    assert received(telegram, kenya + french) == dict.fromkeys(kenya + french, 1)
    assert received(telegram, elsewhere) == {}
    progress = telegram.messages[(group.chat_id, mid)]
    assert "5 / 5 · 0 failed" in progress["text"]
    news = telegram.messages[(kenya[0], 1)]
    assert "Main Street" in news["text"] and lock_screen_problems(app, news["html"]) == []
    async with app.sessions() as session:
        jobs = list(await session.scalars(select(Broadcast)))
    assert len(jobs) == 1 and jobs[0].state == BroadcastState.DONE


async def test_stop_button_skips_the_rest_and_only_admins_may_press_it(
    group: Group, telegram: FakeTelegram, app: App, bot: Bot
) -> None:
    from bot.alerts.callbacks import BroadcastAction, BroadcastOp
    from tests.alerts_kit import approve, bind

    await bind(app, "aswa", group.chat_id)
    telegram.admins[group.chat_id] = {group.person["id"]}
    chats = await subscribers(app, 6)
    await approve(app)
    worker = broadcaster(app, bot)
    job = await worker._plan(1)
    assert job is not None
    progress = group.bot_messages()[-1]
    stop = BroadcastAction(op=BroadcastOp.STOP, b=1).pack()
    assert stop in [
        b["callback_data"] for b in telegram.buttons(group.chat_id, progress["message_id"])
    ]
    await group.tap(progress["message_id"], stop, user=staff("Someone"))
    assert any("Only this group's admins" in e.text for e in telegram.events if e.kind == "alert")
    await group.tap(progress["message_id"], stop)
    assert any("Stopped: 6 members will not get it." in e.text for e in telegram.events)
    await worker.drain()
    assert received(telegram, chats) == {}
    final = telegram.messages[(group.chat_id, progress["message_id"])]
    assert "Stopped." in final["text"] and not final.get("reply_markup")


async def subscribe_via_alerts(chat: Chat, areas: str | None) -> None:
    """/alerts -> Get alerts -> Kenya (-> Name areas -> `areas`), as a member does it."""
    await chat.say("/alerts")
    await chat.tap("Get alerts")
    replies = await chat.say("Kenya")
    if any("remember" in r for r in replies):
        replies = await chat.tap("No, just this time")
    assert "Alerts: on, for Kenya." in replies[-1]
    if areas is not None:
        await chat.tap("Name areas")
        replies = await chat.say(areas)
        assert "Alerts: on, for Kenya (" in replies[-1]


@pytest.mark.settings(flood_limit=0)
async def test_area_targeting_end_to_end_members_named_areas_and_an_alert_for_one_area(
    new_chat,
    app: App,
    bot: Bot,
    telegram: FakeTelegram,  # type: ignore[no-untyped-def]
) -> None:
    """Areas as members name them in /alerts, then an alert for "nairobi" (case and spaces
    aside): it reaches those who named Nairobi and those who named no area, not Mombasa's;
    an alert for the whole country (what an approved bad-date report is) reaches all three."""
    nairobi, mombasa, everywhere = new_chat(), new_chat(), new_chat()
    await subscribe_via_alerts(nairobi, "Westlands, Nairobi")
    await subscribe_via_alerts(mombasa, "Mombasa")
    await subscribe_via_alerts(everywhere, None)
    chats = [nairobi.chat_id, mombasa.chat_id, everywhere.chat_id]
    telegram.events.clear()  # from here on, only what the broadcasts send
    await approve(app, areas=["  nairobi "])
    await broadcaster(app, bot).drain()
    assert received(telegram, chats) == {nairobi.chat_id: 1, everywhere.chat_id: 1}
    alert = next(e.message for e in telegram.events if e.chat_id == nairobi.chat_id and e.message)
    assert "Alert for nairobi · Kenya" in alert["text"]
    telegram.events.clear()
    await approve(app, areas=[])
    await broadcaster(app, bot).drain()
    assert received(telegram, chats) == dict.fromkeys(chats, 1)
