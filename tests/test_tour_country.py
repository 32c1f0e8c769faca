"""Tour findings 15, 17, 20 and 21: the country flow remembers, reads and sorts names as people do.

Through the production dispatcher and the fake Bot API (`chat` / `new_chat` fixtures).
"""

from __future__ import annotations

from sqlalchemy import select

from bot.app import App
from bot.directory.countries import NOT_IN_PICKERS, CountryKeep, CountryRegion, country_name
from storage.models import Member
from tests.fakes import Chat


async def test_tour_15_network_confirms_a_typed_country_and_carries_it_into_ask(
    chat: Chat,
) -> None:
    """/network -> "Thailnd": the card says Thailand, and "Ask a network" does not ask again."""
    await chat.say("/network")
    await chat.say("Thailnd")
    (card,) = await chat.tap_data(CountryKeep(p="network", c="TH", keep=0).pack())
    assert "Country: Thailand" in card, card
    assert "Asia Pacific Network of Sex Workers" in card

    (needs,) = await chat.tap("Ask a network")
    assert "Thailand" in needs and "What is your request about?" in needs, needs
    (prompt,) = await chat.tap("Legal help")
    assert "Country: Thailand" in prompt and "Now write your message" in prompt, prompt
    assert "Which country" not in prompt
    (preview,) = await chat.say("Police took my passport.")
    assert "Check your request" in preview and "Thailand" in preview, preview


async def test_tour_15_ask_confirms_a_typed_country(chat: Chat) -> None:
    """/ask -> Legal help -> "Россия": the write step names the country it understood."""
    await chat.say("/ask")
    await chat.tap("Legal help")
    (prompt,) = await chat.say("Россия")
    assert "Country: Russia" in prompt and "Now write your message" in prompt, prompt


async def test_tour_17_remember_prompt_never_eats_the_request(chat: Chat, app: App) -> None:
    """/ask -> Legal help -> "Kenya" -> the request typed at once becomes the preview; remembering
    the country is a button on the write step, and tapping it keeps the member on that step."""
    await chat.say("/ask")
    await chat.tap("Legal help")
    await chat.say("Kenya")
    assert any("Remember Kenya" in b for b in chat.buttons()), chat.buttons()
    replies = await chat.tap("Remember Kenya")
    assert "Saved. /forget deletes it." in replies, replies
    assert not any("Remember" in b for b in chat.buttons()), chat.buttons()
    async with app.sessions() as session:
        member = await session.scalar(select(Member))
        saved = member.country if member is not None else None
    assert saved == "KE"

    (preview,) = await chat.say("I need a lawyer after a police raid.")
    assert "Check your request" in preview and "Kenya" in preview, preview


async def test_tour_17_typed_request_without_remembering(chat: Chat, app: App) -> None:
    """Typing the request straight after the country: nothing is saved, nothing is lost."""
    await chat.say("/ask")
    await chat.tap("Legal help")
    await chat.say("Kenya")
    (preview,) = await chat.say("I need a lawyer after a police raid.")
    assert "Check your request" in preview, preview
    async with app.sessions() as session:
        member = await session.scalar(select(Member))
        saved = member.country if member is not None else None
    assert saved is None


async def test_tour_20_chinese_country_lists_sort_by_pinyin(new_chat, app: App) -> None:  # type: ignore[no-untyped-def]
    """Africa in Chinese runs 阿尔及利亚/埃及… (a-, ai-) to 中非共和国 (zhong-), not by code point
    (which put 中非共和国, 乌干达, 乍得 first)."""
    chat: Chat = new_chat("zh")
    region = app.directory.region("africa")
    assert region is not None
    labels = {country_name(c, "zh") for c in region.countries - NOT_IN_PICKERS}
    await chat.say("/services")
    names: list[str] = []
    for page in range(8):
        await chat.tap_data(CountryRegion(p="services", r="africa", n=page).pack())
        shown = [b for b in chat.buttons() if b in labels]
        if names and shown[-1] == names[-1]:
            break  # past the last page: the last page again
        names += shown
    assert len(names) == len(labels), names
    assert names[0] in {"阿尔及利亚", "埃及", "埃塞俄比亚", "安哥拉"}, names
    assert names[-1] == "中非共和国", names
    assert names.index("冈比亚") < names.index("几内亚") < names.index("乍得"), names


async def test_tour_21_russian_everyday_country_names(new_chat) -> None:  # type: ignore[no-untyped-def]
    """ЮАР, Южная Африка, Штаты, США, Америка, Британия, Англия, Киргизия, Белоруссия, Молдавия
    are understood in the Russian interface, each straight away (no "did you mean")."""
    chat: Chat = new_chat("ru")
    for typed, code in [
        ("ЮАР", "ZA"),
        ("Южная Африка", "ZA"),
        ("Штаты", "US"),
        ("США", "US"),
        ("Америка", "US"),
        ("Британия", "GB"),
        ("Англия", "GB"),
        ("Киргизия", "KG"),
        ("Белоруссия", "BY"),
        ("Молдавия", "MD"),
    ]:
        await chat.say("/network")
        (reply,) = await chat.say(typed)
        assert country_name(code, "ru") in reply, (typed, reply)
