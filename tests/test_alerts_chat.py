"""Issue 16 leftover: the terminal chat (`python -m bot chat`) runs the real bot's workers, so
an alert approved in the terminal reaches the member who asked for alerts there.

The chat runs as it does for a person: its own database, the demo staff group, lines read
from a thread; here the lines come from a script that waits for what the bot shows and taps
buttons by their label, as a person would.
"""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from bot.devtools import chat as terminal
from tests.conftest import make_settings

DESCRIPTION = "Tall man in a grey Toyota who refuses to pay."
STEPS_TIMEOUT = 120.0


class Script:
    """Types lines into the chat once the screen shows what a person would wait for."""

    def __init__(self, screen: io.StringIO) -> None:
        self.screen = screen
        self.failure: str | None = None
        self.mark = 0  # waits look at what came after the last line typed

    def shown(self) -> str:
        return self.screen.getvalue()

    def wait(self, *texts: str) -> str:
        """What the chat showed since the last line, once it holds one of `texts`."""
        deadline = time.monotonic() + STEPS_TIMEOUT
        while time.monotonic() < deadline:
            fresh = self.shown()[self.mark :]
            if any(text in fresh for text in texts):
                return fresh
            time.sleep(0.05)
        raise AssertionError(f"the chat never showed {texts!r}:\n{self.shown()[-3000:]}")

    def button(self, label: str) -> str:
        """`#N` for the last button on screen whose label holds `label`."""
        found = re.findall(r"\[(\d+)\] ([^\[\n]*)", self.wait(label))
        numbers = [n for n, text in found if label in text]
        assert numbers, (label, found)
        return "#" + numbers[-1]

    def say(self, text: str, after: str | None = None) -> Callable[[], str]:
        def step() -> str:
            if after is not None:
                self.wait(after)
            return text

        return step

    def tap(self, label: str) -> Callable[[], str]:
        return lambda: self.button(label)

    def country_saved_or_not(self) -> str:
        if "remember" in self.wait("remember", "Alerts: on"):
            return self.button("No, just this time")
        return "/alerts"

    def lines(self) -> list[Callable[[], str]]:
        return [
            self.say("/alerts"),
            self.tap("Get alerts"),
            self.say("Kenya", after="For which country?"),
            self.country_saved_or_not,
            self.say("/menu", after="Alerts: on, for Kenya."),
            self.tap("Report a bad date"),
            self.say("Kenya"),
            self.say("Westlands, Nairobi", after="In which town"),
            self.tap("Yesterday"),
            self.tap("Robbery"),
            self.tap("Continue"),
            self.say(DESCRIPTION, after="Describe the person"),
            self.tap("No, thank you"),
            self.tap("Send the report"),
            self.tap("Approve"),  # in the demo staff group: the chat taps it as staff
        ]

    def run(
        self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None], _prompt: str
    ) -> None:
        try:
            for step in self.lines():
                line = step()
                self.mark = len(self.shown())
                loop.call_soon_threadsafe(queue.put_nowait, line)
            # The alert, as the broadcast worker sends it, in the member's chat.
            self.wait("1 / 1 · 0 failed")
        except AssertionError as exc:
            self.failure = str(exc)
        loop.call_soon_threadsafe(queue.put_nowait, None)


def test_alert_approved_in_the_terminal_chat_reaches_its_subscriber(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = io.StringIO()
    script = Script(screen)
    monkeypatch.setattr(terminal, "CHAT_DB", tmp_path / "chat.sqlite3")
    # Ids no other test's update ids can collide with: the log guard learns every person's id
    # for the whole run (tests/log_guard.py), and "Update id=42" would then look like one.
    monkeypatch.setattr(terminal, "USER_ID", 9_100_042)
    monkeypatch.setattr(terminal, "STAFF", {**terminal.STAFF, "id": 9_104_242})
    monkeypatch.setattr(
        terminal, "Console", lambda **_kw: Console(file=screen, width=400, highlight=False)
    )
    monkeypatch.setattr(terminal, "read_lines", script.run)
    settings = make_settings(tmp_path, flood_limit=0)
    assert asyncio.run(terminal._chat(settings, "en")) == 0
    assert script.failure is None, script.failure
    shown = script.shown()
    after = shown[shown.rindex("you › #") :]  # what came after the tap on Approve
    # The alert as the broadcast worker sends it: its heading, the "what to do" footer; and
    # the group's progress message, finished.
    assert "Alert for" in after and "Kenya" in after, after[-3000:]
    assert "write /ask if you need support" in after
    assert "1 / 1 · 0 failed" in after
