"""Services, the shared country choice and /network, through the production dispatcher."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest
from aiogram import Dispatcher
from sqlalchemy import select

from bot.app import App
from bot.config import Settings
from bot.devtools.localapi import FakeTelegram
from bot.directory.countries import CountryKeep, CountryPick, CountryRegion
from bot.directory.handlers import ServicePage
from bot.directory.model import GLOBAL, Contacts, Directory, Need, Network, Region, Service
from bot.ui.keyboards import Menu
from storage.models import Member
from tests.fakes import Chat
from tests.places import TORONTO, assert_no_coordinates

SERVICES = Menu(section="services").pack()
# Distinctive digits, so that any copy of them anywhere is easy to spot.


def buttons(chat: Chat) -> list[dict[str, Any]]:
    message = chat.last_bot_message()
    return chat.telegram.buttons(chat.chat_id, message["message_id"])


def data_of(chat: Chat) -> list[str]:
    return [b["callback_data"] for b in buttons(chat) if "callback_data" in b]


def urls_of(chat: Chat) -> list[str]:
    return [b["url"] for b in buttons(chat) if "url" in b]


async def stored_country(app: App) -> str | None:
    async with app.sessions() as session:
        member = await session.scalar(select(Member))
    assert member is not None
    return member.country


async def test_russian_member_types_kyrgyzstan_and_gets_the_network_card_in_russian(
    new_chat: Any, app: App
) -> None:
    """Acceptance: ru member types "Киргизия", picks legal help: SWAN's card, in Russian."""
    chat: Chat = new_chat("ru")
    await chat.say("/start")
    await chat.tap_data(SERVICES)
    assert any(b.startswith("cr:services:") for b in data_of(chat))
    (question,) = await chat.say("Киргизия")
    assert "Киргизия" in question  # Babel's Russian name
    await chat.tap_data(CountryKeep(p="services", c="KG", keep=0).pack())
    screen = chat.last_bot_message()
    assert "Киргизия" in screen["text"]
    labels = chat.buttons()
    assert "Юридическая помощь и знание прав" in labels  # needs.yaml, ru
    assert "Помощь при насилии и безопасность" in labels
    (answer,) = await chat.tap_data(ServicePage(c="KG", n="legal-help").pack())
    assert "Юридическая помощь и знание прав" in answer
    assert "Киргизия" in answer
    assert "Sex Workers' Rights Advocacy Network (SWAN)" in answer
    assert "Основана в 2006 году" in answer  # networks.yaml description, ru
    assert urls_of(chat) == ["https://swannet.org"]
    assert Menu(section="ask").pack() in data_of(chat)
    assert await stored_country(app) is None  # the member said no


async def test_matching_services_show_cards_in_the_members_language(new_chat: Any) -> None:
    """Violence response in Kyrgyzstan: Tais Plus, with Russian names for city facts and needs."""
    chat: Chat = new_chat("ru")
    await chat.say("/services")
    await chat.say("Kyrgyzstán")
    await chat.tap_data(CountryKeep(p="services", c="KG", keep=0).pack())
    (answer,) = await chat.tap_data(ServicePage(c="KG", n="violence-response").pack())
    assert "Tais Plus" in answer and "Bishkek" in answer
    assert "русский" in answer  # the service's language, named in Russian by Babel
    assert "Помощь при насилии и безопасность" in answer
    assert "Помощь при насилии, в том числе убежище." in answer  # the note, ru


async def test_remembered_country_is_offered_first_and_deleted_by_forget(
    chat: Chat, app: App
) -> None:
    """Yes stores the country; next time it comes first; /network uses it; /forget erases it."""
    await chat.say("/services")
    await chat.say("kenia")
    assert await stored_country(app) is None
    replies = await chat.tap_data(CountryKeep(p="services", c="KE", keep=1).pack())
    assert any("Saved" in r for r in replies)
    assert await stored_country(app) == "KE"
    await chat.say("/services")
    assert data_of(chat)[0] == CountryPick(p="services", c="KE").pack()
    assert "Kenya" in chat.buttons()[0]
    # Tapping the saved country goes straight on, without asking again.
    await chat.tap_data(data_of(chat)[0])
    assert "What do you need?" in chat.last_bot_message()["text"]
    (card,) = await chat.say("/network")
    assert "African Sex Workers Alliance (ASWA)" in card
    await chat.say("/privacy")
    assert "your country" in chat.last_bot_message()["text"]
    await chat.say("/forget")
    await chat.tap("Yes")
    async with app.sessions() as session:
        assert await session.scalar(select(Member)) is None


