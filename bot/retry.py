"""Which failures are worth waiting out: Telegram or the database being away, not the update."""

from __future__ import annotations

from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


def is_outage(exc: BaseException) -> bool:
    """The database is away or busy (not this update's fault): wait and try again."""
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout, OSError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def is_transient(exc: BaseException) -> bool:
    """Telegram is away or asks us to slow down, or the database is: retry the update later."""
    return isinstance(exc, (TelegramRetryAfter, TelegramServerError, TelegramNetworkError)) or (
        is_outage(exc)
    )


def error_kind(exc: BaseException) -> str:
    """A metrics label from a fixed set, whatever the exception says."""
    if isinstance(exc, TelegramRetryAfter):
        return "429"
    if isinstance(exc, TelegramServerError):
        return "5xx"
    if isinstance(exc, TelegramNetworkError):
        return "network"
    return "database" if is_outage(exc) else "other"
