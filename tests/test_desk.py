"""The network desk (issue 15): saved answers and /use, transfers between networks, /stats and
the report, through the production dispatcher and the delivery worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy import func, select

from bot.app import App
from bot.desk.answers import check as check_answers
from bot.desk.answers import shared_answers
from bot.desk.service import figures
from bot.desk.texts import stats_csv
from bot.devtools.localapi import FakeTelegram
from bot.telegram.intake import Intake
from storage.models import (
    Direction,
    OutboxMessage,
    Referral,
    ReferralState,
    Relay,
    SavedAnswer,
    Transfer,
)
from storage.repositories import MemberRepo, ReferralRepo
from tests.fakes import Chat
from tests.referral_kit import Group, submit, texts_to, worker

ASWA = "African Sex Workers Alliance (ASWA)"
SECRETARIAT = "Global Network of Sex Work Projects (NSWP) secretariat"
# Staff type many commands here; the group flood guard has its own tests (test_throttle.py).
pytestmark = pytest.mark.settings(flood_limit=0)


@pytest.fixture
def group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake) -> Group:
    return Group(telegram, bot, dp, intake, title="ASWA staff")


@pytest.fixture
def fallback(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake) -> Group:
    return Group(telegram, bot, dp, intake, title="Secretariat")


def last_text(group: Group) -> str:
    return str(group.bot_messages()[-1]["text"])


def alerts(telegram: FakeTelegram) -> list[str]:
    return [str(c.params.get("text")) for c in telegram.sent("answerCallbackQuery")]


async def card_for(chat: Chat, group: Group, app: App, bot: Bot, text: str) -> tuple[str, Any]:
    await group.bind("aswa")
    code = await submit(chat, text)
    await worker(app, bot).drain()
    return code, group.card(code)


# -- saved answers -----------------------------------------------------------------------------


async def test_desk_saved_add_edit_list_delete(group: Group, app: App) -> None:
    """Admins add, edit and delete a network's answers per language; anyone lists them; other
    staff cannot change them."""
    await group.bind("aswa")
    await group.say("/saved add clinic en\nThe clinic on Main Street is open.", user=group.admin)
    assert "Saved “clinic” in English" in last_text(group)
    await group.say("/saved add clinic fr\nLa clinique est ouverte.", user=group.admin)
    await group.say("/saved add clinic en\nAgain.", user=group.admin)
    assert "already exists" in last_text(group)
    await group.say("/saved edit clinic en\nThe clinic on Main Street opens at 9.")
    assert "Only the bot's admins" in last_text(group)
    await group.say(
        "/saved edit clinic en\nThe clinic on Main Street opens at 9.", user=group.admin
    )
    await group.say("/saved")
    listing = last_text(group)
    assert "clinic (en, fr)" in listing
    assert "pep" in listing  # the secretariat's shared answers
    async with app.sessions() as session:
        texts = {
            a.language: a.text
            for a in await session.scalars(select(SavedAnswer).where(SavedAnswer.name == "clinic"))
        }
    assert texts == {
        "en": "The clinic on Main Street opens at 9.",
        "fr": "La clinique est ouverte.",
    }
    await group.say("/saved delete clinic fr", user=group.admin)
    await group.say("/saved")
    assert "clinic (en)" in last_text(group)
    await group.say("/saved delete clinic", user=group.admin)
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(SavedAnswer)) == 0


async def test_desk_saved_needs_a_bound_group(group: Group) -> None:
    """/saved in a group that serves no network says how to bind it."""
    await group.say("/saved add clinic en\nText", user=group.admin)
    assert "/bind" in last_text(group)


async def test_desk_use_sends_the_members_language(
    chat: Chat, group: Group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """`/use` as a reply to a card: the member gets their language's version as a staff reply,
    the first lines neutral; the command itself is never relayed."""
    code, card = await card_for(chat, group, app, bot, "Where is a clinic?")
    await group.say("/saved add clinic en\nThe clinic on Main Street.", user=group.admin)
    await group.say("/saved add clinic fr\nLa clinique de la rue principale.", user=group.admin)
    await group.say("/use clinic", reply_to=card["message_id"])
    assert f"{code}: “clinic” is on its way to the member, in English." in last_text(group)
    await worker(app, bot).drain()
    (relayed,) = [t for t in chat.new_texts() if "Main Street" in t]
    lines = relayed.splitlines()
    assert lines[0] == f"💬 New message · {code}" and lines[1] == ""
    assert f"Reply from {ASWA}:" in relayed
    assert "La clinique" not in relayed and "/use" not in relayed
    async with app.sessions() as session:
        referral = await ReferralRepo(session).by_code(code)  # opened with the member's key
        assert referral is not None and referral.state == ReferralState.ANSWERED


async def test_desk_use_falls_back_with_a_notice(
    chat: Chat, group: Group, app: App, bot: Bot
) -> None:
    """No version in the member's language: the network's default, with a one-line notice in
    the member's language."""
    _code, card = await card_for(chat, group, app, bot, "Where is a clinic?")
    await group.say("/saved add clinic fr\nLa clinique de la rue principale.", user=group.admin)
    await group.say("/use clinic", reply_to=card["message_id"])
    assert "in Français" in last_text(group)
    await worker(app, bot).drain()
    (relayed,) = [t for t in chat.new_texts() if "La clinique" in t]
    assert "This answer is not written in English yet; here it is in Français." in relayed


