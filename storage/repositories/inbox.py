"""The durable inbox of updates, committed before Telegram is told they arrived."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    InboxUpdate,
    utcnow,
)


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

    async def purge(self, handled_before: dt.datetime, received_before: dt.datetime) -> int:
        """Handled updates (a bare update_id kept to drop repeats) and any never handled."""
        result = await self.session.execute(
            delete(InboxUpdate).where(
                (InboxUpdate.handled_at.is_not(None) & (InboxUpdate.handled_at < handled_before))
                | (InboxUpdate.received_at < received_before)
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)
