"""The desk's logic: which saved answer a member gets, moving a request to another network, and
the figures a network reports. Nothing here sends anything: what is owed to other chats is an
outbox row written in the update's transaction (R4), as in bot/referrals/service.py.

Referral need, country and network are sealed: they are read and written only through the
model's attributes (`referral.network_id`…), never in SQL.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import secrets
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.desk.answers import shared_answers
from bot.directory.model import GLOBAL, Directory
from bot.i18n import _
from bot.referrals.service import OPEN_STATES, Referrals
from bot.referrals.texts import network_label
from storage.crypto import Sealer
from storage.models import (
    Destination,
    Direction,
    OutboxKind,
    Referral,
    ReferralState,
    Transfer,
    utcnow,
)
from storage.repositories import DeskRepo, GroupRepo, KeyRepo, OutboxRepo, ReferralRepo
from storage.sealed import identity_of

# -- saved answers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Chosen:
    """The version of a saved answer a member gets."""

    language: str
    text: str
    fallback: bool  # not in the member's language: the network's default instead


def choose(texts: dict[str, str], wanted: str, defaults: Sequence[str]) -> Chosen | None:
    """The member's language, else the network's first language, else English, else any."""
    if not texts:
        return None
    if wanted in texts:
        return Chosen(wanted, texts[wanted], False)
    for language in (*defaults, "en", *sorted(texts)):
        if language in texts:
            return Chosen(language, texts[language], True)
    return None  # unreachable: texts is not empty


async def desk_network(session: AsyncSession, chat_id: int) -> str | None:
    """The network whose desk this group is: its only one, or the first that is not the
    fallback when one group serves several."""
    networks = await GroupRepo(session).networks_of(chat_id)
    regional = [n for n in networks if n != GLOBAL]
    return (regional or networks)[0] if networks else None


@dataclass(frozen=True)
class Found:
    owner: str  # the network whose answer it is ("global": the secretariat's)
    texts: dict[str, str]


async def find_answer(session: AsyncSession, app: App, network_id: str, name: str) -> Found | None:
    """The network's own answer, else the secretariat's (stored, then the shared files)."""
    desk = DeskRepo(session)
    for owner in dict.fromkeys((network_id, GLOBAL)):
        texts = await desk.answer(owner, name)
        if texts:
            return Found(owner, texts)
    shared = shared_answers(app.settings.guides_dir).get(name)
    return Found(GLOBAL, dict(shared.texts)) if shared is not None else None


async def answer_names(session: AsyncSession, app: App, network_id: str) -> list[str]:
    names = {a.name for a in await DeskRepo(session).answers(network_id)}
    names |= {a.name for a in await DeskRepo(session).answers(GLOBAL)}
    names |= set(shared_answers(app.settings.guides_dir))
    return sorted(names)


# -- transfers ---------------------------------------------------------------------------------


def note_aad(token: str) -> bytes:
    return b"transfer-note:" + token.encode()


def current_network(referral: Referral) -> str:
    """The network whose group has the request now ("" for a forgotten member's tombstone,
    whose network went with their key)."""
    return referral.group_network_id or referral.network_id or ""


class Refusal(StrEnum):
    SAME = "same"
    NO_GROUP = "no_group"
    CLOSED = "closed"
    UNKNOWN = "unknown"


class Transfers:
    """Moving a request to another network's group, inside one transaction."""

    def __init__(self, session: AsyncSession, app: App) -> None:
        self.session, self.app = session, app
        self.desk = DeskRepo(session)
        self.outbox = OutboxRepo(session)

    async def refusal(self, referral: Referral, to: str) -> Refusal | None:
        """Why the request cannot go to `to`; None when it can. Nothing changes either way."""
        if self.app.directory.network(to) is None:
            return Refusal.UNKNOWN
        if referral.state not in OPEN_STATES or referral.member_id is None:
            return Refusal.CLOSED
        if to == current_network(referral):
            return Refusal.SAME
        if await GroupRepo(self.session).active_chat(to) is None:
            return Refusal.NO_GROUP
        return None

    async def draft(self, referral: Referral, to: str, chat_id: int, message_id: int) -> None:
        """Remember the chosen network until the note arrives as a reply to the prompt."""
        await self.desk.drop_drafts(referral.id)
        transfer = Transfer(
            token=secrets.token_hex(8),
            referral_id=referral.id,
            prompt_chat_hash=identity_of(self.session).tag(chat_id),
            prompt_message_id=message_id,
        )
        transfer.to_network = to
        await self.desk.add_transfer(transfer)

    async def draft_at(self, chat_id: int, message_id: int) -> Transfer | None:
        return await self.desk.draft_at(identity_of(self.session).tag(chat_id), message_id)

    async def move(
        self, referral: Referral, to: str, note: str | None, draft: Transfer | None = None
    ) -> Refusal | Transfer:
        """Move the request: a new card in `to`'s group carrying the history, the old cards
        edited to say where it went, the member told. History stays in `referral_transfers`."""
        refused = await self.refusal(referral, to)
        if refused is not None:
            return refused
        assert referral.member_id is not None  # refusal() checked
        sealer = await KeyRepo(self.session, self.app.sealer).get_or_create(referral.member_id)
        transfer = draft or Transfer(token=secrets.token_hex(8), referral_id=referral.id)
        if draft is None:
            await self.desk.add_transfer(transfer)
        now = utcnow()
        transfer.from_network, transfer.to_network = current_network(referral), to
        transfer.note = sealer.seal(note.encode(), note_aad(transfer.token)) if note else None
        transfer.claimed_at, transfer.escalated_at = referral.claimed_at, referral.escalated_at
        transfer.prompt_chat_hash = transfer.prompt_message_id = None
        transfer.done_at = now
        await self.desk.drop_drafts(referral.id)

        referrals = Referrals(self.session, self.app)
        old_cards = await referrals.posted_cards(referral.id)
        # Cards, reminders and escalations not yet posted for the old group are not owed now.
        await self.outbox.cancel(
            referral.id, (OutboxKind.CARD, OutboxKind.REMINDER, OutboxKind.ESCALATION)
        )
        await ReferralRepo(self.session).set_network(referral, to)
        referral.state = ReferralState.QUEUED
        # The new group's clock starts now; what the first group did is kept on the transfer.
        referral.claimed_at = referral.reminded_at = referral.escalated_at = None
        card = await self.outbox.enqueue(
            f"card:{referral.id}:t{transfer.id}",
            referral_id=referral.id,
            destination=Destination.NETWORK,
            kind=OutboxKind.CARD,
        )
        transfer.card_row_id = card.id if card is not None else None
        for old in old_cards:
            await self.outbox.enqueue(
                f"edit:{old.id}:moved:{transfer.id}",
                referral_id=referral.id,
                destination=Destination.CARD,
                kind=OutboxKind.EDIT,
                params=json.dumps({"card": old.id}),
            )
        await self.outbox.enqueue(
            f"transferred:{transfer.id}",
            referral_id=referral.id,
            destination=Destination.MEMBER,
            kind=OutboxKind.TRANSFERRED,
        )
        return transfer