async def test_desk_use_shared_answer(chat: Chat, group: Group, app: App, bot: Bot) -> None:
    """The secretariat's shared answers (guides/answers/) work in every group."""
    _code, card = await card_for(chat, group, app, bot, "I had sex without a condom.")
    await group.say("/use pep", reply_to=card["message_id"])
    await worker(app, bot).drain()
    pep = shared_answers(app.settings.guides_dir)["pep"].texts["en"]
    first_line = pep.splitlines()[0]
    assert any(first_line in t for t in chat.new_texts())


async def test_desk_use_unknown_name(chat: Chat, group: Group, app: App, bot: Bot) -> None:
    """`/use` with an unknown name: a clear message naming the saved answers, nothing relayed."""
    code, card = await card_for(chat, group, app, bot, "Hello?")
    chat.new_texts()
    await group.say("/use nosuch", reply_to=card["message_id"])
    text = last_text(group)
    assert "no saved answer called “nosuch”" in text and "Nothing was sent" in text
    assert "pep" in text
    await worker(app, bot).drain()
    assert chat.new_texts() == []
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Relay)) == 0
        referral = await ReferralRepo(session).by_code(code)  # opened with the member's key
        assert referral is not None and referral.state == ReferralState.DELIVERED


async def test_desk_use_without_a_card(group: Group) -> None:
    """`/use` that replies to nothing says how to use it."""
    await group.bind("aswa")
    await group.say("/use pep")
    assert "Reply to a request's card" in last_text(group)


# -- transfers ---------------------------------------------------------------------------------


async def open_picker(group: Group, card: dict[str, Any]) -> dict[str, Any]:
    await group.tap(card["message_id"], group.button(card, "Transfer"))
    picker = group.bot_messages()[-1]
    assert "to which network" in picker["text"]
    return picker


