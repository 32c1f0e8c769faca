"""Bad-date reports (issue 16, items 1 and 2), end to end: the member's form, the card in the
network's group, Approve / Edit / Reject, deletion, /forget and retention."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy import select

from bot.app import App
from bot.baddates.callbacks import MineOp, MyReport
from bot.baddates.service import ALERT_TEXT_LIMIT, AREA_LIMIT, DESCRIPTION_LIMIT
from bot.devtools.localapi import FakeTelegram
from bot.dispatcher import build_i18n
from bot.safety.retention import purge
from bot.telegram.html import TEXT_LIMIT, parse_html, utf16_len
from bot.telegram.intake import Intake
from storage.models import BadDateReport, BadDateState, utcnow
from tests.fakes import Chat
from tests.referral_kit import Group, worker

MY_REPORTS = MyReport(op=MineOp.LIST).pack()
REPORT_RE = re.compile(r"B-[0-9A-Z]{5}")
DESCRIPTION = "Tall man, grey Toyota, calls from +254 700 000 000, says his name is Tom."


@pytest.fixture
def group(telegram: FakeTelegram, bot: Bot, dp: Dispatcher, intake: Intake) -> Group:
    return Group(telegram, bot, dp, intake, title="ASWA staff")


async def open_form(chat: Chat) -> list[str]:
    await chat.say("/menu")
    return await chat.tap("Report a bad date")


async def fill(
    chat: Chat,
    country: str = "Kenya",
    area: str = "Westlands, Nairobi",
    harms: tuple[str, ...] = ("Violence", "Robbery"),
    description: str = DESCRIPTION,
    support: bool = False,
) -> list[str]:
    """Go through the form up to the preview; returns what the member saw last."""
    await open_form(chat)
    replies = await chat.say(country)
    assert any("In which town" in r for r in replies), replies
    replies = await chat.say(area)
    assert any("When did it happen" in r for r in replies), replies
    await chat.tap("Yesterday")
    for harm in harms:
        await chat.tap(harm)
    replies = await chat.tap("Continue")
    assert any("Describe the person" in r for r in replies), replies
    await chat.say(description)
    return await chat.tap("Yes, please" if support else "No, thank you")


async def report(chat: Chat, **kwargs: object) -> str:
    """Fill the form and send it; returns the report number."""
    replies = await fill(chat, **kwargs)  # type: ignore[arg-type]
    assert any("Check your report" in r for r in replies), replies
    replies = await chat.tap("Send the report")
    found = REPORT_RE.search(" ".join(replies))
    assert found, replies
    return found.group(0)


def report_card(group: Group, code: str) -> dict[str, object]:
    cards = [m for m in group.bot_messages() if m.get("text", "").startswith(f"📝 Report {code}")]
    assert len(cards) == 1, [m.get("text") for m in group.bot_messages()]
    return cards[0]


async def stored(app: App, code: str) -> BadDateReport:
    async with app.sessions() as session:
        found = await session.scalar(select(BadDateReport).where(BadDateReport.code == code))
    assert found is not None
    return found


async def test_report_reaches_the_group_as_a_card_with_approve_edit_reject(
    chat: Chat, group: Group, app: App, bot: Bot
) -> None:
    """Menu → form → exact preview → send: the card in the network's group shows the report,
    a member code, the alert draft, and Approve, Edit and Reject."""
    await group.bind("aswa")
    replies = await fill(chat)
    preview = replies[-1]
    assert "It goes to: African Sex Workers Alliance" in preview
    assert "Westlands, Nairobi" in preview and DESCRIPTION in preview
    replies = await chat.tap("Send the report")
    code = REPORT_RE.search(" ".join(replies))
    assert code, replies
    await worker(app, bot).drain()
    card = report_card(group, code.group(0))
    text = str(card["text"])
    assert "Kenya" in text and "Westlands, Nairobi" in text
    assert "Violence, Robbery" in text and DESCRIPTION in text
    assert re.search(r"From: Member [0-9A-Z]{6}", text)
    labels = [b["text"] for b in group.telegram.buttons(group.chat_id, int(card["message_id"]))]
    assert labels == ["✅ Approve", "✏️ Edit", "✖️ Reject"]
    # The preview showed exactly the report lines the card shows.
    for line in preview.split("\n")[4:-2]:
        assert line in text, line
    row = await stored(app, code.group(0))
    assert row.state == BadDateState.DELIVERED
    assert b"Westlands" not in (row.body or b"") and b"Toyota" not in (row.body or b"")


class Published:
    """Stands in for the alert engine: records what Approve hands it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, session: object, report: BadDateReport, text: str) -> int:
        self.calls.append((report.code, text))
        return len(self.calls)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Published:
    recorder = Published()
    monkeypatch.setattr("bot.baddates.service.publish", recorder)
    return recorder


