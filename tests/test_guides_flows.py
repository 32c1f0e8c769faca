"""Guides through the production dispatcher: browse, read in one message, search, share, reload.

Each test gets its own copy of guides/, so a reload test may break or remove files freely.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from aiogram.utils.i18n import I18n

from bot.app import App
from bot.config import PROJECT_ROOT, Settings
from bot.devtools.localapi import FakeTelegram
from bot.guides import Guide, LibraryHolder
from bot.guides.handlers import (
    PER_PAGE,
    GuideBack,
    GuideCard,
    GuideList,
    GuideRead,
    GuideTopics,
)
from bot.telegram.html import parse_html, utf16_len
from bot.ui.keyboards import Menu
from tests.conftest import ADMIN_ID, make_settings
from tests.fakes import Chat

GUIDES = PROJECT_ROOT / "guides"
LOCALES = I18n(path=PROJECT_ROOT / "locales", default_locale="en")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    guides = tmp_path / "guides"
    shutil.copytree(GUIDES, guides)
    return make_settings(tmp_path, guides_dir=guides)


@pytest.fixture
def holder(app: App) -> LibraryHolder:
    library = app.library
    return library


def guide(holder: LibraryHolder, slug: str) -> Guide:
    found = holder.current.get(slug)
    assert found is not None
    return found


def markup(chat: Chat) -> list[dict[str, Any]]:
    message = chat.last_bot_message()
    return chat.telegram.buttons(chat.chat_id, message["message_id"])


async def press(chat: Chat, data: str) -> list[str]:
    """Tap the button carrying this callback data; it must be on the latest message."""
    datas = [b.get("callback_data") for b in markup(chat)]
    assert data in datas, (data, datas)
    return await chat.tap_data(data)


async def press_text(chat: Chat, text: str) -> list[str]:
    for button in markup(chat):
        if button["text"] == text and "callback_data" in button:
            return await chat.tap_data(button["callback_data"])
    raise AssertionError(f"no button {text!r} in {chat.buttons()}")


def url_buttons(chat: Chat) -> dict[str, str]:
    return {b["text"]: b["url"] for b in markup(chat) if "url" in b}


# -- browsing and reading -----------------------------------------------------------------------
async def test_spanish_member_reads_a_community_guide_in_one_message(
    new_chat: Any, holder: LibraryHolder, telegram: FakeTelegram
) -> None:
    """Acceptance: Community Guides -> a guide -> Read -> ▶ edits one message to page 2, in es."""
    chat: Chat = new_chat("es")
    await chat.say("/guides")
    first = chat.last_bot_message()["message_id"]
    await press(chat, GuideList(by="k", key="community").pack())
    community = holder.current.of_kind("community")
    await press(chat, GuideCard(s=community[0].slug).pack())
    (card,) = chat.new_texts() or [chat.last_bot_message()["text"]]
    target = community[0].version("es")
    assert target.title in card and target.summary in card
    await press(chat, GuideRead(s=community[0].slug, p=0).pack())
    (page,) = await press_text(chat, "▶")
    assert target.pages[1].heading in page
    assert parse_html(target.pages[1].html) in page
    assert "2" in page.splitlines()[-1]
    # Every step edited the message /guides sent; nothing new was sent.
    edits = telegram.sent("editMessageText", chat.chat_id)
    assert len(edits) == 4 and {int(c.params["message_id"]) for c in edits} == {first}
    assert len(telegram.sent("sendMessage", chat.chat_id)) == 1
    # ◀ goes back to page 1, still in the same message.
    (back,) = await press_text(chat, "◀")
    assert target.pages[0].heading in back
    assert chat.last_bot_message()["message_id"] == first


async def test_guide_not_in_members_language_is_marked_and_shown_in_english(
    new_chat: Any, holder: LibraryHolder
) -> None:
    """Arabic: lists mark English-only guides, the card and pages carry a one-line notice."""
    chat: Chat = new_chat("ar")
    await chat.say("/guides")
    (listing,) = await press(chat, GuideList(by="k", key="community").pack())
    labels = chat.buttons()
    consensus = guide(holder, "consensus-statement")
    assert consensus.version("ar").title in labels  # has Arabic: not marked
    marked = [label for label in labels if label.startswith("[EN] ")]
    assert len(marked) == PER_PAGE - 1
    assert "[EN]" in listing
    swit_like = holder.current.of_kind("community")[1]
    assert not swit_like.has("ar")
    (card,) = await press(chat, GuideCard(s=swit_like.slug).pack())
    assert swit_like.version("en").title in card
    with LOCALES.context(), LOCALES.use_locale("ar"):
        from bot.guides.handlers import notice

        line = notice("ar")
    assert line in card
    (page,) = await press(chat, GuideRead(s=swit_like.slug, p=0).pack())
    assert line in page and swit_like.version("en").pages[0].heading in page


async def test_lists_page_by_eight_and_back_returns_to_the_same_page(
    chat: Chat, holder: LibraryHolder
) -> None:
    """8 guides a page, ▶ for more; Back on a card returns to the list page it came from."""
    await chat.say("/guides")
    await press(chat, GuideList(by="k", key="smart").pack())
    smart = holder.current.of_kind("smart")
    assert chat.buttons()[:PER_PAGE] == [g.version("en").title for g in smart[:PER_PAGE]]
    (second,) = await press(chat, GuideList(by="k", key="smart", p=1).pack())
    assert "2" in second
    rest = smart[PER_PAGE : 2 * PER_PAGE]
    assert chat.buttons()[: len(rest)] == [g.version("en").title for g in rest]
    await press(chat, GuideCard(s=rest[0].slug).pack())
    await press(chat, GuideBack().pack())
    assert chat.buttons()[: len(rest)] == [g.version("en").title for g in rest]


async def test_browsing_by_topic(chat: Chat, holder: LibraryHolder) -> None:
    """Topics list only topics that have guides; each opens its guides."""
    await chat.say("/guides")
    await press(chat, GuideTopics().pack())
    used = holder.current.used_topics()
    assert chat.buttons()[: len(used)] == [t.name("en") for t in used]
    await press(chat, GuideList(by="t", key="digital").pack())
    titles = chat.buttons()
    assert any("Digital Security" in t for t in titles)
    assert all(
        "digital" in g.topics for g in holder.current.guides if g.version("en").title in titles
    )


async def test_card_buttons_link_to_the_document_and_share_a_deep_link(
    new_chat: Any, holder: LibraryHolder
) -> None:
    """Full document uses the language's own address where there is one; Share a deep link."""
    chat: Chat = new_chat("es")
    await chat.say("/guides")
    await press(chat, GuideList(by="k", key="community").pack())
    await press(chat, GuideCard(s="consensus-statement").pack())
    urls = list(url_buttons(chat).values())
    assert guide(holder, "consensus-statement").source_url("es") in urls
    assert "plaperts" in urls[0]
    share = urls[1]
    assert share.startswith("https://t.me/share/url?url=")
    assert "community_guide_bot%3Fstart%3Dg-consensus-statement" in share
    chat_ru: Chat = new_chat("ru")
    await chat_ru.say("/start g-consensus-statement")
    assert guide(holder, "consensus-statement").source_url("en") in url_buttons(chat_ru).values()


