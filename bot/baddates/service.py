"""Bad-date reports: sealing, and every state change, inside the caller's transaction.

The member's answers are sealed with their own data key (as a referral's text), bound to the
report's code; the staff's rewritten alert text too, so /forget (which destroys the key) shreds
both. Everything owed to Telegram is an outbox row written in the same transaction (R4); the
caller rings the doorbell after the commit. Nothing here sends anything itself.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import unicodedata
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.baddates.callbacks import Harm, When
from bot.baddates.publish import publish
from storage.crypto import Sealer
from storage.models import (
    BadDateReport,
    BadDateState,
    Destination,
    Member,
    OutboxKind,
    utcnow,
)
from storage.repositories import BadDateRepo, KeyRepo, OutboxRepo
from storage.repositories.baddates import UNDECIDED

log = logging.getLogger(__name__)

# UTF-16 code units, as Telegram counts. The card shows the description and the alert text one
# under the other, with the area and the labels: well under 4,096 even at these limits.
AREA_LIMIT = 100
DESCRIPTION_LIMIT = 1200
ALERT_TEXT_LIMIT = 1500


def has_words(text: str) -> bool:
    """At least one letter or digit: a row of emoji or punctuation describes nobody."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


@dataclass(frozen=True)
class ReportBody:
    area: str
    when: When
    harms: tuple[Harm, ...]
    description: str
    support: bool

    def dump(self) -> bytes:
        return json.dumps(
            {
                "a": self.area,
                "w": self.when.value,
                "h": [h.value for h in self.harms],
                "d": self.description,
                "s": self.support,
            },
            ensure_ascii=False,
        ).encode()

    @classmethod
    def load(cls, raw: bytes) -> ReportBody:
        data = json.loads(raw)
        return cls(
            area=str(data["a"]),
            when=When(data["w"]),
            harms=tuple(Harm(h) for h in data["h"]),
            description=str(data["d"]),
            support=bool(data["s"]),
        )


@dataclass(frozen=True)
class Opened:
    """A report's sealed parts, opened; None where erased or shredded."""

    body: ReportBody | None = None
    alert_text: str | None = None


def body_aad(code: str) -> bytes:
    return b"bad-date:" + code.encode()


def alert_aad(code: str) -> bytes:
    return b"bad-date-alert:" + code.encode()


def open_report(sealer: Sealer | None, report: BadDateReport) -> Opened:
    if sealer is None:
        return Opened()
    body = text = None
    try:
        if report.body is not None:
            body = ReportBody.load(sealer.open(report.body, body_aad(report.code)))
        if report.alert_text is not None:
            text = sealer.open(report.alert_text, alert_aad(report.code)).decode()
    except (InvalidTag, ValueError, KeyError):
        log.warning("a bad-date report could not be opened")
    return Opened(body, text)


class BadDates:
    """Report changes inside one transaction; the caller commits, then rings the doorbell."""

    def __init__(self, session: AsyncSession, app: App) -> None:
        self.session, self.app = session, app
        self.reports = BadDateRepo(session)
        self.outbox = OutboxRepo(session)
        self.keys = KeyRepo(session, app.sealer)

    async def sealer_of(self, report: BadDateReport) -> Sealer | None:
        return await self.keys.get(report.member_id) if report.member_id is not None else None

    async def opened(self, report: BadDateReport) -> Opened:
        return open_report(await self.sealer_of(report), report)

    async def submit(
        self,
        member: Member,
        *,
        country: str,
        language: str,
        body: ReportBody,
        update_id: int | None,
    ) -> BadDateReport:
        """Store the report and its card's outbox row: one transaction (R4)."""
        if update_id is not None:
            earlier = await self.reports.by_update(update_id)
            if earlier is not None:
                return earlier  # the same consent tap, replayed after a crash
        sealer = await self.keys.get_or_create(member.id)
        code = await self.reports.new_code()
        network = self.app.directory.network_for(country)
        report = await self.reports.add(
            BadDateReport(
                code=code,
                member_id=member.id,
                country=country,
                network_id=network.id,
                language=language,
                body=sealer.seal(body.dump(), body_aad(code)),
                state=BadDateState.QUEUED,
                source_update_id=update_id,
            )
        )
        await self.outbox.enqueue(
            f"report:{report.id}",
            report_id=report.id,
            destination=Destination.NETWORK,
            kind=OutboxKind.REPORT,
        )
        return report

    async def set_alert_text(self, report: BadDateReport, text: str) -> bool:
        """Staff rewrote the alert; False once decided, erased, or its member forgotten."""
        sealer = await self.sealer_of(report)
        if report.state not in UNDECIDED or sealer is None:
            return False
        report.alert_text = sealer.seal(text.encode(), alert_aad(report.code))
        await self.session.flush()
        return True

    async def approve(self, report: BadDateReport, alert_text: str) -> bool:
        """Once: a second press (or a second instance) finds the report decided."""
        if not await self.reports.decide(report.id, BadDateState.APPROVED):
            return False
        report.alert_id = await publish(self.session, report, alert_text)
        await self._tell_member(report, "approved")
        return True

    async def reject(self, report: BadDateReport) -> bool:
        if not await self.reports.decide(report.id, BadDateState.REJECTED):
            return False
        await self._tell_member(report, "rejected")
        return True

    async def _tell_member(self, report: BadDateReport, outcome: str) -> None:
        if report.member_id is None:
            return
        await self.outbox.enqueue(
            f"report_note:{report.id}",
            report_id=report.id,
            destination=Destination.MEMBER,
            kind=OutboxKind.REPORT_NOTE,
            params=json.dumps({"o": outcome}),
        )

    async def delete(self, report: BadDateReport, now: dt.datetime | None = None) -> None:
        """The member takes the report back and erases it. Undecided: its card (if posted)
        is edited to say so, and a card not yet posted is never posted."""
        undecided = report.state in UNDECIDED
        await self.reports.cancel_owed(report.id)
        await self.reports.erase(report, now or utcnow())
        if not undecided:
            return
        card = await self.reports.card_of(report.id)
        if card is not None:
            await self.outbox.enqueue(
                f"report_edit:{card.id}:{report.state}",
                report_id=report.id,
                destination=Destination.CARD,
                kind=OutboxKind.REPORT_EDIT,
                params=json.dumps({"card": card.id}),
            )

    async def forget_member(self, member_id: int) -> int:
        """Before /forget deletes a member: every report of theirs is erased (their key is
        destroyed by the referrals' part of /forget). Returns how many."""
        reports = await self.reports.of_member_all(member_id)
        for report in reports:
            if report.state != BadDateState.DELETED:
                await self.delete(report)
        return len(reports)
