"""Small repositories over one AsyncSession. They never commit: the update's transaction does."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import DataKeys, Sealer
from storage.keystore import SESSION_INFO_KEY as KEYSTORE
from storage.keystore import KeyStore
from storage.models import (
    InboxUpdate,
    Lease,
    Member,
    MemberKey,
    MemberSafety,
    MessageSighting,
    NetworkGroup,
    OutboxMessage,
    Referral,
    Relay,
    today,
    utcnow,
)

# Crockford's base32 without look-alikes, so staff can read a pseudonym aloud.
PSEUDONYM_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_public_id(length: int = 6) -> str:
    return "".join(secrets.choice(PSEUDONYM_ALPHABET) for _ in range(length))


class MemberRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, telegram_id: int) -> Member | None:
        return await self.session.scalar(select(Member).where(Member.telegram_id == telegram_id))

    async def get_or_create(self, telegram_id: int) -> tuple[Member, bool]:
        member = await self.get(telegram_id)
        if member is not None:
            if member.last_seen_on != today():
                member.last_seen_on = today()
            return member, False
        while True:
            public_id = new_public_id()
            taken = await self.session.scalar(
                select(Member.id).where(Member.public_id == public_id)
            )
            if taken is None:
                break
        member = Member(public_id=public_id, telegram_id=telegram_id)
        self.session.add(member)
        await self.session.flush()
        return member, True

    async def set_language(self, member: Member, language: str) -> None:
        member.language = language
        await self.session.flush()

    async def set_country(self, member: Member, country: str | None) -> None:
        member.country = country
        await self.session.flush()

    async def delete(self, member: Member) -> None:
        await self.session.delete(member)
        await self.session.flush()


class LeaseRepo:
    """Portable leases: a conditional UPDATE, or an INSERT that loses to a concurrent one."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def acquire(self, name: str, holder: str, ttl: dt.timedelta) -> bool:
        now = utcnow()
        result = await self.session.execute(
            update(Lease)
            .where(Lease.name == name, (Lease.holder == holder) | (Lease.until < now))
            .values(holder=holder, until=now + ttl)
        )
        if getattr(result, "rowcount", 0):
            return True
        if await self.session.get(Lease, name) is not None:
            return False
        try:
            async with self.session.begin_nested():
                self.session.add(Lease(name=name, holder=holder, until=now + ttl))
        except IntegrityError:
            return False
        return True

    async def release(self, name: str, holder: str) -> None:
        await self.session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


class InboxRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def known(self, update_ids: Sequence[int]) -> set[int]:
        if not update_ids:
            return set()
        rows = await self.session.scalars(
            select(InboxUpdate.update_id).where(InboxUpdate.update_id.in_(update_ids))
        )
        return set(rows)

    async def add(self, update_id: int, sealed_payload: bytes) -> None:
        self.session.add(InboxUpdate(update_id=update_id, payload=sealed_payload))

    async def pending(self, limit: int = 100, max_attempts: int = 5) -> Sequence[InboxUpdate]:
        rows = await self.session.scalars(
            select(InboxUpdate)
            .where(InboxUpdate.handled_at.is_(None), InboxUpdate.attempts < max_attempts)
            .order_by(InboxUpdate.update_id)
            .limit(limit)
        )
        return rows.all()

    async def backlog(self) -> tuple[int, dt.datetime | None]:
        """Updates waiting to be handled, and when the oldest of them arrived."""
        row = (
            await self.session.execute(
                select(func.count(), func.min(InboxUpdate.received_at)).where(
                    InboxUpdate.handled_at.is_(None)
                )
            )
        ).one()
        return int(row[0]), row[1]

    async def mark_handled(self, update_id: int) -> None:
        await self.session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.update_id == update_id)
            .values(handled_at=utcnow(), payload=None)
        )

    async def mark_failed(self, update_id: int) -> None:
        await self.session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.update_id == update_id)
            .values(attempts=InboxUpdate.attempts + 1)
        )

    async def purge_handled(self, older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
        result = await self.session.execute(
            delete(InboxUpdate).where(
                InboxUpdate.handled_at.is_not(None),
                InboxUpdate.handled_at < utcnow() - older_than,
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


# -- Referrals (issue 5) -----------------------------------------------------------------------

REFERRAL_PREFIX = "R-"


def new_referral_code(length: int = 5) -> str:
    return REFERRAL_PREFIX + new_public_id(length)


class KeyRepo:
    """Members' data keys. `/forget` calls `destroy`: their sealed texts become unreadable.

    The wrapped keys live in the key store the session carries (storage/keystore.py), apart
    from the main database, so that destroying one shreds old backups of the main database
    too; without a store, in the main database's `member_keys` table.
    """

    def __init__(self, session: AsyncSession, master: Sealer) -> None:
        self.session = session
        self.keys = DataKeys(master)
        self.store: KeyStore | None = session.info.get(KEYSTORE)

    async def get(self, member_id: int) -> Sealer | None:
        if self.store is not None:
            wrapped = await self.store.get(member_id)
        else:
            row = await self.session.get(MemberKey, member_id)
            wrapped = None if row is None else row.wrapped_key
        return None if wrapped is None else self.keys.unwrap(member_id, wrapped)

    async def get_or_create(self, member_id: int) -> Sealer:
        sealer = await self.get(member_id)
        if sealer is not None:
            return sealer
        sealer, wrapped = self.keys.create(member_id)
        if self.store is not None:
            kept = await self.store.put(member_id, wrapped)
            return sealer if kept == wrapped else self.keys.unwrap(member_id, kept)
        self.session.add(MemberKey(member_id=member_id, wrapped_key=wrapped))
        await self.session.flush()
        return sealer

    async def destroy(self, member_id: int) -> None:
        if self.store is not None:
            await self.store.destroy(member_id)
        await self.session.execute(delete(MemberKey).where(MemberKey.member_id == member_id))


class GroupRepo:
    """Which Telegram group serves which network."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, network_id: str) -> NetworkGroup | None:
        return await self.session.scalar(
            select(NetworkGroup).where(NetworkGroup.network_id == network_id)
        )

    async def active_chat(self, network_id: str) -> int | None:
        group = await self.get(network_id)
        return group.chat_id if group is not None and group.active else None

    async def bind(self, network_id: str, chat_id: int) -> None:
        group = await self.get(network_id)
        if group is None:
            self.session.add(NetworkGroup(network_id=network_id, chat_id=chat_id, active=True))
        else:
            group.chat_id, group.active, group.bound_at = chat_id, True, utcnow()
        await self.session.flush()

    async def networks_of(self, chat_id: int) -> list[str]:
        rows = await self.session.scalars(
            select(NetworkGroup.network_id).where(NetworkGroup.chat_id == chat_id)
        )
        return sorted(rows)

    async def unbind_chat(self, chat_id: int) -> list[str]:
        networks = await self.networks_of(chat_id)
        await self.session.execute(delete(NetworkGroup).where(NetworkGroup.chat_id == chat_id))
        return networks

    async def deactivate(self, chat_id: int) -> list[str]:
        networks = await self.networks_of(chat_id)
        await self.session.execute(
            update(NetworkGroup).where(NetworkGroup.chat_id == chat_id).values(active=False)
        )
        return networks

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> int:
        """A group became a supergroup: follow it to its new id."""
        result = await self.session.execute(
            update(NetworkGroup)
            .where(NetworkGroup.chat_id == old_chat_id)
            .values(chat_id=new_chat_id)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def all(self) -> Sequence[NetworkGroup]:
        return (await self.session.scalars(select(NetworkGroup))).all()


class ReferralRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def new_code(self) -> str:
        while True:
            code = new_referral_code()
            if await self.by_code(code) is None:
                return code

    async def add(self, referral: Referral) -> Referral:
        self.session.add(referral)
        await self.session.flush()
        return referral

    async def get(self, referral_id: int) -> Referral | None:
        return await self.session.get(Referral, referral_id)

    async def by_code(self, code: str) -> Referral | None:
        return await self.session.scalar(select(Referral).where(Referral.code == code))

    async def by_update(self, update_id: int) -> Referral | None:
        return await self.session.scalar(
            select(Referral).where(Referral.source_update_id == update_id)
        )

    async def of_member(self, member_id: int, code: str) -> Referral | None:
        """The member's own referral: callback data names a code, the member proves ownership."""
        return await self.session.scalar(
            select(Referral).where(
                Referral.code == code,
                Referral.member_id == member_id,
                Referral.state != "deleted",
            )
        )

    async def list_of_member(self, member_id: int, limit: int = 20) -> Sequence[Referral]:
        rows = await self.session.scalars(
            select(Referral)
            .where(Referral.member_id == member_id, Referral.state != "deleted")
            .order_by(Referral.id.desc())
            .limit(limit)
        )
        return rows.all()

    async def of_member_all(self, member_id: int) -> Sequence[Referral]:
        rows = await self.session.scalars(select(Referral).where(Referral.member_id == member_id))
        return rows.all()

    async def unclaimed_since(
        self, before: dt.datetime, column: str, limit: int = 100
    ) -> Sequence[Referral]:
        """Delivered, unclaimed referrals delivered before `before` whose `column` is unset."""
        stamp = getattr(Referral, column)
        rows = await self.session.scalars(
            select(Referral)
            .where(
                Referral.state == "delivered",
                Referral.delivered_at.is_not(None),
                Referral.delivered_at <= before,
                stamp.is_(None),
            )
            .order_by(Referral.id)
            .limit(limit)
        )
        return rows.all()

    async def relay_by_update(self, update_id: int) -> Relay | None:
        return await self.session.scalar(select(Relay).where(Relay.source_update_id == update_id))

    async def add_relay(self, relay: Relay) -> Relay:
        self.session.add(relay)
        await self.session.flush()
        return relay

    async def get_relay(self, relay_id: int) -> Relay | None:
        return await self.session.get(Relay, relay_id)

    async def clear_texts(self, referral: Referral) -> None:
        referral.body = None
        await self.session.execute(
            update(Relay).where(Relay.referral_id == referral.id).values(body=None)
        )


class OutboxRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enqueue(self, key: str, **fields: object) -> OutboxMessage | None:
        """Add a message unless one with this key exists (then None: it is already owed)."""
        if await self.session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)):
            return None
        row = OutboxMessage(key=key, **fields)
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, row_id: int) -> OutboxMessage | None:
        return await self.session.get(OutboxMessage, row_id)

    async def claim(
        self, owner: str, now: dt.datetime, lease: dt.timedelta, limit: int = 50
    ) -> Sequence[OutboxMessage]:
        """Lease due rows to one worker, never to two (R5).

        PostgreSQL locks the candidates FOR UPDATE SKIP LOCKED, so concurrent workers take
        disjoint rows. SQLite ignores FOR UPDATE, but runs the conditional UPDATE below under its
        single writer lock, so a row another worker leased meanwhile is not taken again.
        """
        due = (
            OutboxMessage.state == "pending",
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
        )
        ids = list(
            await self.session.scalars(
                select(OutboxMessage.id)
                .where(*due)
                .order_by(OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if not ids:
            return []
        token = f"{owner}:{secrets.token_hex(4)}"
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), *due)
            .values(lease_until=now + lease, lease_owner=token)
            .execution_options(synchronize_session=False)
        )
        rows = await self.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.lease_owner == token)
            .order_by(OutboxMessage.id)
            .execution_options(populate_existing=True)
        )
        return rows.all()

    async def release(self, owner: str | None = None) -> int:
        """Hand leases back (on shutdown; with `None`, every lease: a lone worker restarting)."""
        query = update(OutboxMessage).where(OutboxMessage.lease_until.is_not(None))
        if owner is not None:
            query = query.where(OutboxMessage.lease_owner.like(owner + ":%"))
        result = await self.session.execute(query.values(lease_until=None, lease_owner=None))
        return int(getattr(result, "rowcount", 0) or 0)

    async def next_due(self) -> dt.datetime | None:
        return await self.session.scalar(
            select(func.min(OutboxMessage.next_attempt_at)).where(OutboxMessage.state == "pending")
        )

    async def card_of(self, referral_id: int) -> OutboxMessage | None:
        """The referral's card as posted (its chat and message id), if it was."""
        return await self.session.scalar(
            select(OutboxMessage)
            .where(
                OutboxMessage.referral_id == referral_id,
                OutboxMessage.kind == "card",
                OutboxMessage.state == "sent",
            )
            .order_by(OutboxMessage.id)
            .limit(1)
        )

    async def posted(self, chat_id: int, message_id: int) -> OutboxMessage | None:
        """The outbox row that produced this message: what a reply was answering."""
        return await self.session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.sent_chat_id == chat_id, OutboxMessage.message_id == message_id
            )
        )

    async def cancel(self, referral_id: int, kinds: Sequence[str] | None = None) -> int:
        query = update(OutboxMessage).where(
            OutboxMessage.referral_id == referral_id,
            OutboxMessage.state.in_(("pending", "waiting")),
        )
        if kinds is not None:
            query = query.where(OutboxMessage.kind.in_(kinds))
        result = await self.session.execute(query.values(state="cancelled"))
        return int(getattr(result, "rowcount", 0) or 0)

    async def wake_waiting(self, now: dt.datetime) -> int:
        """A group was bound: cards parked for want of one, or given up on, are due now."""
        result = await self.session.execute(
            update(OutboxMessage)
            .where(
                (OutboxMessage.state == "waiting")
                | (
                    (OutboxMessage.state == "dead")
                    & OutboxMessage.kind.in_(("card", "escalation"))
                )
            )
            .values(state="pending", next_attempt_at=now, failures=0)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def count(self, state: str) -> int:
        return int(
            await self.session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == state)
            )
            or 0
        )

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> None:
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.sent_chat_id == old_chat_id)
            .values(sent_chat_id=new_chat_id)
        )


