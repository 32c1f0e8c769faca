"""The delivery worker in-process: routing, waiting, rerouting, timers, withdrawal."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from cryptography.exceptions import InvalidTag
from sqlalchemy import select

from bot.app import App
from bot.devtools.localapi import FakeTelegram, Reply, error
from bot.referrals.outbox import DeliveryConfig, stop_worker
from bot.referrals.service import Referrals, body_aad
from bot.telegram.intake import Intake
from storage.models import Member, MemberKey, NetworkGroup, OutboxMessage, Referral, Relay
from storage.repositories import MemberRepo
from tests.conftest import ADMIN_ID
from tests.fakes import Chat
from tests.faults import Faults
from tests.referral_kit import Clock, Group, submit, texts_to, worker


@pytest.fixture
def make_group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake):  # type: ignore[no-untyped-def]
    def factory(title: str = "Staff") -> Group:
        return Group(telegram, bot, dp, intake, title=title)

    return factory


async def referral_of(app: App, code: str) -> Referral:
    async with app.sessions() as session:
        referral = await session.scalar(select(Referral).where(Referral.code == code))
    assert referral is not None
    return referral


async def outbox_rows(app: App) -> list[OutboxMessage]:
    async with app.sessions() as session:
        return list((await session.scalars(select(OutboxMessage))).all())


async def test_waits_without_a_group_and_admins_are_told_once(
    new_chat, make_group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:  # type: ignore[no-untyped-def]
    """No group bound: requests wait, admins hear once; /bind delivers every waiting one."""
    delivery = worker(app, bot)
    first, second = new_chat("en"), new_chat("en")
    code1 = await submit(first, "First request.")
    code2 = await submit(second, "Second request.", need="HIV", country="Uganda")
    await delivery.drain()
    assert (await referral_of(app, code1)).state == "waiting"
    alerts = texts_to(telegram, ADMIN_ID)
    assert len(alerts) == 1 and "waiting" in alerts[0] and "/bind" in alerts[0]
    (listing,) = await first.say("/requests")
    assert "queued" in listing

    group = make_group("ASWA staff")
    await group.bind("aswa")
    await delivery.drain()
    assert {code1, code2} <= {
        c for card in group.cards() for c in (code1, code2) if c in card["text"]
    }
    assert (await referral_of(app, code2)).state == "delivered"


async def test_unbound_network_goes_to_the_fallback_group(
    chat: Chat, make_group, app: App, bot: Bot
) -> None:  # type: ignore[no-untyped-def]
    """Only /bind global: the card goes there, says for whom, and its staff may answer."""
    fallback = make_group("Secretariat")
    await fallback.bind("global")
    delivery = worker(app, bot)
    code = await submit(chat, "Help please.")
    await delivery.drain()
    card = fallback.card(code)
    assert "For: African Sex Workers Alliance (ASWA)" in card["text"]
    await fallback.say("We are on it.", reply_to=card["message_id"])
    await delivery.drain()
    assert any("We are on it." in t and "Reply from Global Network" in t for t in chat.new_texts())


async def test_kicked_group_reroutes_to_fallback_and_tells_admins(
    new_chat, make_group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:  # type: ignore[no-untyped-def]
    """403 from a network's group: no retry there; the card goes to the fallback; admins are
    told (R9)."""
    regional, fallback = make_group("ASWA"), make_group("Secretariat")
    await regional.bind("aswa")
    await fallback.bind("global")
    telegram.faults.append(Faults(forbidden={regional.chat_id}))
    delivery = worker(app, bot)
    code = await submit(new_chat("en"), "First.")
    await delivery.drain()
    assert fallback.card(code)
    assert any("cannot post in the group" in t for t in texts_to(telegram, ADMIN_ID))
    code2 = await submit(new_chat("en"), "Second.")
    await delivery.drain()
    assert fallback.card(code2)
    cards_tried = [
        c for c in telegram.sent("sendMessage", regional.chat_id) if "📨" in c.params["text"]
    ]
    assert len(cards_tried) == 1
    async with app.sessions() as session:
        group = await session.scalar(select(NetworkGroup).where(NetworkGroup.network_id == "aswa"))
    assert group is not None and not group.active
    # Re-adding the bot and binding again makes the group live.
    telegram.faults.clear()
    await regional.bind("aswa")
    code3 = await submit(new_chat("en"), "Third.")
    await delivery.drain()
    assert regional.card(code3)


async def test_upgraded_group_is_followed(
    chat: Chat, make_group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:  # type: ignore[no-untyped-def]
    """400 with migrate_to_chat_id: the binding follows and the card is resent there (R10)."""
    old = make_group("ASWA")
    await old.bind("aswa")
    new_id = old.chat_id - 5_000
    telegram.chat(new_id, "supergroup", title="ASWA (supergroup)")
    telegram.faults.append(Faults(migrated={old.chat_id: new_id}))
    code = await submit(chat, "After the upgrade.")
    await worker(app, bot).drain()
    assert any(code in t for t in texts_to(telegram, new_id))
    async with app.sessions() as session:
        group = await session.scalar(select(NetworkGroup))
    assert group is not None and group.chat_id == new_id


async def test_migration_service_message_moves_the_binding(make_group, app: App) -> None:  # type: ignore[no-untyped-def]
    """The group's "migrated to supergroup" service message updates the binding too (R10)."""
    old = make_group("SWAN")
    await old.bind("swan")
    new_id = old.chat_id - 7_000
    raw = old.telegram.user_message(
        old.person, None, chat_id=old.chat_id, migrate_to_chat_id=new_id
    )
    await old.feed(raw)
    async with app.sessions() as session:
        group = await session.scalar(select(NetworkGroup))
    assert group is not None and group.chat_id == new_id


