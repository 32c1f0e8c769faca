"""Members' data keys, in the key store or the main database."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import DataKeys, Sealer
from storage.keystore import SESSION_INFO_KEY as KEYSTORE
from storage.keystore import KeyStore
from storage.models import (
    MemberKey,
)
from storage.sealed import MASTER

# Session.info: the data keys this session unwrapped, by member id (None: no key).
_UNWRAPPED = "member-keys"


class KeyRepo:
    """Members' data keys. `/forget` calls `destroy`: their sealed texts become unreadable.

    The wrapped keys live in the key store the session carries (storage/keystore.py), apart
    from the main database, so that destroying one shreds old backups of the main database
    too; without a store, in the main database's `member_keys` table. A key is unwrapped once
    per session (the session is one update, or one delivery cycle).
    """

    def __init__(self, session: AsyncSession, master: Sealer) -> None:
        self.session = session
        self.keys = DataKeys(master)
        self.store: KeyStore | None = session.info.get(KEYSTORE)
        self._unwrapped: dict[int, Sealer | None] = session.info.setdefault(_UNWRAPPED, {})

    @classmethod
    def of(cls, session: AsyncSession) -> KeyRepo:
        """With the master key the session carries (storage.sealed.MASTER)."""
        master = session.info.get(MASTER)
        if not isinstance(master, Sealer):
            raise RuntimeError("this session carries no master key (storage.sealed.MASTER)")
        return cls(session, master)

    async def get(self, member_id: int) -> Sealer | None:
        if member_id in self._unwrapped:
            return self._unwrapped[member_id]
        if self.store is not None:
            wrapped = await self.store.get(member_id)
        else:
            row = await self.session.get(MemberKey, member_id)
            wrapped = None if row is None else row.wrapped_key
        sealer = None if wrapped is None else self.keys.unwrap(member_id, wrapped)
        self._unwrapped[member_id] = sealer
        return sealer

    async def get_or_create(self, member_id: int) -> Sealer:
        sealer = await self.get(member_id)
        if sealer is not None:
            return sealer
        sealer, wrapped = self.keys.create(member_id)
        if self.store is not None:
            kept = await self.store.put(member_id, wrapped)
            if kept != wrapped:
                sealer = self.keys.unwrap(member_id, kept)
        else:
            self.session.add(MemberKey(member_id=member_id, wrapped_key=wrapped))
            await self.session.flush()
        self._unwrapped[member_id] = sealer
        return sealer

    async def destroy(self, member_id: int) -> None:
        self._unwrapped[member_id] = None
        if self.store is not None:
            await self.store.destroy(member_id)
        await self.session.execute(delete(MemberKey).where(MemberKey.member_id == member_id))
