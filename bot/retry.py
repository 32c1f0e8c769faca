"""Which failures are worth waiting out: Telegram or the database being away, not the update."""

from __future__ import annotations

from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError, StatementError


def is_row_problem(exc: BaseException) -> bool:
    """The database refused this row (a value out of range, a broken constraint)."""
    if isinstance(exc, (DataError, IntegrityError)):
        return True
    return isinstance(exc, StatementError) and isinstance(
        exc.orig, (ValueError, OverflowError, TypeError)
    )


def is_outage(exc: BaseException) -> bool:
    """The database is away, full or busy ("too many clients", a lock, a restart), not this
    update's fault: wait and try again. Only what the database refused for the row itself is
    not an outage: guessing wrong the other way would set an update aside for good."""
    if isinstance(exc, OSError):
        return True
    return isinstance(exc, SQLAlchemyError) and not is_row_problem(exc)


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
