"""Leases: one instance at a time for a named job."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Lease,
    utcnow,
)


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

    async def drop(self, name: str) -> None:
        """Whoever holds it: only for a process that knows it is the only one."""
        await self.session.execute(delete(Lease).where(Lease.name == name))
