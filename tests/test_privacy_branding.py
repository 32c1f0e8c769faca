"""Neutral branding: no organisation's name is hard-coded, so a deployment where the network's
name is dangerous (a 2025 designation in Russia, per the brief) can run under a neutral one."""

from __future__ import annotations

import re

import pytest

from bot.config import PROJECT_ROOT
from tests.fakes import Chat

NAMES = re.compile(r"NSWP|Global Network of Sex Work Projects", re.IGNORECASE)
# Links to the network's documents come from guide content; a maintainer template may show one.
URL = re.compile(r"https?://\S+")


def test_no_organisation_name_in_code_or_catalogs() -> None:
    """bot/ and the UI catalogs never name the network (links aside): ORG_NAME does."""
    files = [*(PROJECT_ROOT / "bot").rglob("*.py"), *(PROJECT_ROOT / "locales").rglob("*.po*")]
    hits = [
        f"{path.relative_to(PROJECT_ROOT)}:{n}: {line.strip()[:80]}"
        for path in files
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if NAMES.search(URL.sub("", line))
    ]
    assert not hits, "\n".join(hits)


@pytest.mark.settings(org_name="Health Notes")
async def test_a_neutral_name_runs_through_welcome_privacy_and_commands(
    chat: Chat, settings
) -> None:  # type: ignore[no-untyped-def]
    """Under a neutral ORG_NAME nothing the member sees names the network or the default."""
    from bot.telegram.commands import description, short_description

    seen = [*await chat.say("/start"), *await chat.tap("Privacy check-up")]
    while any(b.endswith("▶") for b in chat.buttons()):
        seen += await chat.tap("Next")
    seen += await chat.say("/privacy")
    seen += await chat.say("/help")
    assert "Health Notes" in seen[0]
    for text in seen:
        assert not NAMES.search(text) and "Community Guide Bot" not in text
    from aiogram.utils.i18n import I18n

    i18n = I18n(path=settings.locales_dir)
    with i18n.context(), i18n.use_locale("ru"):
        for text in (description(settings), short_description(settings)):
            assert "Health Notes" in text and not NAMES.search(text)
