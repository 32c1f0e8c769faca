"""Runs last (by name): no log record of the whole run held personal data (R28)."""

from __future__ import annotations

import logging

import pytest

from tests.log_guard import DATA, GUARD


def test_no_personal_data_in_any_log_record(request: pytest.FixtureRequest) -> None:
    """No Telegram id, username, name, message text or coordinates, at any level."""
    request.config._log_guard_reported = True  # type: ignore[attr-defined]
    assert not GUARD.findings, "\n".join(GUARD.findings[:20])


def test_the_guard_catches_a_leak() -> None:
    """The scan itself works: a record with a seeded id, name or text is caught."""
    DATA.learn_user({"id": 5999, "first_name": "Robin", "username": "robin_secret"})
    DATA.learn_message("my address is 12 Hidden Lane", {})
    before = len(GUARD.findings)
    log = logging.getLogger("tests.canary")
    log.debug("member %s", 5999)
    log.info("hello Robin")
    log.warning("user @robin_secret")
    log.error("text: my address is 12 Hidden Lane")
    log.info("update 5999 handled in 5999 ms")  # the id still counts; the timing does not
    log.info("Duration 5999 ms")  # a timing alone is not an id
    caught = GUARD.findings[before:]
    del GUARD.findings[before:]
    assert len(caught) == 5, caught
