"""Small repositories over one AsyncSession. They never commit: the update's transaction does."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import InboxUpdate, Lease, Member, today, utcnow

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