async def test_desk_transfer_aswa_to_global(
    chat: Chat,
    group: Group,
    fallback: Group,
    app: App,
    bot: Bot,
    telegram: FakeTelegram,
) -> None:
    """ASWA passes a request to the secretariat with a note: the member is told (neutral first
    lines), the new card carries the history in counts and the note, the old card says
    "transferred", and the secretariat's replies reach the member."""
    await fallback.bind("global")
    code, card = await card_for(chat, group, app, bot, "I need a visa lawyer in Europe.")
    delivery = worker(app, bot)
    await group.say("Which country are you in now?", reply_to=card["message_id"])
    await delivery.drain()
    await chat.tap("Reply")
    await chat.say("Still in Nairobi, moving to Spain.")
    await delivery.drain()
    chat.new_texts()

    picker = await open_picker(group, card)
    await group.tap(picker["message_id"], group.button(picker, "Global Network"))
    prompt = group.telegram.messages[(group.chat_id, picker["message_id"])]
    assert "reply to this message with a note" in prompt["text"]
    await group.say("Needs help with a visa in Spain.", reply_to=picker["message_id"])
    assert f"{code} was transferred to {SECRETARIAT}" in last_text(group)
    await delivery.drain()

    told = [t for t in chat.new_texts() if "is now with" in t]
    assert len(told) == 1
    assert told[0].splitlines()[:2] == [f"💬 New message · {code}", ""]
    assert SECRETARIAT in told[0]

    new_card = fallback.card(code)
    text = new_card["text"]
    assert f"Transferred here from {ASWA}." in text
    assert "Their note: Needs help with a visa in Spain." in text
    assert "Before: 1 message(s) from the member, 1 reply(ies) from staff." in text
    assert "I need a visa lawyer in Europe." in text  # the request the member sent
    assert "Still in Nairobi" not in text and "Which country" not in text
    assert fallback.button(new_card, "Claim")

    old = telegram.messages[(group.chat_id, card["message_id"])]
    assert f"Transferred to {SECRETARIAT}." in old["text"]
    assert "I need a visa lawyer" not in old["text"]
    assert telegram.buttons(group.chat_id, card["message_id"]) == []

    # The history stays with the request, and the claim keeps it on the new card.
    await fallback.tap(new_card["message_id"], fallback.button(new_card, "Claim"))
    assert "Their note:" in telegram.messages[(fallback.chat_id, new_card["message_id"])]["text"]
    async with app.sessions() as session:
        referral = await ReferralRepo(session).by_code(code)  # opened with the member's key
        assert referral is not None and referral.network_id == "global"
        (transfer,) = (await session.scalars(select(Transfer))).all()
        assert (transfer.from_network, transfer.to_network) == ("aswa", "global")
        assert transfer.done_at is not None and transfer.note is not None
        assert b"visa" not in transfer.note  # sealed with the member's key

    await fallback.say("We can help with Spain.", reply_to=new_card["message_id"])
    await delivery.drain()
    assert any(f"Reply from {SECRETARIAT}" in t for t in chat.new_texts())
    await group.say("Still ours?", reply_to=card["message_id"])
    assert "no longer handles" in last_text(group)
    await delivery.drain()
    assert not any("Still ours?" in t for t in chat.new_texts())