async def card_in(group: Group, app: App, bot: Bot, chat: Chat, **kwargs: object) -> str:
    code = await report(chat, **kwargs)
    await worker(app, bot).drain()
    return code


def card_button(group: Group, code: str, label: str) -> tuple[int, str]:
    card = report_card(group, code)
    return int(card["message_id"]), group.button(card, label)


# -- bad inputs -----------------------------------------------------------------------------------


async def test_report_with_only_emoji_is_refused(chat: Chat) -> None:
    """An area or a description of emoji alone is asked for again in words; nothing moves on."""
    await open_form(chat)
    await chat.say("Kenya")
    replies = await chat.say("🔥🔥🔥")
    assert any("Please write it in words" in r for r in replies), replies
    assert not any("When did it happen" in r for r in replies)
    replies = await chat.say("Westlands")
    assert any("When did it happen" in r for r in replies), replies
    await chat.tap("Today")
    await chat.tap("Threats or blackmail")
    await chat.tap("Continue")
    replies = await chat.say("😡 👊 🚗 ‼️")
    assert any("Please write it in words" in r for r in replies), replies
    assert not any("support" in r for r in replies)
    replies = await chat.say("Short man with a beard.")
    assert any("support" in r for r in replies), replies


async def test_5000_character_description_is_refused_and_given_back(chat: Chat) -> None:
    """5,000 characters: the count and the limit, the text echoed in parts Telegram accepts,
    and a shorter text still reaches the preview."""
    await open_form(chat)
    await chat.say("Kenya")
    await chat.say("Westlands")
    await chat.tap("Earlier")
    await chat.tap("Did not pay")
    await chat.tap("Continue")
    long_text = ("He said he was a driver. " * 200)[:4999] + "."
    replies = await chat.say(long_text)
    assert any("5,000 characters" in r and f"{DESCRIPTION_LIMIT:,}" in r for r in replies)
    echoed = replies[1:]
    assert "".join(echoed) == long_text
    assert all(utf16_len(part) < TEXT_LIMIT - 200 for part in echoed)
    replies = await chat.say("He said he was a driver.")
    assert any("support" in r for r in replies), replies


async def test_description_limit_counts_utf16_units(chat: Chat) -> None:
    """700 car emoji with words are 1,400 UTF-16 units (Telegram's count), over the limit,
    though only 700 code points long."""
    await open_form(chat)
    await chat.say("Kenya")
    await chat.say("Westlands")
    await chat.tap("Today")
    await chat.tap("Other")
    await chat.tap("Continue")
    text = "car " + "🚗" * 700
    assert len(text) < DESCRIPTION_LIMIT < utf16_len(text)
    replies = await chat.say(text)
    assert any(f"{utf16_len(text):,} characters" in r for r in replies), replies


async def test_area_over_its_limit_is_refused(chat: Chat) -> None:
    """The area is a place, not a story: over its limit it is given back to shorten."""
    await open_form(chat)
    await chat.say("Kenya")
    replies = await chat.say("x" * (AREA_LIMIT + 1))
    assert any(f"{AREA_LIMIT + 1:,} characters" in r for r in replies), replies


async def test_what_happened_needs_at_least_one_choice(chat: Chat) -> None:
    """ "Next" with nothing ticked says so and stays; ticking twice unticks."""
    await open_form(chat)
    await chat.say("Kenya")
    await chat.say("Westlands")
    await chat.tap("This week")
    await chat.tap("Robbery")
    await chat.tap("Robbery")
    replies = await chat.tap("Continue")
    assert replies == ["Choose at least one."]
    assert "▫️ Robbery" in chat.buttons()


async def test_country_without_network_goes_to_the_global_secretariat(
    chat: Chat,
    group: Group,
    app: App,
    bot: Bot,
    telegram: FakeTelegram,
    dp: Dispatcher,
    intake: Intake,
) -> None:
    """Egypt has no regional network: the report goes to the global secretariat's group, not
    to the regional network's group of the same region."""
    secretariat = Group(telegram, bot, dp, intake, title="Secretariat")
    await secretariat.bind("global")
    await group.bind("aswa")
    replies = await fill(chat, country="Egypt")
    assert any("It goes to: Global Network" in r for r in replies), replies
    replies = await chat.tap("Send the report")
    code = REPORT_RE.search(" ".join(replies))
    assert code
    await worker(app, bot).drain()
    assert "Egypt" in str(report_card(secretariat, code.group(0))["text"])
    assert not [m for m in group.bot_messages() if code.group(0) in m.get("text", "")]


