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
    Text,
    UniqueConstraint,
    false,
    text,
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
    TRANSFERRED = "transferred"  # the member told which network now has their request
    MEDIA = "media"  # a photo or voice note, copied from the chat it was sent in (issue 15)
    # -- bad-date reports (issue 16, migration 0013): rows with `report_id` --
    REPORT = "report"  # the moderation card in the network's group
    REPORT_EDIT = "report_edit"  # the card brought up to date (withdrawn by the member)
    REPORT_NOTE = "report_note"  # the member is told the outcome


class BadDateState(StrEnum):
    QUEUED = "queued"  # stored, its card not yet posted
    WAITING = "waiting"  # no group bound for its network, nor a fallback
    DELIVERED = "delivered"  # the card is in the group, waiting for a decision
    APPROVED = "approved"  # an alert went out (alerts-a's broadcast)
    REJECTED = "rejected"
    DELETED = "deleted"  # withdrawn and erased by the member (or /forget)


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
    # -- network desk (issue 15, migration 0011) --
    # Told, and agreed, that faces, tattoos and places in a photo identify people.
    photo_warned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


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

    __table_args__ = (
        Index("ix_inbox_chat", "chat_key", "update_id"),
        # Only the updates still waiting (migration 0014): handled ones stay a day.
        Index(
            "ix_inbox_pending",
            "update_id",
            sqlite_where=text("handled_at IS NULL AND quarantined_at IS NULL"),
            postgresql_where=text("handled_at IS NULL AND quarantined_at IS NULL"),
        ),
    )


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
    # A bad-date report's card, its edits and the member's note (migration 0013).
    report_id: Mapped[int | None] = mapped_column(
        ForeignKey("bad_date_reports.id", ondelete="CASCADE"), index=True
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


# -- Network desk (issue 15, migration 0010): saved answers, transfers --------------------------


class SavedAnswer(Base):
    """A network's saved answer in one language (`/saved` in its group). Staff content, no
    member data: it is stored in the clear like the network's binding."""

    __tablename__ = "saved_answers"
    __table_args__ = (
        UniqueConstraint("network_id", "name", "language", name="uq_saved_answers_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Transfer(Base):
    """A request moved from one network's group to another's, with the staff's note.

    Until `done_at` it is a draft: the group picked a network and the bot waits for a note, as
    a reply to its prompt (found by the chat's keyed hash and the prompt's message id). The
    networks are sealed like the referral's own (H1); the note with the member's key, like a
    relay. `claimed_at` and `escalated_at` keep what the first group did, for the figures.
    """

    __tablename__ = "referral_transfers"
    __table_args__ = (Index("ix_transfers_prompt", "prompt_chat_hash", "prompt_message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(16), unique=True)
    referral_id: Mapped[int] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), index=True
    )
    from_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    from_network = SealedText[str | None]("from_sealed", "transfer-from", "token")
    to_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    to_network = SealedText[str | None]("to_sealed", "transfer-to", "token")
    note: Mapped[bytes | None] = mapped_column(LargeBinary)
    prompt_chat_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    prompt_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # The outbox row of the card in the new group.
    card_row_id: Mapped[int | None] = mapped_column(Integer)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


# -- Alerts and news (issue 16, migration 0012): subscriptions, alerts, broadcasts ------------


class SubscriptionKind(StrEnum):
    ALERTS = "alerts"  # approved bad-date alerts for a country (and areas)
    NEWS = "news"  # networks' announcements (/announce)


class BroadcastKind(StrEnum):
    ALERT = "alert"
    NEWS = "news"


class BroadcastState(StrEnum):
    PLANNING = "planning"  # recorded; the worker has not listed its recipients yet
    RUNNING = "running"
    STOPPED = "stopped"  # staff pressed Stop: recipients not reached are left out
    DONE = "done"
    EXPIRED = "expired"  # past its retention: messages deleted where Telegram allows


class RecipientState(StrEnum):
    PENDING = "pending"
    # Marked (and committed) just before the send: still set after a crash, the message may
    # have arrived, so the next attempt is flagged as a repeat (R6, R35).
    IN_FLIGHT = "in_flight"
    SENT = "sent"
    FAILED = "failed"  # refused for good (a bad request) or too many failures
    UNREACHABLE = "unreachable"  # 403: the member blocked the bot
    SKIPPED = "skipped"  # the broadcast was stopped first


class Subscription(Base):
    """A member's wish to receive alerts for a country (and areas), or news.

    Keyed by the member's internal id; the country and areas are sealed (aad: `ref`), so a copy
    of the database without the master key does not say where a member works.
    """

    __tablename__ = "subscriptions"
    # One of each kind per member: choosing another country replaces the first.
    __table_args__ = (UniqueConstraint("member_id", "kind", name="uq_subscriptions"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(16), unique=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[SubscriptionKind] = mapped_column(StrEnumColumn(SubscriptionKind, 8))
    # ISO 3166-1 alpha-2 (None for news: every country of the member's networks).
    country_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    country = SealedText[str | None]("country_sealed", "subscription-country", "ref")
    # A JSON list of the areas the member named (empty: the whole country).
    areas_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    areas = SealedText[str | None]("areas_sealed", "subscription-areas", "ref", width=256)
    created_on: Mapped[dt.date] = mapped_column(Date, default=today)
    # A 403 from the member's chat: no more sends until they subscribe again (R9).
    unreachable_on: Mapped[dt.date | None] = mapped_column(Date)


class Alert(Base):
    """A bad-date alert as staff approved it. The text is sealed; nothing names the reporter."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    # The network and the country, sealed: its broadcast's recipient rows and its source report
    # lead a keyless reader from members to this row (H1, migration 0015).
    network_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    network_id = SealedText[str]("network_sealed", "alert-network", "code")
    country_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    country = SealedText[str]("country_sealed", "alert-country", "code")
    # JSON list of areas (empty: the whole country), and the text, sealed.
    areas_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    areas = SealedText[str]("areas_sealed", "alert-areas", "code", width=256)
    text_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    text = SealedText[str]("text_sealed", "alert-text", "code", width=256)
    language: Mapped[str] = mapped_column(String(8))
    # The keyed hash of the staff member who approved it (never their Telegram id).
    approved_by_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # One alert per report, however often Approve is pressed.
    source_report_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    # Deleted ALERT_RETENTION_DAYS after this (bot/safety/retention.py).
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class Broadcast(Base):
    """One durable sending job: an alert to its subscribers, or a network's news."""

    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_state", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[BroadcastKind] = mapped_column(StrEnumColumn(BroadcastKind, 8))
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), unique=True
    )
    # Whose it is and who gets it, sealed like the alert's (H1, migration 0015): audience is
    # JSON ({"country": "KE"} / {"language": "fr"} / {}: the network's countries). Its text,
    # sealed. Alerts read theirs from the alert.
    network_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    network_id = SealedText[str]("network_sealed", "broadcast-network", "code")
    audience_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    audience = SealedText[str | None]("audience_sealed", "broadcast-audience", "code", width=64)
    text_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    text = SealedText[str | None]("text_sealed", "broadcast-text", "code", width=256)
    language: Mapped[str | None] = mapped_column(String(8))
    state: Mapped[BroadcastState] = mapped_column(
        StrEnumColumn(BroadcastState, 10), default=BroadcastState.PLANNING
    )
    # The staff group's progress message ("1,234 / 5,000 · 0 failed"), its chat sealed.
    progress_chat_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    progress_chat_id = SealedInt[int | None]("progress_chat_sealed", "broadcast-chat", "code")
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class BroadcastRecipient(Base):
    """One member's progress in one broadcast: at most one row each, so at most one send."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "member_id", name="uq_broadcast_recipients"),
        Index("ix_broadcast_recipients_due", "broadcast_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[RecipientState] = mapped_column(
        StrEnumColumn(RecipientState, 12), default=RecipientState.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    repeat: Mapped[bool] = mapped_column(Boolean, default=False)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # The message in the member's chat, deleted when the alert expires (if Telegram allows).
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


# -- Bad-date reports (issue 16, migration 0013) ------------------------------------------------


class BadDateReport(Base):
    """A member's report of a dangerous client, moderated by a network before any alert.

    `body` (area, when, what happened, the description, whether they want support) is sealed
    with the member's own key, like a referral's; country and network are sealed too (H1). The
    staff's rewritten alert text is sealed with the same key. Who decided is never stored: the
    group sees it on the card.
    """

    __tablename__ = "bad_date_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    # SET NULL: after /forget the row is a tombstone the group still sees withdrawn.
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    country_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    country = SealedText[str]("country_sealed", "report-country", "code")
    network_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    network_id = SealedText[str]("network_sealed", "report-network", "code")
    # The network whose group got the card (the fallback when the network had none).
    group_network_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    group_network_id = SealedText[str | None]("group_network_sealed", "report-group", "code")
    language: Mapped[str] = mapped_column(String(8))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    alert_text: Mapped[bytes | None] = mapped_column(LargeBinary)
    state: Mapped[BadDateState] = mapped_column(
        StrEnumColumn(BadDateState, 10), default=BadDateState.QUEUED, index=True
    )
    # The consent tap's update: a replayed update finds its report instead of making another.
    source_update_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    # What publish_alert returned.
    alert_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
