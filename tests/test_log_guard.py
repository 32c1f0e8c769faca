"""The personal-data log guard (tests/log_guard.py) itself: it catches what it must (R28).

Every test is checked by the guard's autouse fixture; this module only proves the scan works.
"""

from __future__ import annotations

import logging

from tests.log_guard import DATA, GUARD


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
