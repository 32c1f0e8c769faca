"""Tables. Store the minimum: no names, usernames, phone numbers or coordinates."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from storage.sealed import MemberSealed, SealedInt, SealedText, open_on_load

# Referral.facts_key: who holds the key to a referral's need, country and network.
FACTS_MEMBER = "member"
FACTS_MASTER = "master"


class ReferralState(StrEnum):
    QUEUED = "queued"  # stored, its card not yet posted
    WAITING = "waiting"  # no group bound for its network, nor a fallback
    DELIVERED = "delivered"
    CLAIMED = "claimed"
    ANSWERED = "answered"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"
    DELETED = "deleted"  # withdrawn and hidden from the member's list


class OutboxState(StrEnum):
    PENDING = "pending"
    WAITING = "waiting"  # no group bound yet: woken by /bind
    SENT = "sent"
    DEAD = "dead"
    CANCELLED = "cancelled"


class OutboxKind(StrEnum):
    CARD = "card"
    REMINDER = "reminder"
    ESCALATION = "escalation"
    RELAY = "relay"
    EDIT = "edit"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"
    ALERT = "alert"
    UNDELIVERED = "undelivered"  # a staff reply Telegram refused to pass to the member (L5)


class Destination(StrEnum):
    NETWORK = "network"  # the referral's network's group (or the fallback's)
    FALLBACK = "fallback"  # the global network's group
    CARD = "card"  # the group that holds the referral's card
    MEMBER = "member"
    ADMIN = "admin"


class Direction(StrEnum):
    TO_MEMBER = "to_member"
    TO_GROUP = "to_group"


class StrEnumColumn(TypeDecorator[Any]):
    """A StrEnum stored as its plain value in a VARCHAR, read back as the enum."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(self.enum(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


class Base(DeclarativeBase):
    pass


# Sealed columns are opened as rows load, so objects stay readable after their session.
open_on_load(Base)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def today() -> dt.date:
    return utcnow().date()