async def test_desk_transfer_to_network_without_group(
    chat: Chat, group: Group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """A network with no bound group: a clear message, and nothing changes."""
    code, card = await card_for(chat, group, app, bot, "Please help.")
    to_member = len(texts_to(telegram, chat.chat_id))
    async with app.sessions() as session:
        before = await session.scalar(select(func.count()).select_from(OutboxMessage))
    picker = await open_picker(group, card)
    await group.tap(picker["message_id"], group.button(picker, "APNSW"))
    assert any(
        "has no staff group yet" in a and "Nothing has changed" in a for a in alerts(telegram)
    )
    await worker(app, bot).drain()
    assert len(texts_to(telegram, chat.chat_id)) == to_member
    async with app.sessions() as session:
        referral = await ReferralRepo(session).by_code(code)  # opened with the member's key
        assert referral is not None
        assert (referral.network_id, referral.state) == ("aswa", ReferralState.DELIVERED)
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == before
        assert await session.scalar(select(func.count()).select_from(Transfer)) == 0
    assert group.button(card, "Claim")


async def test_desk_transfer_cancel_and_without_note(
    chat: Chat, group: Group, fallback: Group, app: App, bot: Bot
) -> None:
    """Cancel leaves the request where it is; "without a note" moves it with counts only."""
    await fallback.bind("global")
    code, card = await card_for(chat, group, app, bot, "Help, please.")
    picker = await open_picker(group, card)
    await group.tap(picker["message_id"], group.button(picker, "Cancel"))
    assert "stays here" in group.telegram.messages[(group.chat_id, picker["message_id"])]["text"]
    picker = await open_picker(group, card)
    await group.tap(picker["message_id"], group.button(picker, "Global Network"))
    prompt = group.telegram.messages[(group.chat_id, picker["message_id"])]
    await group.tap(picker["message_id"], group.button(prompt, "without a note"))
    await worker(app, bot).drain()
    text = fallback.card(code)["text"]
    assert "Their note" not in text and "Before: 0 message(s)" in text


async def test_desk_transfer_note_goes_when_the_member_deletes(
    chat: Chat, group: Group, fallback: Group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """The staff's note speaks of the member: deleting the request erases it, and the new card
    shows neither the note nor the text."""
    await fallback.bind("global")
    code, card = await card_for(chat, group, app, bot, "Please pass me on.")
    picker = await open_picker(group, card)
    await group.tap(picker["message_id"], group.button(picker, "Global Network"))
    await group.say("Member in Spain, needs a lawyer.", reply_to=picker["message_id"])
    delivery = worker(app, bot)
    await delivery.drain()
    new_card = fallback.card(code)
    await chat.say("/requests")
    await chat.tap(code)
    await chat.tap("Delete")
    await chat.tap("Yes, delete it")
    await delivery.drain()
    text = telegram.messages[(fallback.chat_id, new_card["message_id"])]["text"]
    assert "Deleted by the member" in text
    assert "lawyer" not in text and "pass me on" not in text
    async with app.sessions() as session:
        (transfer,) = (await session.scalars(select(Transfer))).all()
        assert transfer.note is None


# -- figures -----------------------------------------------------------------------------------

JAN = dt.datetime(2026, 1, 5, 9, 0)  # a Monday: ISO week 2026-W02


async def seed(app: App) -> None:
    """A known set of requests: 13 for ASWA in two ISO weeks of January, 2 for SWAN, and one of
    ASWA's outside the period."""
    rows: list[tuple[str, str, str, int, ReferralState, float | None, float | None, bool]] = [
        # network, need, country, day offset, state, hours to claim, hours to reply, escalated
        *[
            ("aswa", "legal-help", "KE", 0, ReferralState.CLOSED, h, None, False)
            for h in (1, 2, 3)
        ],
        ("aswa", "legal-help", "KE", 1, ReferralState.CLOSED, None, 4, False),
        ("aswa", "legal-help", "KE", 1, ReferralState.ANSWERED, 10, 5, False),
        ("aswa", "legal-help", "UG", 2, ReferralState.CLAIMED, 20, None, True),
        ("aswa", "hiv", "KE", 7, ReferralState.DELIVERED, None, None, True),
        ("aswa", "hiv", "KE", 7, ReferralState.DELIVERED, None, None, False),
        ("aswa", "hiv", "UG", 8, ReferralState.WITHDRAWN, None, None, False),
        ("aswa", "hiv", "KE", 8, ReferralState.CLOSED, 30, 40, False),
        ("aswa", "hiv", "KE", 9, ReferralState.CLOSED, 50, None, False),
        ("aswa", "legal-help", "KE", 9, ReferralState.DELETED, None, None, False),
        ("aswa", "legal-help", "KE", 10, ReferralState.CLOSED, 6, None, False),
        ("swan", "hiv", "RU", 0, ReferralState.CLOSED, 1, None, False),
        ("swan", "hiv", "RU", 0, ReferralState.CLOSED, 1, None, False),
        ("aswa", "hiv", "KE", 60, ReferralState.CLOSED, 1, None, False),
    ]
    async with app.sessions.begin() as session:
        # One member asked them all: their facts are sealed with that member's key (H1).
        member, _ = await MemberRepo(session).get_or_create(990_001)
        for i, (network, need, country, day, state, claim, reply, escalated) in enumerate(rows):
            created = JAN + dt.timedelta(days=day)
            referral = Referral(
                code=f"R-S{i:04d}",
                member_id=member.id,
                language="en",
                state=state,
                created_at=created,
                claimed_at=created + dt.timedelta(hours=claim) if claim is not None else None,
                escalated_at=created + dt.timedelta(hours=72) if escalated else None,
            )
            referral.need, referral.country, referral.network_id = need, country, network
            await ReferralRepo(session).add(referral)
            if reply is not None:
                session.add(
                    Relay(
                        referral_id=referral.id,
                        direction=Direction.TO_MEMBER,
                        source_update_id=10_000 + i,
                        created_at=created + dt.timedelta(hours=reply),
                    )
                )


async def test_desk_stats_exact_and_suppressed(group: Group, app: App) -> None:
    """/stats for ASWA over January: every number exactly as seeded, counts 1-4 as "<5", and
    no member code or text."""
    await seed(app)
    await group.bind("aswa")
    await group.say("/stats 2026-01-01 2026-01-31")
    text = last_text(group)
    lines = text.splitlines()
    assert "Requests made from Jan 1, 2026 to Jan 31, 2026: 13" in lines
    # Needs: legal help 8 (the deleted one too), HIV 5; countries: KE 11, UG 2; weeks 6 and 7.
    assert "• Legal help and know your rights: 8" in lines
    assert "• HIV testing, prevention and treatment: 5" in lines
    assert "• Kenya: 11" in lines and "• Uganda: <5" in lines
    assert "• 2026-W02: 6" in lines and "• 2026-W03: 7" in lines
    # First answers (hours): 1 2 3 4 5 20 30 50 6 -> sorted 1 2 3 4 5 6 20 30 50.
    assert "Median 5 h; 9 in 10 within 50 h (9 answered requests)." in lines
    assert "Open: <5 (overdue: <5)" in lines  # answered, claimed, 2 delivered; 2 overdue
    assert "Escalated: <5" in lines and "Withdrawn by the member: <5" in lines
    assert "Closed: 7" in lines
    assert "R-S" not in text
    shown = [v.rstrip(".,") for line in lines for v in re.findall(r": (\S+)", line)]
    assert shown and not set(shown) & {"1", "2", "3", "4"}, shown


async def test_desk_stats_small_sets_hide_times(group: Group, app: App) -> None:
    """SWAN's two requests: every count "<5", no median from fewer than 5."""
    await seed(app)
    await group.bind("swan")
    await group.say("/stats 2026-01-01 2026-01-31")
    text = last_text(group)
    assert "Requests made from Jan 1, 2026 to Jan 31, 2026: <5" in text
    assert "Not shown: fewer than 5 answered requests." in text
    assert "Median" not in text


async def test_desk_stats_numbers_in_the_groups_language(group: Group, app: App) -> None:
    """Figures through Babel in the group's language."""
    await seed(app)
    await group.say("/bind aswa fr", user=group.admin)
    await group.say("/stats 2026-01-01 2026-01-31")
    text = last_text(group)
    assert "13" in text and "5 h" in text and "janv. 2026" in text


async def test_desk_stats_bad_period(group: Group) -> None:
    """A period that is not two dates in order says how to give one."""
    await group.bind("aswa")
    await group.say("/stats 2026-06-30 2026-01-01")
    assert "/stats 2026-01-01 2026-06-30" in last_text(group)


async def test_desk_report_csv_exact(app: App) -> None:
    """The report's CSV: the same figures by id, small counts suppressed."""
    await seed(app)
    async with app.sessions() as session:
        result = await figures(
            session,
            "aswa",
            dt.date(2026, 1, 1),
            dt.date(2026, 1, 31),
            overdue_after=dt.timedelta(hours=24),
        )
    rows = [line.split(",") for line in stats_csv(result).splitlines()]
    assert ["requests", "total", "13"] in rows
    assert ["need", "legal-help", "8"] in rows and ["need", "hiv", "5"] in rows
    assert ["country", "KE", "11"] in rows and ["country", "UG", "<5"] in rows
    assert ["first_answer", "median_hours", "5.0"] in rows
    assert ["first_answer", "p90_hours", "50.0"] in rows
    assert ["state", "open", "<5"] in rows and ["state", "closed", "7"] in rows
    assert (result.open, result.overdue, result.escalated, result.withdrawn) == (4, 2, 2, 2)
    for _section, _key, value in rows[1:]:
        assert value not in ("1", "2", "3", "4")


def test_shared_answers_are_valid(tmp_path: Path) -> None:
    """The secretariat's shared answers pass the check, with sources; a broken one does not."""
    from bot.config import PROJECT_ROOT

    assert check_answers(PROJECT_ROOT / "guides") == []
    names = set(shared_answers(PROJECT_ROOT / "guides"))
    assert {"pep", "rights-at-arrest", "digital-first-aid"} <= names
    (tmp_path / "answers").mkdir()
    (tmp_path / "answers" / "bad.yaml").write_text("text:\n  fr: Bonjour\n", encoding="utf-8")
    messages = [p.message for p in check_answers(tmp_path)]
    assert any("source" in m for m in messages) and any("English" in m for m in messages)


async def test_desk_report_command_line(
    app: App, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m bot report --network aswa --from … --to … [--csv]` reads the same figures."""
    from bot.__main__ import main

    await seed(app)
    monkeypatch.setenv("DATABASE_URL", app.settings.database_url)
    assert app.settings.master_key is not None
    monkeypatch.setenv("MASTER_KEY", app.settings.master_key.get_secret_value())
    monkeypatch.setenv("ADMIN_IDS", "")
    argv = ["report", "--network", "aswa", "--from", "2026-01-01", "--to", "2026-01-31"]
    assert await asyncio.to_thread(main, [*argv, "--csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert "requests,total,13" in rows and "country,UG,<5" in rows
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out
    assert "Requests made from Jan 1, 2026 to Jan 31, 2026: 13" in out and "<b>" not in out
    assert await asyncio.to_thread(main, ["report", "--network", "nope", *argv[3:]]) == 1