async def card_history(
    session: AsyncSession, directory: Directory, referral: Referral, sealer: Sealer | None
) -> tuple[str, ...]:
    """Lines for the card in the new group, in the current locale: where the request came
    from, the staff's note, and how many messages went back and forth before (counts only:
    the relayed words stay with the member and the group they were sent to)."""
    desk = DeskRepo(session)
    lines: list[str] = []
    for transfer in await desk.transfers_of(referral.id):
        source = network_label(directory, transfer.from_network or "")
        lines.append("↪️ " + _("Transferred here from {network}.").format(network=source))
        if transfer.note is not None and sealer is not None:
            try:
                note = sealer.open(transfer.note, note_aad(transfer.token)).decode()
            except (InvalidTag, ValueError):
                note = None
            if note:
                lines.append(_("Their note: {note}").format(note=note))
        if transfer.done_at is not None:
            counts = await desk.relay_counts(referral.id, transfer.done_at)
            lines.append(
                _(
                    "Before: {member} message(s) from the member, {staff} reply(ies) from staff."
                ).format(
                    member=counts.get(Direction.TO_GROUP, 0),
                    staff=counts.get(Direction.TO_MEMBER, 0),
                )
            )
    return tuple(lines)


# -- figures -----------------------------------------------------------------------------------

