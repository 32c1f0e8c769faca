"""Configuration errors: one clear line naming the variable, exit code 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.config import ConfigError, load_settings
from tests.conftest import make_settings
from tests.process import PROCESS_TIMEOUT


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"BOT_TOKEN": "not a token"}, "BOT_TOKEN"),
        ({"ADMIN_IDS": "12,abc"}, "ADMIN_IDS"),
        ({"DEFAULT_LANGUAGE": "de"}, "DEFAULT_LANGUAGE"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"TELEGRAM_API_BASE": "ftp:/nowhere"}, "TELEGRAM_API_BASE"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ],
)
@pytest.mark.process
def test_malformed_setting_names_the_variable(env: dict[str, str], name: str) -> None:
    """Each bad variable gives one line with its name and exit code 2."""
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    assert proc.returncode == 2
    assert name in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.process
def test_missing_token_for_run() -> None:
    """`run` without BOT_TOKEN explains what is missing."""
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        cwd="/",
    )
    assert proc.returncode == 2
    assert "BOT_TOKEN" in proc.stderr


def test_postgres_urls_get_the_async_driver(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Hosting platforms' postgres:// URLs are rewritten for asyncpg."""
    s = make_settings(tmp_path, database_url="postgres://u:p@h/db")
    assert s.database_url == "postgresql+asyncpg://u:p@h/db"


def test_token_is_masked() -> None:
    """The token never shows in a repr or a log line."""
    s = load_settings(bot_token="123:secret-token-value", _env_file=None)
    assert "secret-token-value" not in repr(s)
    with pytest.raises(ConfigError):
        load_settings(admin_ids="x", _env_file=None)


@pytest.mark.process
def test_help_lists_commands() -> None:
    """`python -m bot --help` lists the subcommands."""
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--help"],
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    assert proc.returncode == 0
    for command in ("run", "chat", "db"):
        assert command in proc.stdout