async def test_report_waits_for_a_group_and_goes_once_one_is_bound(
    chat: Chat, group: Group, app: App, bot: Bot
) -> None:
    """No group bound at all: the card waits, and /bind brings it."""
    delivery = worker(app, bot)
    code = await report(chat)
    await delivery.drain()
    assert (await stored(app, code)).state == BadDateState.WAITING
    await group.bind("aswa")
    await delivery.drain()
    assert report_card(group, code)
    assert (await stored(app, code)).state == BadDateState.DELIVERED


# -- moderation -----------------------------------------------------------------------------------


async def test_staff_pressing_approve_twice_publishes_once(
    chat: Chat, group: Group, app: App, bot: Bot, published: Published, telegram: FakeTelegram
) -> None:
    """Two presses of Approve: one alert, one note to the member; the second press is told the
    report is decided; the card says who approved and when, and loses its buttons."""
    await group.bind("aswa")
    code = await card_in(group, app, bot, chat)
    message_id, approve = card_button(group, code, "Approve")
    await group.tap(message_id, approve)
    await group.tap(message_id, approve)
    assert len(published.calls) == 1
    assert published.calls[0][0] == code and DESCRIPTION in published.calls[0][1]
    toasts = [e.text for e in telegram.events if e.kind in ("toast", "alert")]
    assert toasts[-2:] == ["Approved.", "Already decided, or withdrawn by the member."]
    card = report_card(group, code)
    assert re.search(r"Approved by Dana, \d{4}-\d\d-\d\d \d\d:\d\d UTC", str(card["text"]))
    assert group.telegram.buttons(group.chat_id, message_id) == []
    row = await stored(app, code)
    assert row.state == BadDateState.APPROVED and row.alert_id == 1 and row.decided_at
    await worker(app, bot).drain()
    notes = [t for t in chat.new_texts() if code in t]
    assert len(notes) == 1 and "a warning based on it went to" in notes[0]


async def test_edit_rewrites_the_alert_before_it_goes_out(
    chat: Chat, group: Group, app: App, bot: Bot, published: Published
) -> None:
    """Edit asks for the text as a reply; the reply replaces the alert on the card, the group
    is told who changed it, nothing goes out until Approve, which sends the new text."""
    await group.bind("aswa")
    code = await card_in(group, app, bot, chat)
    message_id, edit = card_button(group, code, "Edit")
    await group.tap(message_id, edit)
    prompt = group.bot_messages()[-1]
    assert prompt["text"].startswith(f"✏️ {code} · New alert text")
    assert DESCRIPTION in prompt["text"]
    rewritten = "Westlands: a man in a grey Toyota robbed a worker. Phone +254 700 000 000."
    await group.say(rewritten, reply_to=prompt["message_id"])
    assert published.calls == []
    card = report_card(group, code)
    assert rewritten in str(card["text"]) and "(rewritten by staff)" in str(card["text"])
    answer = group.bot_messages()[-1]
    assert answer["text"].startswith("✏️ Dana rewrote the alert of " + code)
    # A second rewrite, as a reply to the card itself, wins over the first.
    await group.say(rewritten + " Be careful.", reply_to=message_id)
    await group.tap(message_id, group.button(report_card(group, code), "Approve"))
    assert published.calls == [(code, rewritten + " Be careful.")]
    assert b"Toyota" not in ((await stored(app, code)).alert_text or b"")


async def test_edit_refuses_emoji_and_over_long_alerts(
    chat: Chat, group: Group, app: App, bot: Bot, published: Published
) -> None:
    """Staff text is checked as the member's is: words needed, the alert limit in UTF-16."""
    await group.bind("aswa")
    code = await card_in(group, app, bot, chat)
    message_id, edit = card_button(group, code, "Edit")
    await group.tap(message_id, edit)
    prompt = group.bot_messages()[-1]
    await group.say("⚠️⚠️", reply_to=prompt["message_id"])
    assert "emoji alone" in group.bot_messages()[-1]["text"]
    await group.say("a" * (ALERT_TEXT_LIMIT + 1), reply_to=prompt["message_id"])
    assert f"{ALERT_TEXT_LIMIT + 1:,} characters" in group.bot_messages()[-1]["text"]
    assert "(rewritten by staff)" not in str(report_card(group, code)["text"])