SMALL = 5  # a count from 1 to SMALL - 1 is shown as "<5"


def belongs(referral: Referral, network_id: str) -> bool:
    """A request counts for the network that has it now, or whose group holds its card (the
    fallback's, for networks without a group)."""
    try:
        return network_id in (referral.network_id, referral.group_network_id)
    except InvalidTag:
        return False


def _read(referral: Referral, attribute: str) -> str:
    try:
        value = getattr(referral, attribute)
    except InvalidTag:
        value = None
    return str(value) if value else "?"


def iso_week(stamp: dt.datetime) -> str:
    year, week, _day = stamp.isocalendar()
    return f"{year}-W{week:02d}"


def nearest_rank(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `share` of them at or
    below it."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


@dataclass
class Figures:
    network: str
    start: dt.date
    end: dt.date  # inclusive
    total: int = 0
    by_need: list[tuple[str, int]] = field(default_factory=list)
    by_country: list[tuple[str, int]] = field(default_factory=list)
    by_week: list[tuple[str, int]] = field(default_factory=list)
    answered: int = 0
    median_hours: float | None = None  # None: fewer than SMALL answered requests
    p90_hours: float | None = None
    open: int = 0
    overdue: int = 0
    escalated: int = 0
    withdrawn: int = 0
    closed: int = 0


def _ranked(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


async def figures(
    session: AsyncSession,
    network_id: str,
    start: dt.date,
    end: dt.date,
    *,
    overdue_after: dt.timedelta,
    now: dt.datetime | None = None,
) -> Figures:
    """Requests created from `start` to `end` (both included) that belong to the network.

    Time to first answer: from the request's creation to the first claim of its card, or the
    first staff reply relayed to the member, whichever came first (in any group that had it).
    Overdue: still open, with neither, longer than `overdue_after` (the group's reminder).
    States are as of `now`.
    """
    now = now or utcnow()
    desk = DeskRepo(session)
    window = await desk.referrals_created(
        dt.datetime.combine(start, dt.time()),
        dt.datetime.combine(end, dt.time()) + dt.timedelta(1),
    )
    mine = [r for r in window if belongs(r, network_id)]
    ids = [r.id for r in mine]
    replies = await desk.first_staff_replies(ids)
    earlier: dict[int, list[Transfer]] = {}
    for transfer in await desk.transfers_among(ids):
        earlier.setdefault(transfer.referral_id, []).append(transfer)
    result = Figures(network_id, start, end, total=len(mine))
    needs: Counter[str] = Counter()
    countries: Counter[str] = Counter()
    weeks: Counter[str] = Counter()
    waits: list[float] = []
    for referral in mine:
        needs[_read(referral, "need")] += 1
        countries[_read(referral, "country")] += 1
        weeks[iso_week(referral.created_at)] += 1
        moves = earlier.get(referral.id, [])
        firsts = [
            stamp
            for stamp in (
                referral.claimed_at,
                replies.get(referral.id),
                *(t.claimed_at for t in moves),
            )
            if stamp is not None
        ]
        if firsts:
            waits.append((min(firsts) - referral.created_at).total_seconds() / 3600)
        if referral.state in OPEN_STATES:
            result.open += 1
            if not firsts and now - referral.created_at > overdue_after:
                result.overdue += 1
        elif referral.state in (ReferralState.WITHDRAWN, ReferralState.DELETED):
            result.withdrawn += 1
        elif referral.state == ReferralState.CLOSED:
            result.closed += 1
        if referral.escalated_at is not None or any(t.escalated_at for t in moves):
            result.escalated += 1
    result.by_need, result.by_country = _ranked(needs), _ranked(countries)
    result.by_week = sorted(weeks.items())
    result.answered = len(waits)
    if len(waits) >= SMALL:
        result.median_hours = statistics.median(waits)
        result.p90_hours = nearest_rank(waits, 0.9)
    return result
