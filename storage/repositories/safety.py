"""Message ids and safety preferences of members' private chats."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Member,
    MemberSafety,
    MessageSighting,
)
from storage.sealed import identity_of

# Read before sends to members (discreet mode): built once (issue 10).
_PREFS = (
    select(Member.language, MemberSafety.discreet, MemberSafety.protect)
    .outerjoin(MemberSafety, MemberSafety.member_id == Member.id)
    .where(Member.telegram_hash == bindparam("tag"))
)
_SIGHTINGS: list[Any] = []


def _sightings_of_chats() -> Any:
    """Built once: it runs after every update from a private chat (issue 10)."""
    if not _SIGHTINGS:
        table = cast(Table, MessageSighting.__table__)
        members = cast(Table, Member.__table__)
        chosen = select(
            members.c.id,
            bindparam("message_id", type_=table.c.message_id.type),
            bindparam("outgoing", type_=table.c.outgoing.type),
            bindparam("seen_at", type_=table.c.seen_at.type),
        ).where(members.c.telegram_hash == bindparam("tag", type_=members.c.telegram_hash.type))
        # Core, not the ORM: one executemany, no primary keys read back.
        _SIGHTINGS.append(
            insert(table).from_select(["member_id", "message_id", "outgoing", "seen_at"], chosen)
        )
    return _SIGHTINGS[0]


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
        tag = identity_of(self.session).tag(telegram_id)
        row = (await self.session.execute(_PREFS, {"tag": tag})).first()
        if row is None:
            return None
        return row[0], bool(row[1]), bool(row[2])

    async def member_ids(self, telegram_ids: Sequence[int]) -> dict[int, int]:
        """Telegram id -> internal member id, for those who are members."""
        if not telegram_ids:
            return {}
        identity = identity_of(self.session)
        by_tag = {identity.tag(t): t for t in telegram_ids}
        rows = await self.session.execute(
            select(Member.telegram_hash, Member.id).where(Member.telegram_hash.in_(list(by_tag)))
        )
        return {by_tag[bytes(t)]: int(m) for t, m in rows}

    async def add_sightings(self, rows: Sequence[tuple[int, int, bool, dt.datetime]]) -> None:
        """(member id, message id, outgoing, seen at) rows."""
        if not rows:
            return
        # A Core insert: the broadcast worker stores one with every send (issue 16).
        await self.session.execute(
            insert(cast(Table, MessageSighting.__table__)),
            [
                {"member_id": m, "message_id": i, "outgoing": o, "seen_at": at}
                for m, i, o, at in rows
            ],
        )

    async def add_sightings_of_chats(
        self, rows: Sequence[tuple[int, int, bool, dt.datetime]]
    ) -> None:
        """(Telegram id, message id, outgoing, seen at) rows, in one statement: each is stored
        under its member's internal id, found by the keyed hash in the same statement; the
        rows of someone who is not (or no longer) a member store nothing."""
        if not rows:
            return
        tag = identity_of(self.session).tag
        statement = _sightings_of_chats()
        await self.session.execute(
            statement,
            [
                {"tag": tag(chat), "message_id": message, "outgoing": out, "seen_at": at}
                for chat, message, out, at in rows
            ],
        )

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
