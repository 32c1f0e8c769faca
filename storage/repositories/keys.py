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
