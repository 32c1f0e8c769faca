"""The network desk: saved answers, transfers between networks, and the rows the figures read.

Referral need, country and network are sealed: nothing here filters or groups on them. The
figures load a period's referrals and read those through the model's attributes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Direction, Referral, Relay, SavedAnswer, Transfer, utcnow
from storage.repositories.referrals import ReferralRepo


class DeskRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- saved answers ----------------------------------------------------------------------

    async def answers(self, network_id: str) -> Sequence[SavedAnswer]:
        rows = await self.session.scalars(
            select(SavedAnswer)
            .where(SavedAnswer.network_id == network_id)
            .order_by(SavedAnswer.name, SavedAnswer.language)
        )
        return rows.all()

    async def answer(self, network_id: str, name: str) -> dict[str, str]:
        """The answer's text by language; empty when the network has none by that name."""
        rows = await self.session.scalars(
            select(SavedAnswer).where(
                SavedAnswer.network_id == network_id, SavedAnswer.name == name
            )
        )
        return {row.language: row.text for row in rows}

    async def put_answer(self, network_id: str, name: str, language: str, text: str) -> bool:
        """Add or replace one language of an answer; True when it is new."""
        row = await self.session.scalar(
            select(SavedAnswer).where(
                SavedAnswer.network_id == network_id,
                SavedAnswer.name == name,
                SavedAnswer.language == language,
            )
        )
        if row is None:
            self.session.add(
                SavedAnswer(network_id=network_id, name=name, language=language, text=text)
            )
            await self.session.flush()
            return True
        row.text, row.updated_at = text, utcnow()
        return False

    async def delete_answer(self, network_id: str, name: str, language: str | None) -> int:
        query = delete(SavedAnswer).where(
            SavedAnswer.network_id == network_id, SavedAnswer.name == name
        )
        if language is not None:
            query = query.where(SavedAnswer.language == language)
        result = await self.session.execute(query)
        return int(getattr(result, "rowcount", 0) or 0)

    # -- transfers --------------------------------------------------------------------------

    async def add_transfer(self, transfer: Transfer) -> Transfer:
        self.session.add(transfer)
        await self.session.flush()
        return transfer

    async def draft_at(self, chat_hash: bytes, message_id: int) -> Transfer | None:
        """The transfer waiting for a note as a reply to this prompt."""
        return await self.session.scalar(
            select(Transfer).where(
                Transfer.prompt_chat_hash == chat_hash,
                Transfer.prompt_message_id == message_id,
                Transfer.done_at.is_(None),
            )
        )

    async def drop_drafts(self, referral_id: int) -> None:
        await self.session.execute(
            delete(Transfer).where(Transfer.referral_id == referral_id, Transfer.done_at.is_(None))
        )

    async def transfers_of(self, referral_id: int) -> Sequence[Transfer]:
        rows = await self.session.scalars(
            select(Transfer)
            .where(Transfer.referral_id == referral_id, Transfer.done_at.is_not(None))
            .order_by(Transfer.id)
        )
        return rows.all()

    async def transfer_after(self, referral_id: int, card_row_id: int) -> Transfer | None:
        """The transfer that took the request away from the card this outbox row posted."""
        return await self.session.scalar(
            select(Transfer)
            .where(
                Transfer.referral_id == referral_id,
                Transfer.done_at.is_not(None),
                Transfer.card_row_id > card_row_id,
            )
            .order_by(Transfer.id)
            .limit(1)
        )

    async def relay_counts(self, referral_id: int, before: dt.datetime) -> dict[Direction, int]:
        """How many messages were relayed each way before `before` (a transfer)."""
        rows = await self.session.execute(
            select(Relay.direction, func.count())
            .where(Relay.referral_id == referral_id, Relay.created_at <= before)
            .group_by(Relay.direction)
        )
        return {Direction(direction): int(n) for direction, n in rows.all()}

    # -- figures ----------------------------------------------------------------------------

    async def referrals_created(self, start: dt.datetime, end: dt.datetime) -> Sequence[Referral]:
        """Every request created in [start, end); the caller picks the network's own."""
        rows = await self.session.scalars(
            select(Referral)
            .where(Referral.created_at >= start, Referral.created_at < end)
            .order_by(Referral.id)
        )
        found = rows.all()
        # Their need, country and network are sealed with each member's own key (H1).
        await ReferralRepo(self.session).unlock(found)
        return found

    async def first_staff_replies(self, referral_ids: Sequence[int]) -> dict[int, dt.datetime]:
        """When staff first relayed a reply to the member, per request."""
        if not referral_ids:
            return {}
        rows = await self.session.execute(
            select(Relay.referral_id, func.min(Relay.created_at))
            .where(Relay.referral_id.in_(referral_ids), Relay.direction == Direction.TO_MEMBER)
            .group_by(Relay.referral_id)
        )
        return {int(rid): stamp for rid, stamp in rows.all()}

    async def transfers_among(self, referral_ids: Sequence[int]) -> Sequence[Transfer]:
        if not referral_ids:
            return []
        rows = await self.session.scalars(
            select(Transfer)
            .where(Transfer.referral_id.in_(referral_ids), Transfer.done_at.is_not(None))
            .order_by(Transfer.id)
        )
        return rows.all()
