"""Numbers and plurals through Babel everywhere (issue 14 item 7; tour [18]): no number reaches a
member formatted by hand. French groups thousands with a narrow no-break space (`2 000`), Arabic
plurals come from ngettext with their dual form (محاولتان, not "2 محاولتان")."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from bot.config import PROJECT_ROOT
from bot.ui.localise import FSI, PDI
from tests.fakes import Chat

TEMPLATE_CALLS = {"_", "gettext", "ngettext", "lazy_gettext"}
# Values that are counts, limits or positions: they must go through bot.ui.localise.fill.
NUMERIC_CALLS = {"len", "int", "round", "max", "min", "utf16_len", "sum"}
NUMERIC_NAME = re.compile(
    r"^(n|count|total|page|pages|limit|days|minutes|seconds|left|km|distance|tries)$"
    r"|_(count|limit|days|total|pages)$",
    re.IGNORECASE,
)


def numeric(value: ast.expr) -> bool:
    if isinstance(value, ast.Constant):
        return isinstance(value.value, int | float) and not isinstance(value.value, bool)
    if isinstance(value, ast.BinOp):  # page + 1, not "<b>" + name
        return numeric(value.left) or numeric(value.right)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
        return value.func.id in NUMERIC_CALLS
    name = (
        value.id
        if isinstance(value, ast.Name)
        else value.attr
        if isinstance(value, ast.Attribute)
        else ""
    )
    return bool(NUMERIC_NAME.search(name))


def template_call(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in TEMPLATE_CALLS
    )


def hand_formatted(path: Path) -> list[str]:
    """`_("…{n}…").format(n=count)` and f"{x:,}" in a module: numbers that skip Babel."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and template_call(node.func.value)
        ):
            found += [
                f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}: {kw.arg}"
                for kw in node.keywords
                if kw.value is not None and numeric(kw.value)
            ]
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            spec = ast.unparse(node.format_spec)
            if "," in spec or "_" in spec:
                found.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}: {spec}")
    return found


def test_issue14_7_no_hand_formatted_number_in_member_texts() -> None:
    """No UI template gets a number through str.format or a `:,` spec: fill() everywhere."""
    modules = [
        p
        for p in sorted((PROJECT_ROOT / "bot").rglob("*.py"))
        if "devtools" not in p.parts and p.name != "cli.py"
    ]
    problems = [problem for path in modules for problem in hand_formatted(path)]
    assert problems == []


def test_issue14_7_the_check_finds_a_hand_formatted_number(tmp_path: Path) -> None:
    """The scan above is not blind: it flags both forms it looks for."""
    sample = PROJECT_ROOT / "bot" / "_sample_numbers.py"
    try:
        sample.write_text(
            'a = _("{n} left").format(n=len(x))\nb = f"{limit:,}"\nc = _("{x}").format(x=name)\n',
            encoding="utf-8",
        )
        assert len(hand_formatted(sample)) == 2
    finally:
        sample.unlink()


# -- what members read ------------------------------------------------------------------------

# A number of four or more digits not grouped the member's way: 2000, 2,000 in French; a year
# (19xx, 20xx) is a date, written without grouping in every language.
UNGROUPED = re.compile(r"(?<![\d\w-])(?!(?:19|20)\d\d(?!\d))\d{4,}(?![\d\w])")
ENGLISH_GROUPING = re.compile(r"\d,\d{3}(?!\d)")
# A date or month written as data (2023-11, 2026-11-29), not as the member's language writes it.
ISO_DATE = re.compile(r"(?<![\w-])(?:19|20)\d\d-\d\d(?:-\d\d)?(?![\w-])")


def unformatted_numbers(text: str, lang: str) -> list[str]:
    """Numbers in `text` that Babel would not have written that way in `lang`."""
    # Tags, links and phone numbers (+254 20 5292624) are not amounts.
    plain = re.sub(r"<[^>]+>|https?://\S+|\+\d[\d ()-]{5,}\d|\d+(?: \d+){2,}", "", text)
    found = UNGROUPED.findall(plain) + ISO_DATE.findall(plain)
    if lang not in ("en", "zh", "ar"):  # these group with a comma, like English
        found += ENGLISH_GROUPING.findall(plain)
    return found