def test_callback_data_stays_within_64_bytes() -> None:
    """R17: the longest slug and page number still fit Telegram's callback limit."""
    longest = "a" * 40
    for data in (
        GuideRead(s=longest, p=999).pack(),
        GuideCard(s=longest).pack(),
        GuideList(by="t", key=longest, p=999).pack(),
    ):
        assert len(data.encode()) <= 64


@pytest.mark.parametrize(
    "data",
    [
        "gc:no-such-guide",
        "gr:swit:99",
        "gr:swit:-1",
        "gr:no-such-guide:0",
        "gl:k:novels:0",
        "gl:t:astrology:0",
        "gl:k:smart:7",
        "gl:k:smart:-3",
        "gl:x:smart:0",
        "gr:swit:1e9",
        "gr:swit:" + "9" * 40,
        "gc:" + "x" * 61,
        "gc:../../etc/passwd",
        "gr:swit",
    ],
)
async def test_stale_or_forged_buttons_get_a_kind_answer(chat: Chat, data: str) -> None:
    """R17: out-of-range pages, unknown guides and topics, bad numbers: a message and buttons."""
    await chat.say("/guides")
    replies = await chat.tap_data(data)
    assert replies, data
    assert not any("went wrong" in r for r in replies)
    way_back = {Menu(section="home").pack(), Menu(section="guides").pack()}
    assert way_back & {b.get("callback_data") for b in markup(chat)}


async def test_guide_removed_by_a_reload_answers_old_buttons_kindly(
    new_chat: Any, settings: Settings
) -> None:
    """A card opened before a reload that removed its guide: Read says so, with the section."""
    member: Chat = new_chat("en")
    await member.say("/start g-swit")
    shutil.rmtree(settings.guides_dir / "swit")
    admin: Chat = new_chat("en", user_id=ADMIN_ID)
    (done,) = await admin.say("/reload")
    assert "19 guides" in done
    (reply,) = await member.tap_data(GuideRead(s="swit", p=0).pack())
    assert "not available any more" in reply
    assert Menu(section="home").pack() in [b.get("callback_data") for b in markup(member)]


