"""Members and their pseudonyms."""

from __future__ import annotations

import secrets

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Member,
    today,
)
from storage.sealed import identity_of

# Crockford's base32 without look-alikes, so staff can read a pseudonym aloud.
PSEUDONYM_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# Run for every update from a private chat: built once, so neither the statement nor its cache
# key is made again per update (issue 10).
_BY_TAG = select(Member).where(Member.telegram_hash == bindparam("tag"))


def new_public_id(length: int = 6) -> str:
    return "".join(secrets.choice(PSEUDONYM_ALPHABET) for _ in range(length))


class MemberRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def tag(self, telegram_id: int) -> bytes:
        """The keyed hash members are found by (H1): the id itself is never in a query."""
        return identity_of(self.session).tag(telegram_id)

    async def get(self, telegram_id: int) -> Member | None:
        return await self.session.scalar(_BY_TAG, {"tag": self.tag(telegram_id)})

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

    async def all_ids(self) -> set[int]:
        return set(await self.session.scalars(select(Member.id)))
