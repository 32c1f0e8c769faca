"""Settings read once from the environment (and an optional .env file)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"
LANGUAGES = ("en", "fr", "es", "ru", "zh", "ar")
TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{1,100}$")
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{32,256}$")


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    bot_token: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org"
    database_url: str = sqlite_url(VAR_DIR / "bot.sqlite3")
    redis_url: str | None = None
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    default_language: str = "en"
    org_name: str = "Community Guide Bot"
    log_level: str = "INFO"
    guides_dir: Path = PROJECT_ROOT / "guides"
    # Rendered guide pages kept between restarts; safe to delete. GUIDES_CACHE= (empty): none.
    guides_cache: Path | None = VAR_DIR / "cache" / "guides.json"
    locales_dir: Path = PROJECT_ROOT / "locales"
    master_key: SecretStr | None = None
    referral_remind_after: int = Field(default=24 * 3600, gt=0)
    referral_escalate_after: int = Field(default=72 * 3600, gt=0)
    # The outbox paces each staff group (R20): Telegram takes about 20 messages a minute in a
    # group. A burst of GROUP_BURST, then GROUP_MESSAGES_PER_MINUTE; 0 turns pacing off.
    group_messages_per_minute: float = Field(default=15.0, ge=0)
    group_burst: int = Field(default=5, gt=0)
    retention_days: int = Field(default=90, gt=0)
    # Approved alerts are deleted this many days after they went out (rows, and the messages
    # in members' chats where Telegram still allows it).
    alert_retention_days: int = Field(default=90, gt=0)
    # Broadcasts (alerts, news): messages per second overall (Telegram allows about 30; the
    # rest is left for answering members), and sends open at once. Each open send is one
    # member who may get a message twice (flagged) after a kill -9: 1 keeps that to one; raise
    # it only when the Bot API is so far away that one send at a time cannot reach the rate.
    broadcast_rate: float = Field(default=25.0, gt=0, le=1000)
    broadcast_lanes: int = Field(default=1, ge=1, le=64)
    # Members' data keys, kept apart from the main database (storage/keystore.py). Default:
    # beside an SQLite database file; with PostgreSQL, set it to a database backed up apart.
    keys_url: str | None = None
    # Webhook mode: Telegram posts to {webhook_url}/telegram with this secret in a header.
    webhook_url: str | None = None
    # At least 32 characters. Unset in webhook mode: generated once into var/webhook.secret (one
    # instance, or instances sharing var/; several separate instances need the same value set).
    webhook_secret: SecretStr | None = None
    # Seconds a client has to send a whole request (head, then body); also the idle keep-alive.
    webhook_read_timeout: float = Field(default=10.0, gt=0, le=300)
    # Open connections at most (a quarter of them per address outside Telegram's networks).
    webhook_max_connections: int = Field(default=100, ge=4, le=10000)
    # All interfaces: on a platform, its router sits in front and PORT is assigned.
    webhook_host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535)
    # Messages a member may send per minute before the flood guard steps in (0: no limit); a
    # button tap counts a quarter (bot/middlewares/throttle.py).
    flood_limit: int = Field(default=20, ge=0)
    # /exit's "Chat cleared" is itself a tell on an inspected phone: it deletes itself (I1).
    exit_leaves_no_trace: bool = True
    # A shared location lists services within this distance, or in the member's own country.
    nearest_max_km: int = Field(default=300, gt=0, le=5000)
    # Chats handled at once per instance. Handling mostly waits on Telegram, so this is well
    # above the core count; each takes at most one database connection at a time.
    max_concurrent_updates: int = Field(default=32, ge=1, le=1000)

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not TOKEN_RE.match(value.get_secret_value()):
            raise ValueError("expected the form 123456:ABC-def from @BotFather")
        return value

    @field_validator("telegram_api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("expected an http(s) URL such as https://api.telegram.org")
        return value.rstrip("/")

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        # It is the only authentication of an update (M7): long enough never to be guessed.
        if value is not None and not SECRET_RE.match(value.get_secret_value()):
            raise ValueError(
                "expected 32-256 characters of A-Z, a-z, 0-9, _ and - "
                "(or leave it unset to have one generated)"
            )
        return value

    @field_validator("webhook_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        # http:// only for a local Bot API server or a loopback test (the process warns).
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("expected the public https:// address of this service")
        return value.rstrip("/") if value else value

    @field_validator("database_url", "keys_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # Hosting platforms hand out postgres:// URLs; SQLAlchemy's async engine needs a driver.
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+asyncpg://" + value[len(prefix) :]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value[len("sqlite:///") :]
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("expected sqlite+aiosqlite:///path or postgresql+asyncpg://…")
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p for p in re.split(r"[,\s]+", value) if p]
            if not all(p.lstrip("-").isdigit() for p in parts):
                raise ValueError("expected Telegram user ids separated by commas")
            return frozenset(int(p) for p in parts)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("guides_cache", mode="before")
    @classmethod
    def _no_cache(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("default_language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"expected one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value

    @field_validator("org_name")
    @classmethod
    def _org_name(cls, value: str) -> str:
        value = value.strip()
        if not 1 <= len(value) <= 64:
            raise ValueError("expected 1 to 64 characters")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def load_settings(**overrides: object) -> Settings:
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "configuration"
        raise ConfigError(f"{name}: {first['msg']}") from None