async def test_reject_tells_the_member_neutrally_and_sends_nothing(
    chat: Chat, group: Group, app: App, bot: Bot, published: Published
) -> None:
    """Reject: no alert, the card records who and when, the member hears a neutral word."""
    await group.bind("aswa")
    code = await card_in(group, app, bot, chat)
    message_id, reject = card_button(group, code, "Reject")
    await group.tap(message_id, reject)
    await group.tap(message_id, reject)
    assert published.calls == []
    assert re.search(r"Rejected by Dana, .* UTC", str(report_card(group, code)["text"]))
    await worker(app, bot).drain()
    notes = [t for t in chat.new_texts() if code in t]
    assert len(notes) == 1 and "No warning will be sent" in notes[0]
    (listing,) = await chat.tap_data(MY_REPORTS)
    assert code in listing and "reviewed, no alert" in listing


async def test_another_group_cannot_decide(
    chat: Chat,
    group: Group,
    app: App,
    bot: Bot,
    published: Published,
    telegram: FakeTelegram,
    dp: Dispatcher,
    intake: Intake,
) -> None:
    """The card's buttons, replayed from another bound group, are refused."""
    other = Group(telegram, bot, dp, intake, title="Other staff")
    await other.bind("swan")
    await group.bind("aswa")
    code = await card_in(group, app, bot, chat)
    _message_id, approve = card_button(group, code, "Approve")
    raw = telegram.user_tap(other.person, other.chat_id, 1, approve)
    await other.feed(raw)
    assert published.calls == []
    assert (await stored(app, code)).state == BadDateState.DELIVERED


# -- the member's own reports -------------------------------------------------------------------


async def test_member_deletes_a_report_before_moderation(
    chat: Chat, group: Group, app: App, bot: Bot, published: Published
) -> None:
    """Deleted before a decision: the card says so and loses its buttons, Approve pressed on
    the old card does nothing, and the member's words are gone from the database."""
    await group.bind("aswa")
    code = await card_in(group, app, bot, chat)
    message_id, approve = card_button(group, code, "Approve")
    await chat.tap_data(MY_REPORTS)
    await chat.tap(code)
    replies = await chat.tap("Delete")
    assert any("no warning is sent" in r for r in replies), replies
    replies = await chat.tap("Yes, delete it")
    assert any(f"Report {code} is deleted" in r for r in replies), replies
    await worker(app, bot).drain()
    card = report_card(group, code)
    assert "Withdrawn and deleted by the member" in str(card["text"])
    assert DESCRIPTION not in str(card["text"])
    assert group.telegram.buttons(group.chat_id, message_id) == []
    await group.tap(message_id, approve)
    assert published.calls == []
    row = await stored(app, code)
    assert row.state == BadDateState.DELETED and row.body is None
    replies = await chat.tap_data(MY_REPORTS)
    assert replies and code not in " ".join(replies), replies


async def test_report_deleted_before_its_card_is_posted_is_never_posted(
    chat: Chat, group: Group, app: App, bot: Bot
) -> None:
    """Deleted while the card still waits in the outbox: the group never sees it."""
    code = await report(chat)
    await chat.tap_data(MY_REPORTS)
    await chat.tap(code)
    await chat.tap("Delete")
    await chat.tap("Yes, delete it")
    await group.bind("aswa")
    await worker(app, bot).drain()
    assert not [m for m in group.bot_messages() if code in m.get("text", "")]


async def test_forget_erases_reports_and_tells_the_group(
    chat: Chat, group: Group, app: App, bot: Bot
) -> None:
    """/forget: the report's words go, and its undecided card says it was withdrawn."""
    await group.bind("aswa")
    code = await card_in(group, app, bot, chat)
    await chat.say("/forget")
    await chat.tap("Yes, delete everything")
    await worker(app, bot).drain()
    assert "Withdrawn and deleted by the member" in str(report_card(group, code)["text"])
    row = await stored(app, code)
    assert row.member_id is None and row.body is None and row.state == BadDateState.DELETED


async def test_retention_purges_decided_reports(
    chat: Chat, group: Group, app: App, bot: Bot, published: Published
) -> None:
    """A decided report is deleted RETENTION_DAYS after the decision; an undecided one stays."""
    await group.bind("aswa")
    decided = await card_in(group, app, bot, chat)
    waiting = await card_in(group, app, bot, chat)
    message_id, reject = card_button(group, decided, "Reject")
    await group.tap(message_id, reject)
    later = utcnow() + dt.timedelta(days=app.settings.retention_days + 1)
    counts = await purge(app, later)
    assert counts["bad_date_reports"] == 1
    async with app.sessions() as session:
        codes = set(await session.scalars(select(BadDateReport.code)))
    assert codes == {waiting}