async def test_saved_country_can_be_forgotten_on_its_own(chat: Chat, app: App) -> None:
    """The picker's "Forget my saved country" clears the column and keeps the member."""
    await chat.say("/services")
    await chat.say("Kenya")
    await chat.tap_data(CountryKeep(p="services", c="KE", keep=1).pack())
    await chat.say("/services")
    await chat.tap("Forget my saved country")
    assert await stored_country(app) is None
    assert not any(d.startswith("cp:") for d in data_of(chat))


async def test_declining_is_not_asked_again_in_the_same_conversation(chat: Chat, app: App) -> None:
    """After "No, just this time" the next pick goes straight to the needs."""
    await chat.say("/services")
    await chat.say("Uganda")
    await chat.tap_data(CountryKeep(p="services", c="UG", keep=0).pack())
    await chat.say("/services")
    (reply,) = await chat.say("Tanzania")
    assert "What do you need?" in reply
    assert await stored_country(app) is None


async def test_region_keyboard_pages_through_countries(chat: Chat) -> None:
    """Region -> countries in pages of at most 16, names sorted, all reachable."""
    await chat.say("/services")
    await chat.tap_data(CountryRegion(p="services", r="asia-pacific").pack())
    seen: list[str] = []
    for _page in range(10):
        picks = [d for d in data_of(chat) if d.startswith("cp:")]
        assert 0 < len(picks) <= 16
        seen += picks
        more = [d for d in data_of(chat) if d.startswith("cr:") and d.endswith(f":{_page + 1}")]
        if not more:
            break
        await chat.tap_data(more[0])
    codes = {d.rsplit(":", 1)[1] for d in seen}
    assert {"TH", "NZ", "IN", "CN", "AU"} <= codes and len(codes) == len(seen) == 67
    await chat.tap_data(CountryPick(p="services", c="TH").pack())
    assert "Thailand" in chat.last_bot_message()["text"]


async def test_typed_names_with_typos_and_ambiguity(chat: Chat) -> None:
    """A close typo is taken, an ambiguous name offers choices, nonsense says so plainly."""
    await chat.say("/services")
    (reply,) = await chat.say("Congo")
    assert "Did you mean" in reply
    assert set(data_of(chat)) >= {"cp:services:CD", "cp:services:CG"}
    (reply,) = await chat.say("qwzxv")
    assert "could not find that country" in reply
    assert CountryRegion(p="services").pack() in data_of(chat)
    (reply,) = await chat.say("Germny")
    assert "Germany" in reply


async def test_commands_still_work_while_the_picker_waits(chat: Chat) -> None:
    """A command typed at the country prompt is a command, not a country name."""
    await chat.say("/services")
    (reply,) = await chat.say("/help")
    assert "/network" in reply and "/services" in reply


async def test_network_asks_the_country_when_none_is_saved(chat: Chat) -> None:
    """/network without a saved country asks; the USA goes to the global secretariat."""
    (prompt,) = await chat.say("/network")
    assert "Which country" in prompt
    await chat.say("USA")
    (card,) = await chat.tap_data(CountryKeep(p="network", c="US", keep=0).pack())
    assert "No regional network covers United States" in card
    assert "Global Network of Sex Work Projects" in card
    assert "https://www.nswp.org" in urls_of(chat)


def many_services() -> Directory:
    world = Region("world", {"en": "World"}, frozenset({"KE"}))
    network = Network(GLOBAL, "Global", GLOBAL, frozenset(), ("en",), None, {"en": "All."})
    services = [
        Service(
            id=f"s{i}",
            name=f"Service {i} <&>",
            country="KE",
            city="Nairobi",
            lat=None,
            lon=None,
            needs=("legal-help",),
            publicly_sex_worker_led=i in (4, 5),
            languages=("sw", "en"),
            contacts=Contacts(website=f"https://s{i}.example.org", telegram=f"service_{i}x"),
            vetted_by=GLOBAL,
            last_verified=dt.date(2026, 1, 1 + i),
        )
        for i in range(7)
    ]
    return Directory.build(
        [world], [network], [Need("legal-help", {"en": "Legal help"})], services
    )


