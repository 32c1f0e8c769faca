"""R28: every log record of the whole test run, at every level, is checked for personal data.

A pytest plugin (loaded from conftest.py). It sets the root logger to DEBUG, learns what the
fake Telegram hands the bot as coming from people (ids, usernames, names, message texts,
coordinates) and the tests' secrets (the token, the master key), and scans each record as it
is emitted, tracebacks included. Each test fails on its own leak (the autouse fixture below);
the end of the session fails on a leak outside any test.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from bot.devtools.localapi import FakeTelegram

# Numbers that are timings, not ids ("Duration 5012 ms").
TIMINGS = re.compile(r"\b\d+(?:\.\d+)?\s*(?:ms|s|seconds)\b")
MIN_TEXT = 8  # shorter texts ("hi", "Kenya", "/start") would match innocent words
MIN_NAME = 3


class PersonalData:
    """What the fake Telegram delivered on behalf of people, as patterns to look for."""

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.words: set[str] = set()  # names: whole words
        self.strings: set[str] = set()  # usernames, texts, coordinates: anywhere
        self._pattern: re.Pattern[str] | None = None

    def learn_user(self, user: dict[str, Any]) -> None:
        if isinstance(user.get("id"), int):
            self.ids.add(user["id"])
        for key in ("first_name", "last_name"):
            value = user.get(key)
            if isinstance(value, str) and len(value) >= MIN_NAME:
                self._add(self.words, value)
        if isinstance(user.get("username"), str):
            self._add(self.strings, user["username"])

    def learn_message(self, text: str | None, extra: dict[str, Any]) -> None:
        if text and len(text) >= MIN_TEXT and not text.startswith("/"):
            self._add(self.strings, text)
        location = extra.get("location")
        if isinstance(location, dict):
            for key in ("latitude", "longitude"):
                value = location.get(key)
                if isinstance(value, int | float):
                    self._add(self.strings, str(value))
                    self._add(self.strings, f"{value:.4f}")

    def learn_secret(self, value: str) -> None:
        self._add(self.strings, value)

    def _add(self, bucket: set[str], value: str) -> None:
        if value not in bucket:
            bucket.add(value)
            self._pattern = None

    def pattern(self) -> re.Pattern[str] | None:
        if self._pattern is None and (self.words or self.strings):
            parts = [rf"\b{re.escape(w)}\b" for w in self.words]
            parts += [re.escape(s) for s in sorted(self.strings, key=len, reverse=True)]
            self._pattern = re.compile("|".join(parts))
        return self._pattern

    def find(self, text: str) -> list[str]:
        found = []
        pattern = self.pattern()
        if pattern is not None:
            found += [m.group(0) for m in pattern.finditer(text)]
        numbers = TIMINGS.sub(" ", text)
        found += [
            n for n in re.findall(r"(?<![\w.])-?\d+(?![\w.])", numbers) if int(n) in self.ids
        ]
        return found


class LogGuard(logging.Handler):
    def __init__(self, data: PersonalData) -> None:
        super().__init__(level=logging.DEBUG)
        self.data = data
        self.findings: list[str] = []
        self.test = ""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a broken format string is its own bug, not ours to judge
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        if record.stack_info:
            text += "\n" + record.stack_info
        found = self.data.find(text)
        if found:
            self.findings.append(
                f"{self.test}: {record.name} {record.levelname} logged {sorted(set(found))!r}: "
                f"{text[:300]!r}"
            )


DATA = PersonalData()
GUARD = LogGuard(DATA)


def _learning(fake: type[FakeTelegram]) -> None:
    original_message, original_tap = fake.user_message, fake.user_tap

    def user_message(
        self: FakeTelegram, user: dict[str, Any], text: str | None = None, *a: Any, **kw: Any
    ) -> dict[str, Any]:
        DATA.learn_user(user)
        DATA.learn_message(text, kw)
        return original_message(self, user, text, *a, **kw)

    def user_tap(self: FakeTelegram, user: dict[str, Any], *a: Any, **kw: Any) -> dict[str, Any]:
        DATA.learn_user(user)
        return original_tap(self, user, *a, **kw)

    fake.user_message = user_message  # type: ignore[method-assign]
    fake.user_tap = user_tap  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    import base64

    from tests.conftest import TOKEN

    # Secrets too: the token's secret half and the tests' master key.
    DATA.learn_secret(TOKEN.split(":", 1)[1])
    DATA.learn_secret(base64.urlsafe_b64encode(b"k" * 32).decode())
    _learning(FakeTelegram)
    root = logging.getLogger()
    root.addHandler(GUARD)
    # Everything, whatever level a deployment might choose.
    root.setLevel(logging.DEBUG)
    # markdown-it logs each block rule it tries while guides render: thousands of records per
    # run about the seed content, never about members, and formatting them costs seconds.
    logging.getLogger("markdown_it").setLevel(logging.INFO)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    GUARD.test = item.nodeid
    # caplog.set_level() in an earlier test restores the level it found; make sure it is DEBUG.
    logging.getLogger().setLevel(logging.DEBUG)


@pytest.fixture(autouse=True)
def no_personal_data_logged() -> Iterator[None]:
    """Each test fails on its own leak: no record it caused may hold personal data (R28)."""
    before = len(GUARD.findings)
    yield
    leaked = GUARD.findings[before:]
    if leaked:
        pytest.fail("personal data in the logs (R28):\n" + "\n".join(leaked[:20]), False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Records outside any test (collection, session fixtures) are scanned too."""
    if GUARD.findings:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("Personal data in the logs (R28):", red=True)
            for finding in GUARD.findings[:20]:
                reporter.write_line("  " + finding)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
