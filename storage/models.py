"""Tables. Store the minimum: no names, usernames, phone numbers or coordinates."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, DateTime, Integer, LargeBinary, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def today() -> dt.date:
    return utcnow().date()


class Member(Base):
    """A person chatting with the bot in private. `public_id` is the pseudonym networks see."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(12), unique=True)
    # Kept only because the bot must be able to send replies back.
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    language: Mapped[str | None] = mapped_column(String(8))
    # Dates, not timestamps: enough for retention, less to reveal.
    created_on: Mapped[dt.date] = mapped_column(Date, default=today)
    last_seen_on: Mapped[dt.date] = mapped_column(Date, default=today)


class InboxUpdate(Base):
    """An update received from Telegram, committed before it is acknowledged.

    The payload is sealed with the master key, so a member's words never reach the disk in the
    clear, and it is cleared once handled; the bare `update_id` stays a day to drop repeats.
    """

    __tablename__ = "inbox"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    handled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
