"""The durable inbox of updates, committed before Telegram is told they arrived, as a queue:
batched inserts, per-chat claims, retry times, the quarantine.

Portable between SQLite and PostgreSQL: claims are one `INSERT … ON CONFLICT DO UPDATE … WHERE
the old claim expired … RETURNING`, so two instances racing for a chat cannot both win it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from cryptography.exceptions import InvalidTag
from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import Sealer
from storage.models import InboxClaim, InboxUpdate, OutboxMessage, QuarantinedUpdate, utcnow
from storage.sealed import MASTER, identity_of

# PostgreSQL's BIGINT: an update id past it cannot be a row, only a quarantined body.
MAX_UPDATE_ID = 2**63 - 1

# Rows sealed before the update_id was bound (I1): still opened, for a week at most.
LEGACY_AAD = b"inbox"


def inbox_aad(update_id: int) -> bytes:
    """A payload is bound to its update_id: rows swapped in the database fail to open (I1)."""
    return b"inbox:%d" % update_id


def open_payload(sealer: Sealer, update_id: int, payload: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag

    try:
        return sealer.open(payload, inbox_aad(update_id))
    except InvalidTag:
        return sealer.open(payload, LEGACY_AAD)


@dataclass(frozen=True)
class NewUpdate:
    """A received update as stored: keyed hashes of its chat and sender, its sealed body."""

    update_id: int
    chat_key: int
    sender_hash: bytes | None
    payload: bytes


@dataclass(frozen=True)
class Pending:
    """An update to handle: its sealed payload and how it fared so far."""

    update_id: int
    chat_key: int
    payload: bytes | None
    received_at: dt.datetime
    next_attempt_at: dt.datetime | None
    attempts: int
    failures: int


def _insert(session: AsyncSession, table: type[object]):  # type: ignore[no-untyped-def]
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


# The statements every update runs, built once (issue 10): built per call, constructing them
# and working out their cache key cost more than SQLite running them. Core on the table, not
# the ORM: no identity map to keep in step, no objects built.
_INBOX = cast(Table, InboxUpdate.__table__)
_MARK_HANDLED = (
    update(_INBOX)
    .where(_INBOX.c.update_id.in_(bindparam("ids", expanding=True)))
    .values(
        handled_at=bindparam("now", type_=_INBOX.c.handled_at.type),
        payload=None,
        chat_key=None,
        sender_hash=None,
        next_attempt_at=None,
    )
)
_ADD_NEW: dict[str, Any] = {}


def _add_new(dialect: str) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING, run once for many rows (executemany)."""
    statement = _ADD_NEW.get(dialect)
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = _ADD_NEW[dialect] = (
            insert(_INBOX)
            .on_conflict_do_nothing(index_elements=["update_id"])
            .returning(_INBOX.c.update_id)
        )
    return statement


class InboxRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- storing -------------------------------------------------------------------------------
    async def add_new(self, rows: Sequence[NewUpdate], now: dt.datetime) -> set[int]:
        """Insert rows (payloads sealed with `inbox_aad(update_id)`); repeats are skipped, not
        errors. Returns the update ids that were new."""
        if not rows:
            return set()
        dialect = self.session.bind.dialect.name if self.session.bind is not None else "sqlite"
        params = [
            {
                "update_id": row.update_id,
                "chat_key": row.chat_key,
                "sender_hash": row.sender_hash,
                "payload": row.payload,
                "received_at": now,
                "attempts": 0,
                "failures": 0,
            }
            for row in rows
        ]
        result = await self.session.execute(_add_new(dialect), params)
        return set(result.scalars().all())

    async def forget_sender(self, telegram_id: int) -> int:
        """/forget: every payload from this person is erased, waiting, failed or quarantined;
        bare update_ids stay to drop repeats (M5)."""
        result = await self.session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.sender_hash == identity_of(self.session).tag(telegram_id))
            .values(
                payload=None,
                sender_hash=None,
                chat_key=None,
                next_attempt_at=None,
                handled_at=utcnow(),
            )
        )
        erased = int(getattr(result, "rowcount", 0) or 0)
        return erased + await self._forget_set_aside(telegram_id)

    async def _forget_set_aside(self, telegram_id: int) -> int:
        """Bodies set aside unstored (no row, so no sender hash) that name this person as a
        sender or chat: opened one by one, there are only ever a few (M5)."""
        master = self.session.info.get(MASTER)
        if not isinstance(master, Sealer):
            return 0
        named = re.compile(rb'"id"\s*:\s*' + str(telegram_id).encode() + rb"(?![0-9])")
        theirs = []
        for row_id, payload in await self.session.execute(
            select(QuarantinedUpdate.id, QuarantinedUpdate.payload)
        ):
            try:
                raw = master.open(bytes(payload), LEGACY_AAD)
            except InvalidTag:
                continue
            if named.search(raw):
                theirs.append(row_id)
        if theirs:
            await self.session.execute(
                delete(QuarantinedUpdate).where(QuarantinedUpdate.id.in_(theirs))
            )
        return len(theirs)

    async def quarantine_body(self, sealed: bytes, reason: str, now: dt.datetime) -> None:
        self.session.add(QuarantinedUpdate(payload=sealed, reason=reason[:60], received_at=now))
        await self.session.flush()

    async def orphans(self, limit: int = 500) -> list[tuple[int, bytes | None]]:
        """Updates still waiting from before chats had keys (stored before migration 0007): no
        chat key, so no lane would ever take them. (update_id, payload), oldest first."""
        rows = await self.session.execute(
            select(InboxUpdate.update_id, InboxUpdate.payload)
            .where(
                InboxUpdate.chat_key.is_(None),
                InboxUpdate.handled_at.is_(None),
                InboxUpdate.quarantined_at.is_(None),
            )
            .order_by(InboxUpdate.update_id)
            .limit(limit)
        )
        return [(int(uid), payload) for uid, payload in rows]

    async def set_chat_key(self, update_id: int, chat_key: int) -> None:
        await self.session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.update_id == update_id, InboxUpdate.chat_key.is_(None))
            .values(chat_key=chat_key)
        )

    # -- claiming chats -------------------------------------------------------------------------
    async def due_chats(
        self, now: dt.datetime, exclude: set[int], limit: int, scan: int = 500
    ) -> list[int]:
        """Chats whose oldest pending update is due and that nobody holds, oldest first."""
        rows = await self.session.execute(
            select(InboxUpdate.chat_key, InboxUpdate.next_attempt_at)
            .where(InboxUpdate.handled_at.is_(None), InboxUpdate.quarantined_at.is_(None))
            .order_by(InboxUpdate.update_id)
            .limit(scan)
        )
        seen: set[int] = set()
        due: list[int] = []
        for chat_key, next_at in rows:
            if chat_key is None or chat_key in seen:
                continue
            seen.add(chat_key)  # only the chat's head decides: later updates wait behind it
            if chat_key not in exclude and (next_at is None or next_at <= now):
                due.append(chat_key)
        if not due:
            return []
        held = set(
            (
                await self.session.scalars(
                    select(InboxClaim.chat_key).where(
                        InboxClaim.chat_key.in_(due), InboxClaim.until > now
                    )
                )
            ).all()
        )
        return [c for c in due if c not in held][:limit]

    async def claim(
        self, chat_keys: Sequence[int], holder: str, now: dt.datetime, ttl: dt.timedelta
    ) -> list[int]:
        """Claim free or expired chats; returns those this holder now has."""
        if not chat_keys:
            return []
        insert = _insert(self.session, InboxClaim).values(
            [{"chat_key": c, "holder": holder, "until": now + ttl} for c in chat_keys]
        )
        statement = insert.on_conflict_do_update(
            index_elements=["chat_key"],
            set_={"holder": holder, "until": now + ttl},
            where=(InboxClaim.until < now) | (InboxClaim.holder == holder),
        ).returning(InboxClaim.chat_key)
        return list((await self.session.scalars(statement)).all())

    async def renew(
        self, chat_keys: Sequence[int], holder: str, now: dt.datetime, ttl: dt.timedelta
    ) -> set[int]:
        """Extend this holder's claims; the chats missing from the answer were lost."""
        if not chat_keys:
            return set()
        result = await self.session.scalars(
            update(InboxClaim)
            .where(InboxClaim.chat_key.in_(chat_keys), InboxClaim.holder == holder)
            .values(until=now + ttl)
            .returning(InboxClaim.chat_key)
        )
        return set(result.all())

    async def release(self, chat_keys: Sequence[int], holder: str) -> None:
        if chat_keys:
            await self.session.execute(
                delete(InboxClaim).where(
                    InboxClaim.chat_key.in_(chat_keys), InboxClaim.holder == holder
                )
            )

    async def release_all(self, holder: str | None) -> None:
        """This holder's claims; with None every claim (a lone poller restarting after a crash:
        polling has one instance by nature, a second one gets 409 from Telegram)."""
        query = delete(InboxClaim)
        if holder is not None:
            query = query.where(InboxClaim.holder == holder)
        await self.session.execute(query)

    async def pending_of(self, chat_keys: Sequence[int], per_chat: int = 50) -> list[Pending]:
        """The pending updates of these chats, in update_id order."""
        if not chat_keys:
            return []
        rows = await self.session.execute(
            select(
                InboxUpdate.update_id,
                InboxUpdate.chat_key,
                InboxUpdate.payload,
                InboxUpdate.received_at,
                InboxUpdate.next_attempt_at,
                InboxUpdate.attempts,
                InboxUpdate.failures,
            )
            .where(
                InboxUpdate.chat_key.in_(chat_keys),
                InboxUpdate.handled_at.is_(None),
                InboxUpdate.quarantined_at.is_(None),
            )
            .order_by(InboxUpdate.update_id)
            .limit(per_chat * len(chat_keys))
        )
        return [
            Pending(uid, key, payload, received, next_at, attempts, failures)
            for uid, key, payload, received, next_at, attempts, failures in rows
            if key is not None
        ]

    # -- outcomes ------------------------------------------------------------------------------
    async def mark_handled(self, update_ids: Sequence[int], now: dt.datetime) -> None:
        """The payload and the chat go at once; the bare id stays a day to drop repeats."""
        if update_ids:
            await self.session.execute(_MARK_HANDLED, {"ids": list(update_ids), "now": now})

    async def retry_later(
        self, update_id: int, at: dt.datetime, error: str, failed: bool = False
    ) -> None:
        values: dict[str, object] = {
            "next_attempt_at": at,
            "attempts": InboxUpdate.attempts + 1,
            "last_error": error[:60],
        }
        if failed:
            values["failures"] = InboxUpdate.failures + 1
        await self.session.execute(
            update(InboxUpdate).where(InboxUpdate.update_id == update_id).values(**values)
        )

    async def quarantine(self, update_id: int, error: str, now: dt.datetime) -> None:
        await self.session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.update_id == update_id)
            .values(quarantined_at=now, last_error=error[:60], chat_key=None)
        )

    # -- reporting -----------------------------------------------------------------------------
    async def backlog(self) -> tuple[int, dt.datetime | None]:
        """Updates waiting to be handled (quarantined ones are not waiting), and the oldest."""
        row = (
            await self.session.execute(
                select(func.count(), func.min(InboxUpdate.received_at)).where(
                    InboxUpdate.handled_at.is_(None), InboxUpdate.quarantined_at.is_(None)
                )
            )
        ).one()
        return int(row[0]), row[1]

    async def quarantined(self) -> int:
        inbox = await self.session.scalar(
            select(func.count())
            .select_from(InboxUpdate)
            .where(InboxUpdate.quarantined_at.is_not(None))
        )
        bodies = await self.session.scalar(select(func.count()).select_from(QuarantinedUpdate))
        return int(inbox or 0) + int(bodies or 0)

    async def outbox_backlog(self) -> tuple[int, dt.datetime | None]:
        row = (
            await self.session.execute(
                select(func.count(), func.min(OutboxMessage.created_at)).where(
                    OutboxMessage.state == "pending"
                )
            )
        ).one()
        return int(row[0]), row[1]

    async def purge(self, handled_before: dt.datetime, received_before: dt.datetime) -> int:
        """Handled updates (a bare update_id kept to drop repeats), any never handled, and
        quarantined bodies past the inbox's time limit."""
        result = await self.session.execute(
            delete(InboxUpdate).where(
                (InboxUpdate.handled_at.is_not(None) & (InboxUpdate.handled_at < handled_before))
                | (InboxUpdate.received_at < received_before)
            )
        )
        bodies = await self.session.execute(
            delete(QuarantinedUpdate).where(QuarantinedUpdate.received_at < received_before)
        )
        return int(getattr(result, "rowcount", 0) or 0) + int(getattr(bodies, "rowcount", 0) or 0)