# -- Member safety (issue 6) -------------------------------------------------------------------


class SafetyRepo:
    """A member's safety settings, and the ids (never texts) of their recent messages."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def settings(self, member_id: int) -> MemberSafety | None:
        return await self.session.get(MemberSafety, member_id)

    async def settings_to_change(self, member_id: int) -> MemberSafety:
        row = await self.settings(member_id)
        if row is None:
            row = MemberSafety(member_id=member_id, discreet=False, protect=False, pin_failures=0)
            self.session.add(row)
            await self.session.flush()
        return row

    async def prefs(self, telegram_id: int) -> tuple[str | None, bool, bool] | None:
        """(language, discreet, protect) of the member behind a private chat, if any."""
        row = (
            await self.session.execute(
                select(Member.language, MemberSafety.discreet, MemberSafety.protect)
                .outerjoin(MemberSafety, MemberSafety.member_id == Member.id)
                .where(Member.telegram_id == telegram_id)
            )
        ).first()
        if row is None:
            return None
        return row[0], bool(row[1]), bool(row[2])

    async def member_ids(self, telegram_ids: Sequence[int]) -> dict[int, int]:
        """Telegram id -> internal member id, for those who are members."""
        if not telegram_ids:
            return {}
        rows = await self.session.execute(
            select(Member.telegram_id, Member.id).where(Member.telegram_id.in_(telegram_ids))
        )
        return {int(t): int(m) for t, m in rows}

    async def add_sightings(self, rows: Sequence[tuple[int, int, bool, dt.datetime]]) -> None:
        """(member id, message id, outgoing, seen at) rows."""
        self.session.add_all(
            MessageSighting(member_id=m, message_id=i, outgoing=o, seen_at=at)
            for m, i, o, at in rows
        )
        await self.session.flush()

    async def recent_message_ids(self, member_id: int, since: dt.datetime) -> list[int]:
        rows = await self.session.scalars(
            select(MessageSighting.message_id)
            .where(MessageSighting.member_id == member_id, MessageSighting.seen_at >= since)
            .distinct()
        )
        return sorted(rows)

    async def drop_sightings(self, member_id: int) -> None:
        await self.session.execute(
            delete(MessageSighting).where(MessageSighting.member_id == member_id)
        )

    async def purge_sightings(self, before: dt.datetime, member_id: int | None = None) -> int:
        query = delete(MessageSighting).where(MessageSighting.seen_at < before)
        if member_id is not None:
            query = query.where(MessageSighting.member_id == member_id)
        result = await self.session.execute(query)
        return int(getattr(result, "rowcount", 0) or 0)

    async def drop_settings(self, member_id: int) -> None:
        await self.session.execute(delete(MemberSafety).where(MemberSafety.member_id == member_id))