async def test_permanent_server_errors_end_dead_with_an_alert(
    chat: Chat, make_group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:  # type: ignore[no-untyped-def]
    """5xx for ever: capped backoff, then `dead` and an admin alert naming the request (R8)."""
    group = make_group("ASWA")
    await group.bind("aswa")
    telegram.faults.append(Faults(p500=1.0, only={group.chat_id}))
    clock = Clock()
    config = DeliveryConfig(base_delay=1, max_delay=4, max_failures=4)
    delivery = worker(app, bot, clock=clock, config=config)
    code = await submit(chat, "Will it arrive?")
    for _ in range(8):
        await delivery.drain()
        clock.advance(seconds=10)
    cards = [r for r in await outbox_rows(app) if r.kind == "card"]
    assert [r.state for r in cards] == ["dead"]
    # /healthz shows the dead letter (R36).
    report = await app.health_probes["outbox"]()
    assert report["dead"] == 1 and report["pending"] == 0
    assert cards[0].failures == 4
    telegram.faults.clear()
    await delivery.drain()
    alerts = texts_to(telegram, ADMIN_ID)
    assert len(alerts) == 1 and code in alerts[0] and "dead" in alerts[0]
    # The calls were spaced by the backoff, not hammered: one per cycle.
    tries = [c for c in telegram.sent("sendMessage", group.chat_id) if "📨" in c.params["text"]]
    assert len(tries) == 4


async def test_429_holds_back_only_that_chat(
    new_chat, make_group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:  # type: ignore[no-untyped-def]
    """A 429 for group A delays A's cards by retry_after; group B's go out meanwhile (R7)."""
    a, b = make_group("ASWA"), make_group("APNSW")
    await a.bind("aswa")
    await b.bind("apnsw")
    clock = Clock()
    delivery = worker(app, bot, clock=clock)
    hits: list[int] = []

    def once_429(method: str, params: dict[str, object]) -> Reply | None:
        if method == "sendMessage" and int(str(params["chat_id"])) == a.chat_id and not hits:
            hits.append(1)
            return error(429, "Too Many Requests: retry after 30", retry_after=30)
        return None

    telegram.faults.append(once_429)
    code_a = await submit(new_chat("en"), "Kenya.", country="Kenya")
    code_b = await submit(new_chat("en"), "India.", country="India")
    await delivery.drain()
    assert b.card(code_b) and not a.cards()
    clock.advance(seconds=20)
    await delivery.drain()
    assert not a.cards()
    clock.advance(seconds=11)
    await delivery.drain()
    assert a.card(code_a)


async def test_reminder_then_escalation_survive_a_restart(
    chat: Chat, make_group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:  # type: ignore[no-untyped-def]
    """Unclaimed after 24 h: a reminder on the card; after 72 h: a card in the fallback group.
    The timers are database timestamps: a new worker (a restart) picks them up, once."""
    regional, fallback = make_group("ASWA"), make_group("Secretariat")
    await regional.bind("aswa")
    await fallback.bind("global")
    clock = Clock()
    delivery = worker(app, bot, clock=clock)
    code = await submit(chat, "Still there?")
    await delivery.drain()
    card = regional.card(code)
    clock.advance(hours=23)
    assert await delivery.check_timers() == 0
    clock.advance(hours=2)
    assert await delivery.check_timers() == 1
    await delivery.drain()
    (reminder,) = [m for m in regional.bot_messages() if "⏰" in m["text"]]
    assert code in reminder["text"] and "25 hours" in reminder["text"]
    assert reminder["reply_to_message"]["message_id"] == card["message_id"]

    restarted = worker(app, bot, clock=clock)
    assert await restarted.check_timers() == 0  # no second reminder
    clock.advance(hours=48)
    assert await restarted.check_timers() == 1
    await restarted.drain()
    escalated = fallback.card(code)
    assert "Escalated" in escalated["text"] and "Still there?" in escalated["text"]
    # The fallback group may act on it now: claim there, and both cards follow.
    await fallback.tap(escalated["message_id"], fallback.button(escalated, "Claim"))
    await restarted.drain()
    assert "Claimed" in fallback.card(code)["text"]
    assert "Claimed" in regional.card(code)["text"]
    assert (await referral_of(app, code)).state == "claimed"


async def test_claimed_referrals_are_not_escalated(
    chat: Chat, make_group, app: App, bot: Bot
) -> None:  # type: ignore[no-untyped-def]
    """A claim stops the timers."""
    regional, fallback = make_group("ASWA"), make_group("Secretariat")
    await regional.bind("aswa")
    await fallback.bind("global")
    clock = Clock()
    delivery = worker(app, bot, clock=clock)
    code = await submit(chat, "Claim me.")
    await delivery.drain()
    card = regional.card(code)
    await regional.tap(card["message_id"], regional.button(card, "Claim"))
    assert "Claimed by Dana" in regional.card(code)["text"]
    clock.advance(hours=100)
    assert await delivery.check_timers() == 0


async def test_withdraw_takes_the_text_off_the_card(
    chat: Chat, make_group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:  # type: ignore[no-untyped-def]
    """Withdraw: the group is told, the card loses the text; later staff replies bounce."""
    group = make_group("ASWA")
    await group.bind("aswa")
    delivery = worker(app, bot)
    code = await submit(chat, "Private words.")
    await delivery.drain()
    await chat.say("/requests")
    await chat.tap(code)
    await chat.tap("Withdraw")
    replies = await chat.tap("Yes, withdraw it")
    assert any("withdrawn" in r for r in replies)
    await delivery.drain()
    card = group.card(code)
    assert "Private words." not in card["text"] and "Withdrawn by the member" in card["text"]
    assert not telegram.buttons(group.chat_id, card["message_id"])
    assert any("withdrawn by the member" in t for t in texts_to(telegram, group.chat_id))
    await group.say("Hello?", reply_to=card["message_id"])
    assert any("closed or withdrawn" in t for t in texts_to(telegram, group.chat_id))
    (listing,) = await chat.say("/requests")
    assert "withdrawn" in listing


async def test_withdrawn_before_delivery_is_never_posted(
    chat: Chat, make_group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:  # type: ignore[no-untyped-def]
    """A request withdrawn while it waits for a group never reaches any group."""
    code = await submit(chat, "Changed my mind.")
    await chat.say("/requests")
    await chat.tap(code)
    await chat.tap("Withdraw")
    await chat.tap("Yes, withdraw it")
    group = make_group("ASWA")
    await group.bind("aswa")
    await worker(app, bot).drain()
    assert not group.cards()


async def test_delete_erases_texts(chat: Chat, make_group, app: App, bot: Bot) -> None:  # type: ignore[no-untyped-def]
    """Delete: the referral's and the relays' ciphertexts are gone; it leaves the list."""
    group = make_group("ASWA")
    await group.bind("aswa")
    delivery = worker(app, bot)
    code = await submit(chat, "Delete me.")
    await delivery.drain()
    await group.say("Answer.", reply_to=group.card(code)["message_id"])
    await delivery.drain()
    await chat.say("/requests")
    await chat.tap(code)
    await chat.tap("Delete")
    await chat.tap("Yes, delete it")
    await delivery.drain()
    async with app.sessions() as session:
        referral = await session.scalar(select(Referral))
        relays = (await session.scalars(select(Relay))).all()
    assert referral is not None and referral.body is None and referral.state == "deleted"
    assert relays and all(r.body is None for r in relays)
    assert "Delete me." not in group.card(code)["text"]
    (listing,) = await chat.say("/requests")
    assert code not in listing


async def test_forget_member_shreds_texts_and_tells_the_group(
    chat: Chat, make_group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:  # type: ignore[no-untyped-def]
    """`Referrals.forget_member` (used by /forget): texts unreadable even with the master key
    and the old wrapped key's row gone; the group hears "withdrawn by the member"."""
    group = make_group("ASWA")
    await group.bind("aswa")
    delivery = worker(app, bot)
    code = await submit(chat, "Forget all of this.")
    await delivery.drain()
    async with app.sessions() as session:
        referral = await session.scalar(select(Referral))
        assert referral is not None
        old_body = referral.body
        member = await session.scalar(select(Member))
        assert member is not None and old_body is not None
    async with app.sessions.begin() as session:
        assert await Referrals(session, app).forget_member(member.id) == 1
        await MemberRepo(session).delete(await session.get(Member, member.id))  # type: ignore[arg-type]
    await delivery.drain()
    async with app.sessions() as session:
        assert await session.scalar(select(MemberKey)) is None
        tombstone = await session.scalar(select(Referral))
    assert tombstone is not None and tombstone.member_id is None and tombstone.body is None
    with pytest.raises(InvalidTag):
        app.sealer.open(old_body, body_aad(code))
    assert "Forget all of this." not in group.card(code)["text"]
    assert any("withdrawn by the member" in t for t in texts_to(telegram, group.chat_id))


async def test_repeated_staff_update_is_relayed_once(
    chat: Chat, make_group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:  # type: ignore[no-untyped-def]
    """The same update three times (Telegram retrying): one relay to the member (R3, R11)."""
    group = make_group("ASWA")
    await group.bind("aswa")
    delivery = worker(app, bot)
    code = await submit(chat, "Once.")
    await delivery.drain()
    raw = telegram.user_message(
        group.person,
        "Only once please.",
        chat_id=group.chat_id,
        reply_to=group.card(code)["message_id"],
    )
    for _ in range(3):
        await group.feed(raw)
        await delivery.drain()
    assert len([t for t in texts_to(telegram, chat.chat_id) if "Only once please." in t]) == 1


async def test_sqlite_file_holds_no_referral_text(
    new_chat, make_group, app: App, bot: Bot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Referral texts, relays and a shared username never reach the database file or its WAL
    in the clear (R25)."""
    group = make_group("ASWA")
    await group.bind("aswa")
    delivery = worker(app, bot)
    member = new_chat("en", username="visible_on_request")
    secrets_ = ["Zanzibar-lighthouse-1234", "Okapi-staff-reply-5678", "Quokka-member-9012"]
    code = await submit(member, f"My words: {secrets_[0]}", share_username=True)
    await delivery.drain()
    await group.say(f"Answer {secrets_[1]}", reply_to=group.card(code)["message_id"])
    await delivery.drain()
    await member.tap("Reply")
    await member.say(f"Back {secrets_[2]}")
    await delivery.drain()
    files = [tmp_path / "test.sqlite3", tmp_path / "test.sqlite3-wal"]
    blob = b"".join(await asyncio.gather(*(asyncio.to_thread(p.read_bytes) for p in files)))
    for secret in [*secrets_, "visible_on_request"]:
        assert secret.encode() not in blob, secret
        assert secret.encode("utf-16-le") not in blob, secret


async def test_graceful_stop_returns_leases(
    make_group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:  # type: ignore[no-untyped-def]
    """A stop while a card is on its way hands its lease back (R12).

    The card's group is bound and Telegram stalls on it, so the row is leased when the stop
    comes; the worker is cancelled after its grace period and must not keep the lease.
    """
    group = make_group("ASWA")
    await group.bind("aswa")
    stalled = asyncio.Event()

    async def stall(method: str, params: dict[str, Any]) -> None:
        if method == "sendMessage" and str(params.get("chat_id")) == str(group.chat_id):
            stalled.set()
            await asyncio.Event().wait()  # never answers

    telegram.faults.append(stall)
    async with app.sessions.begin() as session:
        member, _ = await MemberRepo(session).get_or_create(4242)
        await Referrals(session, app).submit(
            member,
            need="hiv",
            country="KE",
            language="en",
            text="x",
            username=None,
            update_id=None,
        )
    stop = asyncio.Event()
    task = asyncio.create_task(worker(app, bot).run(stop))
    await asyncio.wait_for(stalled.wait(), timeout=10)
    assert any(r.lease_until is not None for r in await outbox_rows(app))
    stop.set()
    await stop_worker(task, grace=0.2)
    assert task.done()
    assert all(r.lease_until is None and r.lease_owner is None for r in await outbox_rows(app))


async def test_two_workers_never_send_a_row_twice(
    make_group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:  # type: ignore[no-untyped-def]
    """Two workers on one database take disjoint rows: every card is posted once (R5)."""
    group = make_group("ASWA")
    await group.bind("aswa")
    codes = []
    async with app.sessions.begin() as session:
        service = Referrals(session, app)
        members = MemberRepo(session)
        for i in range(60):
            member, _ = await members.get_or_create(600_000 + i)
            referral = await service.submit(
                member,
                need="hiv",
                country="KE",
                language="en",
                text=f"n{i}",
                username=None,
                update_id=None,
            )
            codes.append(referral.code)
    # 60 cards in one group: unpaced, and the fake's 20-a-minute limit off, for this test is
    # about disjoint leases (pacing is test_desk_pacing.py's).
    telegram.group_limit = None
    config = DeliveryConfig(batch=7, group_rate=None)
    first, second = worker(app, bot, config=config), worker(app, bot, config=config)
    await asyncio.gather(first.drain(), second.drain(), first.drain())
    posted = [m["text"] for m in group.cards()]
    for code in codes:
        assert sum(code in text for text in posted) == 1, code


async def test_m3_one_unreadable_key_does_not_stop_the_others(
    new_chat, make_group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:  # type: ignore[no-untyped-def]
    """A's wrapped key is corrupt: A's card is marked dead and admins are told (no content);
    B's card is delivered all the same, and later cycles run clean."""
    group = make_group()
    await group.bind("aswa")
    delivery = worker(app, bot)
    a, b = new_chat("en"), new_chat("en")
    code_a = await submit(a, "A's words, never to be shown.")
    code_b = await submit(b, "B's request.")
    member_a = (await referral_of(app, code_a)).member_id
    assert app.keystore is not None and member_a is not None
    wrapped = await app.keystore.get(member_a)
    assert wrapped is not None
    async with app.keystore.engine.begin() as conn:
        await conn.exec_driver_sql(
            "UPDATE member_keys SET wrapped_key = ? WHERE member_id = ?",
            (bytes([wrapped[0] ^ 1]) + wrapped[1:], member_a),
        )
    await delivery.drain()
    await delivery.drain()
    assert any(code_b in card["text"] for card in group.cards())
    assert not any(code_a in card["text"] for card in group.cards())
    assert (await referral_of(app, code_b)).state == "delivered"
    rows = {r.key: r for r in await outbox_rows(app)}
    card_a = rows[f"card:{(await referral_of(app, code_a)).id}"]
    assert card_a.state == "dead" and card_a.last_error == "cannot be decrypted"
    alerts = texts_to(telegram, ADMIN_ID)
    assert len(alerts) == 1 and code_a in alerts[0]
    assert "A's words" not in alerts[0]