async def test_back_without_a_remembered_list_opens_the_section(chat: Chat) -> None:
    """A card reached by a link has no list behind it: Back shows the Guides section."""
    await chat.say("/start g-swit")
    (home,) = await press(chat, GuideBack().pack())
    assert GuideTopics().pack() in [b.get("callback_data") for b in markup(chat)]
    assert "Smart Guides" in home or chat.buttons()


# -- search ------------------------------------------------------------------------------------
async def test_search_command_finds_guides_in_members_language(
    new_chat: Any, holder: LibraryHolder
) -> None:
    """/search in Russian, with a typo: results are titled in Russian, best first."""
    chat: Chat = new_chat("ru")
    (reply,) = await chat.say("/search цифровая безопастность")
    assert "безопастность" in reply
    titles = chat.buttons()
    assert titles[0] in {
        guide(holder, "digital-security").version("ru").title,
        guide(holder, "digital-security-community").version("ru").title,
    }


async def test_plain_text_searches_only_inside_the_guides_section(chat: Chat) -> None:
    """Text is a search after opening Guides; after leaving for the menu it is not."""
    (outside,) = await chat.say("decriminalisation")
    assert "/help" in outside
    await chat.say("/guides")
    (inside,) = await chat.say("decriminalisation")
    assert "decriminalisation" in inside
    assert any("Decriminalisation" in b for b in chat.buttons())
    await chat.tap_data(Menu(section="home").pack())
    (left,) = await chat.say("decriminalisation")
    assert "/help" in left


async def test_another_sections_button_leaves_the_guides_section(chat: Chat) -> None:
    """Sections handled before Guides (Services, Ask) end the search too: their text is theirs."""
    await chat.say("/guides")
    await chat.tap_data(Menu(section="services").pack())
    replies = await chat.say("Kenya")
    assert not any("Guides for" in r or "Nothing found for" in r for r in replies)


async def test_a_command_leaves_the_guides_section(chat: Chat) -> None:
    """After /guides then /menu, typed text is no longer taken as a search."""
    await chat.say("/guides")
    await chat.say("/menu")
    (reply,) = await chat.say("global fund")
    assert "/help" in reply