# -- the form's ways in and out -----------------------------------------------------------------


async def test_every_step_has_cancel(chat: Chat) -> None:
    """Country, area, when, what happened, description, support and preview: ✖️ Cancel."""
    steps = [await open_form(chat)]
    assert "✖️ Cancel" in chat.buttons()
    await chat.say("Kenya")
    assert "✖️ Cancel" in chat.buttons()
    await chat.say("Westlands")
    assert "✖️ Cancel" in chat.buttons()
    await chat.tap("Today")
    assert "✖️ Cancel" in chat.buttons()
    await chat.tap("Violence")
    await chat.tap("Continue")
    assert "✖️ Cancel" in chat.buttons()
    await chat.say("Short man with a beard.")
    assert "✖️ Cancel" in chat.buttons()
    await chat.tap("No, thank you")
    assert "✖️ Cancel" in chat.buttons()
    replies = await chat.tap("Cancel")
    assert replies == ["Cancelled. Nothing was sent."]
    assert steps


async def test_commands_escape_the_form(chat: Chat) -> None:
    """A command typed at a writing step does what it says; the form closes, and the text typed
    next is not taken for the area."""
    await open_form(chat)
    await chat.say("Kenya")
    replies = await chat.say("/help")
    assert replies[0] == "The report form is closed. Nothing was sent."
    assert len(replies) > 1
    replies = await chat.say("Westlands")
    assert not any("When did it happen" in r for r in replies)
    await open_form(chat)
    await chat.say("Kenya")
    replies = await chat.say("/cancel")
    assert replies == ["Cancelled. Nothing was sent."]


async def test_support_yes_offers_ask_a_network_for_the_same_country(chat: Chat) -> None:
    """Wanting support: after sending, one tap opens "Ask a network" with the country and the
    need already chosen, at the step where the member writes."""
    code = await report(chat, support=True)
    replies = await chat.tap("Ask the network for support")
    assert any("Kenya" in r and "Now write your message" in r for r in replies), replies
    assert code


async def test_second_tap_on_send_shows_the_same_report(chat: Chat, app: App) -> None:
    """Send tapped twice on the same preview: one report, its confirmation again."""
    await fill(chat)
    preview = chat.last_bot_message()
    first = await chat.tap("Send the report", preview)
    second = await chat.tap_data(
        chat.telegram.buttons(chat.chat_id, preview["message_id"])[0]["callback_data"],
        preview["message_id"],
    )
    assert REPORT_RE.search(" ".join(first)) and REPORT_RE.search(" ".join(second))
    assert REPORT_RE.findall(" ".join(first))[0] == REPORT_RE.findall(" ".join(second))[0]
    async with app.sessions() as session:
        assert len(list(await session.scalars(select(BadDateReport)))) == 1


async def test_after_violence_card_offers_a_report(chat: Chat) -> None:
    """ "What to do now" (/now and its button) offers "Report a bad date"."""
    await chat.say("/now")
    assert "📝 Report a bad date" in chat.buttons()
    replies = await chat.tap("Report a bad date")
    assert any("Which country did it happen in?" in r for r in replies), replies
    await chat.tap_data("av:KE")
    assert "📝 Report a bad date" in chat.buttons()


# -- what it looks like --------------------------------------------------------------------------


async def test_card_and_note_say_nothing_on_a_lock_screen(
    chat: Chat, group: Group, app: App, bot: Bot, published: Published, telegram: FakeTelegram
) -> None:
    """The card, the group's decision, and the member's note: the first two lines name no
    network and hold no sensitive word, in plain and in discreet mode."""
    from tests.test_conversation import lock_screen_problems

    await group.bind("aswa")
    await chat.say("/discreet")
    first = await card_in(group, app, bot, chat)
    second = await card_in(group, app, bot, chat)
    await group.tap(*card_button(group, first, "Approve"))
    await group.tap(*card_button(group, second, "Reject"))
    await worker(app, bot).drain()
    unprompted = [
        e.message["text"]
        for e in telegram.events
        if e.kind in ("sent", "edited")
        and e.message is not None
        and (e.chat_id == group.chat_id or "🔔" in e.message.get("text", ""))
        and not e.message["text"].startswith("This group now receives")
    ]
    notes = [t for t in unprompted if "🔔" in t]
    assert len(notes) == 2, notes
    for text in unprompted:
        assert lock_screen_problems(app, text) == [], text