async def test_many_services_are_paginated_community_led_first(chat: Chat, dp: Dispatcher) -> None:
    """Seven matches: pages of three, publicly community-led first, status never displayed."""
    dp["directory"] = many_services()
    await chat.say("/start")
    (page,) = await chat.tap_data(ServicePage(c="KE", n="legal-help").pack())
    assert "7 services found. Page 1 of 3." in page
    assert page.index("Service 5") < page.index("Service 4") < page.index("Service 6")
    assert "Service 6 <&>" in page  # escaped on the way out, shown as typed
    assert "sex worker-led" not in page.lower() and "community-led" not in page.lower()
    assert "https://s5.example.org" in urls_of(chat) and "https://t.me/service_5x" in urls_of(chat)
    (page,) = await chat.tap_data(ServicePage(c="KE", n="legal-help", p=2).pack())
    assert "Page 3 of 3" in page and "Service 0" in page
    assert ServicePage(c="KE", n="legal-help", p=1).pack() in data_of(chat)


@pytest.mark.parametrize(
    "data",
    [
        "sv:XX:legal-help:0",
        "sv:KE:no-such-need:0",
        "sv:KE:legal-help:-1",
        "sv:KE:legal-help:99",
        "sv:KE:legal-help:abc",
        "sn:QQ",
        "cp:services:ZZ",
        "cp:services:EU",
        "cp:nosuch:KE",
        "cp:services",
        "cr:services:mars:0",
        "cr:evil:africa:0",
        "ck:services:KE:5",
        "ck:services:XX:1",
        "cf:nosuch",
    ],
)
async def test_forged_callback_data_gets_a_kind_message_and_the_menu(
    chat: Chat, data: str, app: App
) -> None:
    """Forged country, need, page or purpose: a short message and the main menu (R17)."""
    await chat.say("/start")
    replies = await chat.tap_data(data)
    assert replies
    assert "does not work any more" in replies[-1]
    assert SERVICES in data_of(chat)
    assert not any("went wrong" in r for r in replies)
    assert await stored_country(app) is None


async def test_all_callback_data_fits_64_bytes(chat: Chat, dp: Dispatcher) -> None:
    """Every button the flows make stays within Telegram's 64 bytes (FakeTG refuses more)."""
    directory: Directory = dp["directory"]
    await chat.say("/services")
    for region in directory.regions:
        for page in range(5):
            await chat.tap_data(CountryRegion(p="services", r=region.id, n=page).pack())
            assert all(len(d.encode()) <= 64 for d in data_of(chat))


def db_path(settings: Settings) -> Path:
    return Path(settings.database_url.split(":///", 1)[1])


async def test_location_lists_nearest_services_and_is_kept_nowhere(
    chat: Chat,
    telegram: FakeTelegram,
    settings: Settings,
    dp: Dispatcher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Acceptance: a location lists services by distance; no trace of it stays (R25, R28)."""
    caplog.set_level(logging.DEBUG)
    await chat.say("/start")
    await chat.say("/services")
    (answer,) = await chat.send(location={"latitude": TORONTO[0], "longitude": TORONTO[1]})
    order = [answer.index(name) for name in ("Maggie's", "GLITS", "Peers Victoria")]
    assert order == sorted(order)
    assert "less than 1 km" in answer and "km" in answer.split("GLITS", 1)[1]
    assert "not stored" in answer
    # The pin is taken out of the chat.
    assert telegram.sent("deleteMessage", chat.chat_id)
    assert "https://www.maggiesto.org" in urls_of(chat)
    assert_no_coordinates(db_path(settings), *TORONTO)
    needles = ("43.653", "79.383")
    assert not any(n in repr(dp.storage.__dict__) for n in needles)  # FSM state and data
    assert not any(n in record.getMessage() for record in caplog.records for n in needles)


async def test_location_far_from_every_service_says_so(chat: Chat) -> None:
    """In the middle of the Pacific the nearest services are shown, but called far away."""
    (answer,) = await chat.send(location={"latitude": -30.0, "longitude": -140.0})
    assert "No listed service is near you" in answer
    assert CountryRegion(p="services").pack() in data_of(chat)
