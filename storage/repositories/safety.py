"""Message ids and safety preferences of members' private chats."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Member,
    MemberSafety,
    MessageSighting,
)


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
