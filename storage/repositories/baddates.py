"""The bad-date report aggregate: reports, and finding them by code, member or update."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    BadDateReport,
    BadDateState,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    utcnow,
)
from storage.repositories.members import new_public_id

REPORT_PREFIX = "B-"
# Decided or erased: nothing more happens to the report, its retention clock runs.
FINISHED = (BadDateState.APPROVED, BadDateState.REJECTED, BadDateState.DELETED)
# Waiting for a decision: a staff button may still act on it.
UNDECIDED = (BadDateState.QUEUED, BadDateState.WAITING, BadDateState.DELIVERED)


class BadDateRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def new_code(self) -> str:
        while True:
            code = REPORT_PREFIX + new_public_id(5)
            if await self.by_code(code) is None:
                return code

    async def add(self, report: BadDateReport) -> BadDateReport:
        self.session.add(report)
        await self.session.flush()
        return report

    async def get(self, report_id: int) -> BadDateReport | None:
        return await self.session.get(BadDateReport, report_id)

    async def by_code(self, code: str) -> BadDateReport | None:
        return await self.session.scalar(select(BadDateReport).where(BadDateReport.code == code))

    async def by_update(self, update_id: int) -> BadDateReport | None:
        return await self.session.scalar(
            select(BadDateReport).where(BadDateReport.source_update_id == update_id)
        )

    async def of_member(self, member_id: int, code: str) -> BadDateReport | None:
        """The member's own report: callback data names a code, the member proves ownership."""
        return await self.session.scalar(
            select(BadDateReport).where(
                BadDateReport.code == code,
                BadDateReport.member_id == member_id,
                BadDateReport.state != BadDateState.DELETED,
            )
        )

    async def list_of_member(self, member_id: int, limit: int = 20) -> Sequence[BadDateReport]:
        rows = await self.session.scalars(
            select(BadDateReport)
            .where(
                BadDateReport.member_id == member_id,
                BadDateReport.state != BadDateState.DELETED,
            )
            .order_by(BadDateReport.id.desc())
            .limit(limit)
        )
        return rows.all()

    async def of_member_all(self, member_id: int) -> Sequence[BadDateReport]:
        rows = await self.session.scalars(
            select(BadDateReport).where(BadDateReport.member_id == member_id)
        )
        return rows.all()

    async def decide(
        self, report_id: int, state: BadDateState, now: dt.datetime | None = None
    ) -> bool:
        """Move an undecided report to `state`; False when it was decided (or erased) already.

        One conditional UPDATE: two presses of Approve, even on two instances at once, cannot
        both see the report undecided.
        """
        now = now or utcnow()
        result = await self.session.execute(
            update(BadDateReport)
            .where(BadDateReport.id == report_id, BadDateReport.state.in_(UNDECIDED))
            .values(state=state, decided_at=now, closed_at=now)
            .execution_options(synchronize_session=False)
        )
        changed = int(getattr(result, "rowcount", 0) or 0) == 1
        if changed:
            report = await self.get(report_id)
            if report is not None:
                await self.session.refresh(report)
        return changed

    async def erase(self, report: BadDateReport, now: dt.datetime | None = None) -> None:
        """The member's words and the staff's draft go; the row stays a tombstone."""
        report.body, report.alert_text = None, None
        report.state = BadDateState.DELETED
        report.closed_at = report.closed_at or now or utcnow()
        await self.session.flush()

    async def purge_closed(self, before: dt.datetime) -> int:
        result = await self.session.execute(
            delete(BadDateReport).where(
                BadDateReport.state.in_(FINISHED), BadDateReport.closed_at < before
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def cancel_owed(self, report_id: int) -> int:
        """Messages of the report not yet sent are never sent."""
        result = await self.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.report_id == report_id,
                OutboxMessage.state.in_((OutboxState.PENDING, OutboxState.WAITING)),
            )
            .values(state=OutboxState.CANCELLED)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def card_of(self, report_id: int) -> OutboxMessage | None:
        """The report's card as posted (its chat and message id), if it was."""
        return await self.session.scalar(
            select(OutboxMessage)
            .where(
                OutboxMessage.report_id == report_id,
                OutboxMessage.kind == OutboxKind.REPORT,
                OutboxMessage.state == OutboxState.SENT,
            )
            .order_by(OutboxMessage.id)
            .limit(1)
        )