def test_the_number_scan_is_not_blind() -> None:
    assert unformatted_numbers("limite de 2,000 caractères", "fr") == ["2,000"]
    assert unformatted_numbers("4096 символов", "ru") == ["4096"]
    assert unformatted_numbers("Информация на 2023-11.", "ru") == ["2023-11"]
    assert unformatted_numbers("la limite est de 2\u202f000, en 2026", "fr") == []
    assert unformatted_numbers("R-4CPH2 · 2,000", "en") == []
    assert unformatted_numbers("☎️ +254 20 5292624 · 0800 60 60 60", "fr") == []


def first_button(chat: Chat, prefix: str) -> str:
    for button in chat.telegram.buttons(chat.chat_id, chat.last_bot_message()["message_id"]):
        if button.get("callback_data", "").startswith(prefix):
            return str(button["callback_data"])
    raise AssertionError(f"no {prefix} button in {chat.buttons()}")


@pytest.mark.settings(flood_limit=0)
@pytest.mark.parametrize(
    ("lang", "limit", "count"),
    [
        ("fr", "2\u202f000", "4\u202f096"),
        ("ru", "2\xa0000", "4\xa0096"),
        ("es", "2.000", "4.096"),
        ("ar", f"{FSI}2,000{PDI}", f"{FSI}4,096{PDI}"),
    ],
)
async def test_issue14_7_request_limits_in_the_members_locale(
    new_chat: Any, lang: str, limit: str, count: str
) -> None:
    """The write prompt and the over-long notice give 2 000 / 4 096 as Babel writes them;
    nothing the member reads has 2,000 by hand."""
    chat: Chat = new_chat(lang)
    seen = await chat.say("/ask")
    seen += await chat.tap_data(first_button(chat, "an:"))
    seen += await chat.say("Kenya")
    assert limit in seen[-1], seen[-1]
    replies = await chat.say(("x" * 63 + " ") * 63 + "x" * 64)  # 4,096 characters
    seen += replies
    assert limit in replies[0] and count in replies[0], replies[0]
    problems = [(t[:60], unformatted_numbers(t, lang)) for t in seen]
    assert [p for p in problems if p[1]] == []


@pytest.mark.settings(flood_limit=0)
async def test_tour_18_arabic_pin_tries_use_the_dual(new_chat: Any) -> None:
    """Wrong PINs in Arabic: 4 left (a number), then the dual alone (محاولتان), then one
    (محاولة واحدة); no "2 محاولتان"."""
    chat: Chat = new_chat("ar")
    await chat.say("/privacy")
    await chat.tap_data(first_button(chat, "pn:"))
    await chat.tap_data(first_button(chat, "pn:"))  # Set a PIN
    await chat.say("2468")
    await chat.say("2468")
    await chat.say("/requests")
    replies = []
    for _ in range(4):
        replies += await chat.say("1357")
    assert f"{FSI}4{PDI}" in replies[0] and f"{FSI}3{PDI}" in replies[1], replies
    assert "محاولتان" in replies[2] and "2" not in replies[2], replies[2]
    assert "محاولة واحدة" in replies[3] and "1" not in replies[3], replies[3]


def days(n: int) -> Any:
    return pytest.mark.settings(retention_days=n)


@pytest.mark.parametrize(
    ("lang", "phrase"),
    [
        pytest.param("ru", "через 21 день", marks=days(21)),
        pytest.param("ru", "через 90 дней", marks=days(90)),
        pytest.param("ar", "بعد يومين", marks=days(2)),
        pytest.param("ar", f"بعد {FSI}90{PDI} يومًا", marks=days(90)),
        pytest.param("ar", f"بعد {FSI}5{PDI} أيام", marks=days(5)),
        pytest.param("fr", "après 1 jour", marks=days(1)),
    ],
)
async def test_tour_18_retention_days_use_plural_forms(
    new_chat: Any, lang: str, phrase: str
) -> None:
    """/privacy says how long closed requests are kept with the language's plural (and no
    "90 дн." abbreviation)."""
    chat: Chat = new_chat(lang)
    (text,) = await chat.say("/privacy")
    assert phrase in text, text
    assert "дн." not in text