class Member(Base):
    """A person chatting with the bot in private. `public_id` is the pseudonym networks see."""

    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("telegram_hash", name="uq_members_telegram_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(12), unique=True)
    # H1: found by a keyed hash of the Telegram id; the id itself (needed to send replies
    # back) only sealed, bound to the pseudonym. Read and set `telegram_id` as usual.
    telegram_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    telegram_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    telegram_id = SealedInt[int](
        "telegram_sealed", "member-telegram", "public_id", "telegram_hash"
    )
    language: Mapped[str | None] = mapped_column(String(8))
    # Dates, not timestamps: enough for retention, less to reveal.
    created_on: Mapped[dt.date] = mapped_column(Date, default=today)
    last_seen_on: Mapped[dt.date] = mapped_column(Date, default=today)
    # -- services and networks (issue 4, migration 0002) --
    # ISO 3166-1 alpha-2; set only when the member said yes to "remember my country". Sealed.
    country_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    country = SealedText[str | None]("country_sealed", "member-country", "public_id")


class Lease(Base):
    """A named lease, so one instance at a time does a job (draining the inbox, a daily purge)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(40))
    until: Mapped[dt.datetime] = mapped_column(DateTime)


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
    # The keyed hash of the sender's Telegram id (as members.telegram_hash): /forget finds and
    # erases a member's updates still waiting here (M5).
    sender_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True)
    # -- concurrent intake (issue 10, migration 0007) --
    # A keyed hash of the chat (never its id): one chat's updates are handled in order, by one
    # instance at a time. Cleared once handled.
    chat_key: Mapped[int | None] = mapped_column(BigInteger)
    # When a failed update may be tried again (None: now); retries are measured in time.
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Failures that were not Telegram or the database being away (a bug, a refused request).
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # Set aside for good: the raw update stays sealed for an operator, nothing else waits on it.
    quarantined_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(String(60))

    __table_args__ = (Index("ix_inbox_chat", "chat_key", "update_id"),)


class InboxClaim(Base):
    """A chat whose updates one instance is handling; others leave it alone until `until`."""

    __tablename__ = "inbox_claims"

    chat_key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    holder: Mapped[str] = mapped_column(String(40))
    until: Mapped[dt.datetime] = mapped_column(DateTime)


class QuarantinedUpdate(Base):
    """An update that could not even enter the inbox (its id overflows, its body is not one):
    the raw body, sealed, for an operator; it is counted and admins are told, without content."""

    __tablename__ = "inbox_quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(String(60))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


# -- Referrals (issue 5): member data keys, bound groups, referrals, relays, the outbox --------


class MemberKey(Base):
    """A member's own data key, sealed by the master key (aad: the member id).

    Their referral texts and relayed messages are encrypted with it; deleting this row shreds
    them, even in an old backup, because the master key alone cannot open them.
    """

    __tablename__ = "member_keys"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_on: Mapped[dt.date] = mapped_column(Date, default=today)


class NetworkGroup(Base):
    """The staff group bound to a network with `/bind <network-id>` ("global": the fallback)."""

    __tablename__ = "network_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network_id: Mapped[str] = mapped_column(String(32), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    # False once Telegram refused a post (403, chat not found): requests then go to the fallback.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    bound_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # The staff's language for cards and answers in this group; None: DEFAULT_LANGUAGE.
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)


class Referral(Base):
    """A member's request to a network. Only `body` holds their words, sealed with their key.

    Need, country, network and the group's network are sealed with the member's own data key
    too (H1): a copy of the database, even with the master key, shows that a member asked
    something, not what, where or whom, once they have forgotten (their key destroyed). Load
    referrals through `ReferralRepo`, which opens these with the member's key.
    """

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    # SET NULL: after /forget the row is a tombstone the network can still see withdrawn.
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    # None on a tombstone: nothing left to say what was asked, where or of whom.
    need_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    need = MemberSealed[str | None]("need_sealed", "referral-need", "code")
    country_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    country = MemberSealed[str | None]("country_sealed", "referral-country", "code")
    language: Mapped[str] = mapped_column(String(8))
    network_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    network_id = MemberSealed[str | None]("network_sealed", "referral-network", "code")
    # The network whose group got the card (the fallback when the network had none).
    group_network_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    group_network_id = MemberSealed[str | None]("group_network_sealed", "referral-group", "code")
    # Which key sealed the four above: "member" (their data key), or "master" for rows written
    # before migration 0008 (under a key derived from the master key), re-sealed at start.
    facts_key: Mapped[str] = mapped_column(
        String(8), default=FACTS_MEMBER, server_default="master"
    )
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    state: Mapped[ReferralState] = mapped_column(
        StrEnumColumn(ReferralState, 12), default=ReferralState.QUEUED, index=True
    )
    # The consent tap's update: a replayed update finds its referral instead of making another.
    source_update_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Relay(Base):
    """One message relayed between staff and a member; the body is sealed with the member's key."""

    __tablename__ = "referral_relays"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[Direction] = mapped_column(StrEnumColumn(Direction, 10))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    # A repeated update (replayed after a crash) relays nothing twice.
    source_update_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class OutboxMessage(Base):
    """A message the delivery worker owes Telegram: sent at least once, or visibly `dead`.

    `key` is unique per (referral, destination, kind[, relay]), so enqueueing twice is harmless.
    Group destinations are resolved at send time, so a rebinding or a migration is followed.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_sent_message", "sent_chat_hash", "message_id"),
        Index("ix_outbox_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    referral_id: Mapped[int | None] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), index=True
    )
    relay_id: Mapped[int | None] = mapped_column(
        ForeignKey("referral_relays.id", ondelete="CASCADE")
    )
    destination: Mapped[Destination] = mapped_column(StrEnumColumn(Destination, 12))
    kind: Mapped[OutboxKind] = mapped_column(StrEnumColumn(OutboxKind, 12))
    # Only for admin alerts: members' chats are looked up at send time, never copied here.
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    # Small JSON (alert reasons, a request's code and network), sealed: a code and a network
    # side by side would tie a member's request to a network (H1).
    params_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    params = SealedText[str | None]("params_sealed", "outbox-params", "key", width=256)
    state: Mapped[OutboxState] = mapped_column(
        StrEnumColumn(OutboxState, 10), default=OutboxState.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # Set before a send, cleared when its outcome is known: still set after a crash means the
    # message may have arrived, so the next attempt is marked as a repeat.
    in_flight: Mapped[bool] = mapped_column(Boolean, default=False)
    repeat: Mapped[bool] = mapped_column(Boolean, default=False)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(32))
    # The chat it went to: a member's Telegram id, or a group's (which names the network).
    # Sealed, and found by its keyed hash (a reply to this message, /forget).
    sent_chat_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    sent_chat_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    sent_chat_id = SealedInt[int | None](
        "sent_chat_sealed", "outbox-chat", "key", "sent_chat_hash"
    )
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


# -- Member safety (issue 6): message ids for "Clear this chat", discreet mode, PIN ------------


class MessageSighting(Base):
    """The id of one message in a member's private chat, kept 48 hours so it can be deleted.

    Only ids and a time: never the text. Keyed by the member's internal id, not Telegram's.
    """

    __tablename__ = "message_ids"
    __table_args__ = (Index("ix_message_ids_member_seen", "member_id", "seen_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(BigInteger)
    outgoing: Mapped[bool] = mapped_column(Boolean)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class MemberSafety(Base):
    """A member's safety settings; no row means all off."""

    __tablename__ = "member_safety"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    # A neutral first line on every message, and relayed replies without sound.
    discreet: Mapped[bool] = mapped_column(Boolean, default=False)
    # protect_content on every message: no forwarding or saving.
    protect: Mapped[bool] = mapped_column(Boolean, default=False)
    # Salt + scrypt hash of the PIN, sealed by the master key (a DB leak alone cannot test PINs).
    pin: Mapped[bytes | None] = mapped_column(LargeBinary)
    pin_failures: Mapped[int] = mapped_column(Integer, default=0)
    pin_locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    pin_unlocked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
