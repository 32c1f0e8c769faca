"""/law cards, risk notices by country and "what to do now", through the production dispatcher."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import LANGUAGES
from bot.directory.countries import CountryKeep, CountryPick
from bot.directory.handlers import NeedMenu, ServicePage
from bot.directory.law_handlers import AfterViolence, LawCountry, as_of_label
from bot.directory.model import check
from bot.ui.keyboards import Menu
from tests.fakes import Chat
from tests.test_directory import FIXTURES, TODAY, broken_copy

GUIDES = Path(__file__).parent.parent / "guides"
LAW = GUIDES / "law"


def vocabulary() -> dict[str, Any]:
    return dict(yaml.safe_load((LAW / "vocabulary.yaml").read_text(encoding="utf-8")))


def card_file(code: str) -> dict[str, Any]:
    return dict(yaml.safe_load((LAW / f"{code}.yaml").read_text(encoding="utf-8")))


async def choose(chat: Chat, purpose: str, code: str, keep: int = 0) -> list[str]:
    """Pick a country in the open picker, then answer "remember it?"."""
    await chat.tap_data(CountryPick(p=purpose, c=code).pack())
    return await chat.tap_data(CountryKeep(p=purpose, c=code, keep=keep).pack())


def urls(chat: Chat) -> list[str]:
    message = chat.last_bot_message()
    return [
        b["url"] for b in chat.telegram.buttons(chat.chat_id, message["message_id"]) if "url" in b
    ]


def data(chat: Chat) -> list[str]:
    message = chat.last_bot_message()
    found = chat.telegram.buttons(chat.chat_id, message["message_id"])
    return [b["callback_data"] for b in found if "callback_data" in b]


EXPECTED = {
    "NZ": "decriminalised",
    "SE": "partially-criminalised",
    "KE": "criminalised",
    "RU": "criminalised",
}


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_law_gives_the_category_date_and_source_in_each_language(
    new_chat: Any, lang: str
) -> None:
    """Acceptance: /law for NZ, SE, KE and RU: the right category, its date and source."""
    labels = vocabulary()["category"]
    for code, category in EXPECTED.items():
        chat: Chat = new_chat(lang)
        await chat.say("/law")
        (answer,) = await choose(chat, "law", code)
        card = card_file(code)
        assert card["category"] == category  # the data agrees with the legal mapping
        assert labels[category][lang] in answer, (code, lang)
        assert as_of_label(str(card["as_of"]), lang) in answer  # 2023-11 through Babel
        host = card["source"][0].split("/")[2].removeprefix("www.")
        assert host in answer
        # A neutral heading on the lock screen: no note, no sex work in the first two lines.
        head = "\n".join(answer.splitlines()[:2]).casefold()
        assert "sex" not in head and "prostitu" not in head


async def test_law_uses_the_saved_country_and_says_when_there_is_no_card(chat: Chat) -> None:
    """A saved country goes straight to its card; a country with no card says so plainly."""
    await chat.say("/law")
    await choose(chat, "law", "KE", keep=1)
    (again,) = await chat.say("/law")
    assert "The law in Kenya" in again and "Criminalised" in again
    (none,) = await chat.tap_data(LawCountry(c="TV").pack())
    assert "No information about the law in Tuvalu yet" in none
    # The services flow reaches the card too.
    await chat.tap_data(NeedMenu(c="KE").pack())
    assert LawCountry(c="KE").pack() in data(chat)


async def test_tour_9_risk_notice_by_country(new_chat: Any) -> None:
    """Tour [9]: a Russian speaker in Kazakhstan gets no Russia notice; anyone in RU does."""
    kz: Chat = new_chat("ru")
    await kz.say("/law")
    await choose(kz, "law", "KZ", keep=1)
    pages = await walk_checkup(kz)
    assert not any("Россия" in p for p in pages)
    assert any("Telegram" in p and "IP" in p for p in pages)  # the general notice

    ru: Chat = new_chat("en")
    await ru.say("/law")
    card = (await choose(ru, "law", "RU", keep=1))[-1]
    assert "Safety note: Russia" in card
    pages = await walk_checkup(ru)
    assert any("Safety note: Russia" in p for p in pages)
    # Choosing RU in the services flow shows it too.
    (needs,) = await ru.tap_data(NeedMenu(c="RU").pack())
    assert "Safety note: Russia" in needs
    # Share and links out are hidden for a member whose country's notice says so...
    await ru.say("/start g-consensus-statement")
    assert urls(ru) == []
    # ...and shown for a member elsewhere, whatever the interface language.
    await kz.say("/start g-consensus-statement")
    assert any(u.startswith("https://t.me/share/url") for u in urls(kz))
    # Inline mode posts guide cards into other chats: none for the member in Russia.
    telegram = ru.telegram
    for person in (ru.person, kz.person):
        inline = {"id": "77", "from": person, "query": "rights", "offset": ""}
        await ru.feed(telegram.update(inline_query=inline))
    calls = telegram.sent("answerInlineQuery")
    assert [len(c.params["results"]) > 0 for c in calls] == [False, True]


@pytest.mark.parametrize("lang", ["zh", "ar"])
async def test_tour_9_russia_notice_follows_the_country_in_any_language(
    new_chat: Any, lang: str
) -> None:
    """Tour [9]: a member whose country is RU gets the notice in their own language."""
    chat: Chat = new_chat(lang)
    await chat.say("/law")
    await choose(chat, "law", "RU", keep=1)
    pages = await walk_checkup(chat)
    notice = yaml.safe_load((LAW / "risks.yaml").read_text(encoding="utf-8"))
    heading = notice["countries"]["RU"]["text"][lang].splitlines()[0]
    assert any(heading in p for p in pages)


async def walk_checkup(chat: Chat) -> list[str]:
    await chat.say("/checkup")
    pages = [chat.last_bot_message()["text"]]
    while any(b.endswith("▶") for b in chat.buttons()):
        await chat.tap(next(b for b in chat.buttons() if b.endswith("▶")))
        pages.append(chat.last_bot_message()["text"])
    return pages


async def test_what_to_do_now_is_two_taps_from_the_menu_and_with_the_violence_need(
    chat: Chat,
) -> None:
    """Menu → Services → "what to do now": PEP within 72 hours; also under violence response."""
    await chat.say("/start")
    await chat.tap_data(Menu(section="services").pack())
    (text,) = await chat.tap_data(AfterViolence().pack())
    assert "72 hours" in text and "Emergency contraception" in text
    assert "What you can do now" in text.splitlines()[0]
    await chat.tap_data(NeedMenu(c="KE").pack())
    await chat.tap_data(ServicePage(c="KE", n="violence-response").pack())
    assert AfterViolence(c="KE").pack() in data(chat)


# -- validation ----------------------------------------------------------------------------------


def law_problems(tmp_path: Path, name: str, text: str) -> list[str]:
    root = broken_copy("valid", tmp_path)
    (root / "law" / name).write_text(text, encoding="utf-8")
    return [f"{p.path.relative_to(root)}:{p.line}: {p.message}" for p in check(root, TODAY)]


CARD = (FIXTURES / "valid" / "law" / "KG.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "line", "fragment"),
    [
        (("category: criminalised", "category: banned"), 3, "`category` 'banned' is not one of"),
        (("selling: offence", "selling: not-a-crime"), 3, "does not follow from selling"),
        (("as_of: 2024-05", "as_of: May 2024"), 8, "must be YYYY or YYYY-MM"),
        (("source:\n- https://law.example.org/kg\n", ""), 2, "`source` is missing"),
        (("source_seen: 2026-05-01", "source_seen: 2027-01-01"), 11, "in the future"),
        (("hiv: unknown", "hiv: maybe"), 7, "`hiv` 'maybe' is not one of"),
    ],
)
def test_law_card_problems_are_reported_at_their_line(
    tmp_path: Path, change: tuple[str, str], line: int, fragment: str
) -> None:
    """Each broken law card gives one `path:line: message`."""
    old, new = change
    assert old in CARD
    problems = law_problems(tmp_path, "KG.yaml", CARD.replace(old, new))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"law/KG.yaml:{line}: ") and fragment in problems[0]


def test_law_card_in_the_wrong_file(tmp_path: Path) -> None:
    """A card's country must match its file name."""
    problems = law_problems(tmp_path, "KZ.yaml", CARD)
    assert problems == ["law/KZ.yaml:2: country KG in a file named KZ.yaml"]


def test_real_law_cards_are_valid_and_dated() -> None:
    """Every card in guides/law passes and none claims to have been read in the future."""
    assert [p for p in check(GUIDES) if "law" in p.path.parts] == []
    for path in LAW.glob("[A-Z][A-Z].yaml"):
        seen = card_file(path.stem)["source_seen"]
        assert dt.date.fromisoformat(str(seen)) <= dt.date.today()
