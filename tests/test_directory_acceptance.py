"""Issue 13's acceptance through the production dispatcher, on the shipped directory."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bot.app import App
from bot.directory.countries import CountryKeep, CountryRegion
from bot.directory.handlers import ServicePage
from bot.directory.model import country_codes
from tests.fakes import Chat

ROOT = Path(__file__).parent.parent
NAIROBI = (-1.2921, 36.8219)
DAKAR = (14.6928, -17.4467)
AT_SEA = (-30.0, -140.0)


def markup(chat: Chat) -> list[dict[str, Any]]:
    message = chat.last_bot_message()
    return chat.telegram.buttons(chat.chat_id, message["message_id"])


def data_of(chat: Chat) -> list[str]:
    return [b["callback_data"] for b in markup(chat) if "callback_data" in b]


def urls_of(chat: Chat) -> list[str]:
    return [b["url"] for b in markup(chat) if "url" in b]


async def country(chat: Chat, command: str, typed: str, code: str, purpose: str) -> str:
    await chat.say(command)
    await chat.say(typed)
    (screen,) = await chat.tap_data(CountryKeep(p=purpose, c=code, keep=0).pack())
    return screen


async def test_kenya_hiv_lists_kenyan_organisations(chat: Chat, app: App) -> None:
    """Acceptance: a member in Kenya asking for HIV services gets Kenyan organisations."""
    await country(chat, "/services", "Kenya", "KE", "services")
    (answer,) = await chat.tap_data(ServicePage(c="KE", n="hiv").pack())
    kenyan = [s.name for s in app.directory.services("KE", "hiv")]
    assert kenyan, "the shipped directory lists HIV services in Kenya"
    for name in kenyan[:3]:
        assert name.split(" (")[0] in answer
    places = re.findall(r"📍 ([^\n]+)", answer)
    assert places and all(p.endswith("Kenya") for p in places)
    # Plain provenance, and never a claim that anyone vetted the list.
    assert "Listed by African Sex Workers Alliance (ASWA)" in answer
    assert "vetted" not in answer.lower() and "sex worker-led" not in answer.lower()


async def test_lebanon_is_not_routed_to_apnsw(chat: Chat) -> None:
    """Acceptance: Lebanon goes to the global secretariat, with a line saying why."""
    card = await country(chat, "/network", "Lebanon", "LB", "network")
    assert "APNSW" not in card and "Asia Pacific" not in card
    assert "Global Network of Sex Work Projects" in card
    assert "no regional network shows members in Lebanon" in card


async def test_kenya_routes_to_aswa_and_says_why(chat: Chat) -> None:
    """A country with a regional network's members: that network, and the reason."""
    card = await country(chat, "/network", "Kenya", "KE", "network")
    assert "African Sex Workers Alliance" in card
    assert "regional network with member organisations in Kenya" in card


async def test_tour_23_nearest_means_near(chat: Chat, app: App) -> None:
    """Tour [23]: a location in Nairobi lists Kenyan services, nothing 4,000 km away."""
    (answer,) = await chat.send(location={"latitude": NAIROBI[0], "longitude": NAIROBI[1]})
    assert "Bar Hostess Empowerment" in answer
    distances = [int(km.replace(",", "")) for km in re.findall(r"· ([\d,]+) km", answer)]
    assert all(km <= 600 for km in distances), distances
    far = [s.name for s, km in app.directory.nearest(*NAIROBI, limit=30) if km > 3000]
    assert far and not any(name in answer for name in far)
    assert "Uganda" not in answer  # AWAC in Kampala is 506 km away, across a border


async def test_tour_16_no_services_sentence(new_chat: Any) -> None:
    """Tour [16]: the need is a heading, never inserted mid-sentence, in every language."""
    for lang, sentence in (
        ("en", "No organisation offering this is listed in this country yet."),
        ("fr", "Aucune organisation proposant ceci n’est encore répertoriée dans ce pays."),
    ):
        chat: Chat = new_chat(lang)
        await chat.say("/start")
        (answer,) = await chat.tap_data(ServicePage(c="KE", n="digital-security").pack())
        first, second = answer.splitlines()[:2]
        assert first.endswith("Kenya") and second == sentence
        # Kenya has other organisations: the member is offered them, and the network.
        assert ServicePage(c="KE", n="all").pack() in data_of(chat)
        assert "African Sex Workers Alliance" in answer


async def test_tour_22_uninhabited_territories_not_in_pickers(chat: Chat, app: App) -> None:
    """Tour [22]: the British Indian Ocean Territory leaves the picker; routing keeps it."""
    await chat.say("/services")
    seen: list[str] = []
    await chat.tap_data(CountryRegion(p="services", r="africa").pack())
    for page in range(1, 10):
        seen += [d for d in data_of(chat) if d.startswith("cp:")]
        more = [
            d for d in data_of(chat) if d == CountryRegion(p="services", r="africa", n=page).pack()
        ]
        if not more:
            break
        await chat.tap_data(more[0])
    assert "cp:services:IO" not in seen and "cp:services:KE" in seen
    assert "IO" in country_codes() and app.directory.region_of("IO") is not None
    assert app.directory.network_for("IO").id == "global"
    # Typing its name still finds it.
    (reply,) = await chat.say("British Indian Ocean Territory")
    assert "British Indian Ocean Territory" in reply
    assert not any("Congo - " in b for b in chat.buttons())


async def test_unknown_country_typed_gets_a_clear_message_and_a_network(chat: Chat) -> None:
    """Bad input: nonsense typed as a country: say so, offer the list and the global network."""
    await chat.say("/services")
    (reply,) = await chat.say("qwzxv")
    assert "I could not find that country" in reply
    assert "Global Network of Sex Work Projects" in reply
    assert "https://www.nswp.org" in urls_of(chat)
    assert CountryRegion(p="services").pack() in data_of(chat)


async def test_location_at_sea_gets_a_clear_message_and_a_network(chat: Chat) -> None:
    """Bad input: a location in the ocean: no country, nothing near, the global network."""
    (answer,) = await chat.send(location={"latitude": AT_SEA[0], "longitude": AT_SEA[1]})
    assert "could not tell which country" in answer
    assert "Global Network of Sex Work Projects" in answer
    assert "https://www.nswp.org" in urls_of(chat)


async def test_country_with_no_organisations_gets_a_clear_message_and_its_network(
    chat: Chat,
) -> None:
    """Bad input: Senegal lists no organisation yet: say so and show ASWA, by choice or pin."""
    await country(chat, "/services", "Senegal", "SN", "services")
    assert not any(d.endswith(":all:0") for d in data_of(chat))
    (answer,) = await chat.tap_data(ServicePage(c="SN", n="all").pack())
    assert "No organisations in this country are listed yet." in answer
    assert "African Sex Workers Alliance" in answer
    (answer,) = await chat.send(location={"latitude": DAKAR[0], "longitude": DAKAR[1]})
    assert "No service is listed within 300 km" in answer
    assert "No organisations in Senegal are listed yet." in answer
    assert "African Sex Workers Alliance" in answer


def test_no_ui_text_calls_the_list_vetted_or_checked() -> None:
    """Issue 13 point 2: no catalog string says the services are vetted or rights-based."""
    pot = (ROOT / "locales" / "messages.pot").read_text(encoding="utf-8").lower()
    for claim in ("vetted", "verified", "rights-based services"):
        assert claim not in pot, claim