async def test_card_at_every_limit_fits_one_message(app: App) -> None:
    """The longest area, description and rewritten alert, in the widest script: the card is
    still one valid Telegram message."""
    from bot.baddates.callbacks import Harm, When
    from bot.baddates.service import ReportBody
    from bot.baddates.texts import card_text, card_view

    body = ReportBody(
        area="🏙" * (AREA_LIMIT // 2),
        when=When.WEEK,
        harms=tuple(Harm),
        description="<&>" * (DESCRIPTION_LIMIT // 3),
        support=True,
    )
    row = BadDateReport(code="B-ABCDE", country="KE", network_id="aswa", language="en")
    row.state, row.created_at = BadDateState.DELIVERED, utcnow()
    i18n = build_i18n(app)
    with i18n.context(), i18n.use_locale("en"):
        alert = "🚨" * (ALERT_TEXT_LIMIT // 2)
        view = card_view(app.directory, row, None, body, alert, "en")
        text = card_text(view, repeat=True, decision="✅ " + "x" * 200)
    assert utf16_len(parse_html(text)) <= TEXT_LIMIT


async def test_approved_report_reaches_subscribers_as_staff_wrote_it(
    chat: Chat, group: Group, app: App, bot: Bot, telegram: FakeTelegram
) -> None:
    """Through the real engine: after Edit and Approve (twice), each member opted in for the
    country gets the staff's text once, and nothing of the member's own description."""
    from tests.alerts_kit import broadcaster, received, subscribers

    await group.bind("aswa")
    kenya = await subscribers(app, 3, country="KE")
    uganda = await subscribers(app, 2, country="UG")
    code = await card_in(group, app, bot, chat)
    message_id, edit = card_button(group, code, "Edit")
    await broadcaster(app, bot).drain()
    assert received(telegram, kenya) == {}  # nothing before an approval
    await group.tap(message_id, edit)
    rewritten = "Westlands: a man in a grey car robbed a worker yesterday."
    await group.say(rewritten, reply_to=group.bot_messages()[-1]["message_id"])
    approve = group.button(report_card(group, code), "Approve")
    await group.tap(message_id, approve)
    await group.tap(message_id, approve)
    await broadcaster(app, bot).drain()
    assert received(telegram, kenya) == dict.fromkeys(kenya, 1)
    assert received(telegram, uganda) == {}
    alert = next(
        e.message["text"]
        for e in telegram.events
        if e.kind == "sent" and e.chat_id == kenya[0] and e.message
    )
    assert rewritten in alert and "Toyota" not in alert


@pytest.mark.parametrize("lang", ["en", "fr", "es", "ru", "zh", "ar"])
async def test_card_and_note_heads_are_neutral_in_every_language(app: App, lang: str) -> None:
    """The card's and the member note's first two lines, in each of the six languages."""
    from bot.baddates.callbacks import Harm, When
    from bot.baddates.service import ReportBody
    from bot.baddates.texts import card_text, card_view, note_text
    from tests.test_conversation import lock_screen_problems

    body = ReportBody("Westlands", When.TODAY, tuple(Harm), "Tall man.", support=True)
    row = BadDateReport(code="B-ABCDE", country="KE", network_id="aswa", language=lang)
    row.state, row.created_at = BadDateState.DELIVERED, utcnow()
    i18n = build_i18n(app)
    with i18n.context(), i18n.use_locale(lang):
        texts = [
            card_text(card_view(app.directory, row, None, body, None, lang, "global")),
            note_text("B-ABCDE", "Kenya", "approved"),
            note_text("B-ABCDE", "Kenya", "rejected"),
        ]
    for text in texts:
        assert lock_screen_problems(app, text) == [], text


async def test_my_reports_is_behind_the_pin(chat: Chat) -> None:
    """With a PIN set, "My reports" asks for it as "My requests" does; the right PIN opens it."""
    from tests.test_safety import set_pin

    code = await report(chat)
    await set_pin(chat, "482913")
    (prompt,) = await chat.tap_data(MY_REPORTS)
    assert "locked" in prompt and code not in prompt
    (unlocked,) = await chat.say("482913")
    assert "Unlocked" in unlocked
    replies = await chat.tap_data(MY_REPORTS)
    assert any(code in r for r in replies), replies