async def test_guides_stay_out_of_group_chats(chat: Chat, telegram: FakeTelegram) -> None:
    """In a group (a staff group, say) /guides and text are never taken as guide browsing."""
    group = -100777
    telegram.chat(group, "supergroup", "Staff")
    for text in ("/guides", "/search rights", "decriminalisation"):
        await chat.feed(telegram.user_message(chat.person, text, chat_id=group))
    for call in telegram.sent("sendMessage", group):
        rows = (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
        assert GuideTopics().pack() not in [b.get("callback_data") for r in rows for b in r]
        assert "Guides for" not in str(call.params.get("text"))


async def test_search_with_nothing_found_offers_topics(chat: Chat, holder: LibraryHolder) -> None:
    """Nothing found: say so and show the topic list."""
    (reply,) = await chat.say("/search qqqzzzxxx")
    assert "Nothing found" in reply
    assert [t.name("en") for t in holder.current.used_topics()] == chat.buttons()[:-2]


async def test_search_words_are_escaped(chat: Chat) -> None:
    """R16: the member's words go back into HTML escaped; Telegram accepts the message."""
    (reply,) = await chat.say("/search <b>rights</b> & <i>law")
    assert "<b>rights</b> & <i>law" in reply


async def test_search_without_words_asks_for_them(chat: Chat) -> None:
    """/search alone explains and waits for typed words in the Guides section."""
    (prompt,) = await chat.say("/search")
    assert "Type a few words" in prompt
    (reply,) = await chat.say("sex work as work")
    assert any("Sex Work as Work" in b for b in chat.buttons()), reply


async def test_long_query_is_cut_and_still_answered(chat: Chat) -> None:
    """A 4,000-character message is searched by its first words, not refused."""
    await chat.say("/guides")
    (reply,) = await chat.say("covid " * 700)
    assert utf16_len(reply) < 4096
    assert any("COVID" in b for b in chat.buttons())


# -- deep links and inline mode ----------------------------------------------------------------
async def test_deep_link_opens_the_guide_card(new_chat: Any, holder: LibraryHolder) -> None:
    """R18: /start g-<slug> opens that guide in the member's language."""
    chat: Chat = new_chat("fr")
    replies = await chat.say("/start g-digital-security")
    assert replies[-1].startswith(guide(holder, "digital-security").version("fr").title)
    assert GuideRead(s="digital-security", p=0).pack() in [
        b.get("callback_data") for b in markup(chat)
    ]


@pytest.mark.parametrize(
    "payload",
    ["g-no-such-guide", "g-", "g-Digital-Security", "g-swit_", "g-" + "a" * 62, "g-../../x"],
)
async def test_unknown_or_malformed_guide_link_gets_the_menu(chat: Chat, payload: str) -> None:
    """R18: only existing slugs act; anything else gets a friendly message and the menu."""
    replies = await chat.say(f"/start {payload}")
    assert replies and "not available" in replies[0]
    assert Menu(section="guides").pack() in [b.get("callback_data") for b in markup(chat)]


def inline_update(telegram: FakeTelegram, person: dict[str, Any], query: str) -> dict[str, Any]:
    return telegram.update(
        inline_query={"id": "4242", "from": person, "query": query, "offset": ""}
    )


async def test_inline_query_answers_cards_in_the_askers_language(
    new_chat: Any, telegram: FakeTelegram, holder: LibraryHolder
) -> None:
    """@bot words: matching guide cards in Russian, personal, each opening the bot at the guide."""
    chat: Chat = new_chat("ru")
    await chat.feed(inline_update(telegram, chat.person, "digital security"))
    (call,) = telegram.sent("answerInlineQuery")
    assert str(call.params["is_personal"]).lower() == "true"
    assert int(call.params["cache_time"]) <= 30
    results = call.params["results"]
    assert 1 <= len(results) <= 50
    first = results[0]
    assert first["id"] in ("digital-security", "digital-security-community")
    assert first["title"] == guide(holder, first["id"]).version("ru").title
    (button,) = first["reply_markup"]["inline_keyboard"][0]
    assert button["url"] == f"https://t.me/community_guide_bot?start=g-{first['id']}"
    assert first["input_message_content"]["parse_mode"] == "HTML"


async def test_empty_inline_query_lists_top_guides(
    chat: Chat, telegram: FakeTelegram, holder: LibraryHolder
) -> None:
    """No words yet: the first guides in the library's order."""
    await chat.feed(inline_update(telegram, chat.person, ""))
    (call,) = telegram.sent("answerInlineQuery")
    ids = [r["id"] for r in call.params["results"]]
    assert ids == [g.slug for g in holder.current.guides[:50]]


# -- reload ------------------------------------------------------------------------------------
async def test_admin_reload_reports_counts_and_serves_new_content(
    new_chat: Any, settings: Settings, holder: LibraryHolder
) -> None:
    """A valid edit is live after /reload, with the counts reported."""
    en = settings.guides_dir / "swit" / "en.md"
    en.write_text(en.read_text().replace('title: "', 'title: "Revised: ', 1))
    admin: Chat = new_chat("en", user_id=ADMIN_ID)
    (reply,) = await admin.say("/reload")
    assert "20 guides" in reply and "101 language versions" in reply
    assert guide(holder, "swit").version("en").title.startswith("Revised: ")


async def test_reload_with_a_broken_file_keeps_old_content_and_tells_the_admin(
    new_chat: Any, settings: Settings, holder: LibraryHolder
) -> None:
    """Acceptance: the admin sees what is wrong (escaped); members still read the old guides."""
    before = holder.current
    en = settings.guides_dir / "swit" / "en.md"
    en.write_text(en.read_text() + "\n\nA <font>tag</font> and <b>an unclosed one\n")
    meta = settings.guides_dir / "cedaw" / "guide.yaml"
    meta.write_text(meta.read_text().replace("topics: [", "topics: [astrology, "))
    admin: Chat = new_chat("en", user_id=ADMIN_ID)
    (reply,) = await admin.say("/reload")
    assert "Not reloaded: 3 problems" in reply
    assert "guides/swit/en.md:" in reply and "'<font>'" in reply
    assert "unsupported HTML '<b>'" in reply
    assert "guides/cedaw/guide.yaml:2: unknown topic 'astrology'" in reply
    assert holder.current is before
    member: Chat = new_chat("en")
    await member.say("/guides")
    (page,) = await member.tap_data(GuideRead(s="swit", p=0).pack())
    assert guide(holder, "swit").version("en").pages[0].heading in page


async def test_many_problems_are_sent_in_several_messages(
    new_chat: Any, settings: Settings, telegram: FakeTelegram
) -> None:
    """Over 4,096 characters of problems: split between lines, every message accepted."""
    for path in settings.guides_dir.glob("*/*.md"):
        path.write_text(path.read_text().replace("review: draft", "review: unsure"))
    admin: Chat = new_chat("en", user_id=ADMIN_ID)
    replies = await admin.say("/reload")
    assert len(replies) >= 2
    assert sum(r.count("review: Input should be") for r in replies) == 101
    for call in telegram.sent("sendMessage", admin.chat_id):
        assert utf16_len(parse_html(call.params["text"])) <= 4096


async def test_reload_is_refused_to_members(
    chat: Chat, holder: LibraryHolder, settings: Settings
) -> None:
    """R23: deny by default; a member gets the ordinary unknown-command answer."""
    before = holder.current
    shutil.rmtree(settings.guides_dir / "swit")
    (reply,) = await chat.say("/reload")
    assert "don't know that command" in reply
    assert holder.current is before
