"""Alerts and news: members' subscriptions, approved alerts, broadcast jobs and their progress."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterable, Sequence
from typing import NamedTuple, cast

from cryptography.exceptions import InvalidTag
from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Alert,
    Broadcast,
    BroadcastKind,
    BroadcastRecipient,
    BroadcastState,
    Member,
    RecipientState,
    Subscription,
    SubscriptionKind,
    today,
)
from storage.sealed import identity_of

ACTIVE = (BroadcastState.PLANNING, BroadcastState.RUNNING)


def new_ref() -> str:
    return secrets.token_hex(8)


def area_key(area: str) -> str:
    """Areas are compared as members and staff type them, without case or extra spaces."""
    return " ".join(area.casefold().split())


def areas_match(alert_areas: Iterable[str], wanted: Iterable[str]) -> bool:
    """An alert for no area reaches the whole country; a member who named no area gets all."""
    alert = {area_key(a) for a in alert_areas if area_key(a)}
    mine = {area_key(a) for a in wanted if area_key(a)}
    return not alert or not mine or bool(alert & mine)


class Target(NamedTuple):
    """One recipient as the broadcast worker sends to them."""

    member_id: int
    chat_id: int
    language: str | None
    discreet: bool
    protect: bool
    in_flight: bool  # left in flight by a crash: this send may be a repeat


class SubscriptionRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, member_id: int, kind: SubscriptionKind) -> Subscription | None:
        return await self.session.scalar(
            select(Subscription).where(
                Subscription.member_id == member_id, Subscription.kind == kind
            )
        )

    async def of_member(self, member_id: int) -> list[Subscription]:
        rows = await self.session.scalars(
            select(Subscription).where(Subscription.member_id == member_id)
        )
        return list(rows)

    async def subscribe(
        self, member_id: int, kind: SubscriptionKind, country: str, areas: Sequence[str] = ()
    ) -> Subscription:
        """Create or replace the member's subscription of this kind (and make it reachable)."""
        row = await self.get(member_id, kind)
        if row is None:
            row = Subscription(ref=new_ref(), member_id=member_id, kind=kind)
            self.session.add(row)
            await self.session.flush()
        row.country = country
        row.areas = json.dumps(list(areas), ensure_ascii=False)
        row.unreachable_on = None
        await self.session.flush()
        return row

    async def unsubscribe(self, member_id: int, kind: SubscriptionKind) -> bool:
        result = await self.session.execute(
            delete(Subscription).where(
                Subscription.member_id == member_id, Subscription.kind == kind
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def mark_unreachable(self, member_id: int) -> None:
        await self.session.execute(
            update(Subscription)
            .where(Subscription.member_id == member_id)
            .values(unreachable_on=today())
        )

    async def forget_member(self, member_id: int) -> None:
        await self.session.execute(delete(Subscription).where(Subscription.member_id == member_id))
        await self.session.execute(
            delete(BroadcastRecipient).where(BroadcastRecipient.member_id == member_id)
        )

    async def audience(
        self,
        kind: SubscriptionKind,
        *,
        countries: set[str] | None = None,
        areas: Sequence[str] = (),
        language: str | None = None,
    ) -> list[int]:
        """Member ids subscribed to `kind` for one of `countries` (None: any) and the areas.

        Countries are sealed, so they are opened here rather than compared in SQL: a copy of
        the database without the master key cannot group members by country.
        """
        identity = identity_of(self.session)
        query = (
            select(
                Subscription.member_id,
                Subscription.ref,
                Subscription.country_sealed,
                Subscription.areas_sealed,
            )
            .join(Member, Member.id == Subscription.member_id)
            .where(Subscription.kind == kind, Subscription.unreachable_on.is_(None))
            .order_by(Subscription.member_id)
        )
        if language is not None:
            query = query.where(Member.language == language)
        found: list[int] = []
        for member_id, ref, country_sealed, areas_sealed in await self.session.execute(query):
            try:
                if countries is not None:
                    if country_sealed is None:
                        continue
                    aad = f"subscription-country:{ref}".encode()
                    if identity.open_text(bytes(country_sealed), aad) not in countries:
                        continue
                if areas and areas_sealed is not None:
                    aad = f"subscription-areas:{ref}".encode()
                    mine = json.loads(identity.open_text(bytes(areas_sealed), aad) or "[]")
                    if not areas_match(areas, mine):
                        continue
            except (InvalidTag, ValueError):
                continue  # one unreadable row must not stop everyone's alert (M3)
            found.append(int(member_id))
        return found


class BroadcastRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- alerts -------------------------------------------------------------------------------

    async def alert_for_report(self, source_report_id: int) -> Alert | None:
        return await self.session.scalar(
            select(Alert).where(Alert.source_report_id == source_report_id)
        )

    async def add_alert(self, alert: Alert) -> Alert:
        self.session.add(alert)
        await self.session.flush()
        return alert

    async def broadcast_of_alert(self, alert_id: int) -> Broadcast | None:
        return await self.session.scalar(select(Broadcast).where(Broadcast.alert_id == alert_id))

    # -- jobs ---------------------------------------------------------------------------------

    async def add(self, broadcast: Broadcast) -> Broadcast:
        self.session.add(broadcast)
        await self.session.flush()
        return broadcast

    async def get(self, broadcast_id: int) -> Broadcast | None:
        return await self.session.get(Broadcast, broadcast_id)

    async def by_code(self, code: str) -> Broadcast | None:
        return await self.session.scalar(select(Broadcast).where(Broadcast.code == code))

    async def next_job(self) -> Broadcast | None:
        """Alerts before news, then the oldest first."""
        return await self.session.scalar(
            select(Broadcast)
            .where(Broadcast.state.in_(ACTIVE))
            .order_by((Broadcast.kind == BroadcastKind.NEWS).asc(), Broadcast.id)
            .limit(1)
        )

    async def active_count(self) -> int:
        return int(
            await self.session.scalar(
                select(func.count()).select_from(Broadcast).where(Broadcast.state.in_(ACTIVE))
            )
            or 0
        )

    async def add_recipients(self, broadcast_id: int, member_ids: Sequence[int]) -> int:
        """List the recipients once (the planning step); a member appears at most once."""
        known = set(
            await self.session.scalars(
                select(BroadcastRecipient.member_id).where(
                    BroadcastRecipient.broadcast_id == broadcast_id
                )
            )
        )
        rows = [
            {
                "broadcast_id": broadcast_id,
                "member_id": m,
                "state": RecipientState.PENDING,
                "attempts": 0,
                "repeat": False,
            }
            for m in dict.fromkeys(member_ids)
            if m not in known
        ]
        for start in range(0, len(rows), 1000):
            await self.session.execute(insert(BroadcastRecipient), rows[start : start + 1000])
        return len(rows)

    async def due(
        self, broadcast_id: int, now: dt.datetime, limit: int
    ) -> list[BroadcastRecipient]:
        """Recipients to send next, in order: those in flight after a crash come first."""
        rows = await self.session.scalars(
            select(BroadcastRecipient)
            .where(
                BroadcastRecipient.broadcast_id == broadcast_id,
                BroadcastRecipient.state.in_((RecipientState.PENDING, RecipientState.IN_FLIGHT)),
                (BroadcastRecipient.next_attempt_at.is_(None))
                | (BroadcastRecipient.next_attempt_at <= now),
            )
            .order_by(BroadcastRecipient.id)
            .limit(limit)
        )
        return list(rows)

    async def targets(self, recipient_ids: Sequence[int]) -> dict[int, Target]:
        """recipient id -> where and how to send, for a batch, in one query."""
        from storage.models import MemberSafety

        rows = await self.session.execute(
            select(
                BroadcastRecipient.id,
                BroadcastRecipient.state,
                Member,
                MemberSafety.discreet,
                MemberSafety.protect,
            )
            .join(Member, Member.id == BroadcastRecipient.member_id)
            .outerjoin(MemberSafety, MemberSafety.member_id == Member.id)
            .where(BroadcastRecipient.id.in_(list(recipient_ids)))
        )
        out: dict[int, Target] = {}
        for rid, state, member, discreet, protect in rows:
            try:
                chat = member.telegram_id
            except InvalidTag:
                continue  # one unreadable row must not stop the broadcast (M3)
            flying = RecipientState(state) == RecipientState.IN_FLIGHT
            out[int(rid)] = Target(
                member.id, chat, member.language, bool(discreet), bool(protect), flying
            )
        return out

    async def mark_in_flight(
        self, recipient_ids: Sequence[int], repeats: Sequence[int] = ()
    ) -> set[int]:
        """Before the sends: the rows still due are marked (those in flight before a crash
        also `repeat`); returns their ids (sent meanwhile, stopped or forgotten: left out)."""
        due = (RecipientState.PENDING, RecipientState.IN_FLIGHT)
        if repeats:
            await self.session.execute(
                update(BroadcastRecipient)
                .where(BroadcastRecipient.id.in_(list(repeats)), BroadcastRecipient.state.in_(due))
                .values(repeat=True)
            )
        result = await self.session.execute(
            update(BroadcastRecipient)
            .where(
                BroadcastRecipient.id.in_(list(recipient_ids)), BroadcastRecipient.state.in_(due)
            )
            .values(state=RecipientState.IN_FLIGHT, attempts=BroadcastRecipient.attempts + 1)
            .returning(BroadcastRecipient.id)
        )
        return {int(r) for r in result.scalars()}

    async def mark_sent(self, recipient_id: int, message_id: int, at: dt.datetime) -> None:
        # A Core update (no ORM bookkeeping): one of these follows every send.
        table = cast(Table, BroadcastRecipient.__table__)
        await self.session.execute(
            update(table)
            .where(table.c.id == recipient_id)
            .values(
                state=RecipientState.SENT, message_id=message_id, sent_at=at, next_attempt_at=None
            )
        )

    async def next_wait(self, broadcast_id: int) -> dt.datetime | None:
        """When the earliest deferred recipient is due (None: nobody is left waiting)."""
        return await self.session.scalar(
            select(func.min(BroadcastRecipient.next_attempt_at)).where(
                BroadcastRecipient.broadcast_id == broadcast_id,
                BroadcastRecipient.state.in_((RecipientState.PENDING, RecipientState.IN_FLIGHT)),
            )
        )

    async def remaining(self, broadcast_id: int) -> int:
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(BroadcastRecipient)
                .where(
                    BroadcastRecipient.broadcast_id == broadcast_id,
                    BroadcastRecipient.state.in_(
                        (RecipientState.PENDING, RecipientState.IN_FLIGHT)
                    ),
                )
            )
            or 0
        )

    async def backlog(self) -> tuple[int, dt.datetime | None]:
        """Members still to reach in running broadcasts, and when the oldest was queued."""
        row = (
            await self.session.execute(
                select(func.count(), func.min(Broadcast.created_at))
                .select_from(BroadcastRecipient)
                .join(Broadcast, Broadcast.id == BroadcastRecipient.broadcast_id)
                .where(
                    Broadcast.state.in_(ACTIVE),
                    BroadcastRecipient.state.in_(
                        (RecipientState.PENDING, RecipientState.IN_FLIGHT)
                    ),
                )
            )
        ).one()
        return int(row[0] or 0), row[1]

    async def recipient(self, recipient_id: int) -> BroadcastRecipient | None:
        return await self.session.get(BroadcastRecipient, recipient_id)

    async def counts(self, broadcast_id: int) -> dict[RecipientState, int]:
        rows = await self.session.execute(
            select(BroadcastRecipient.state, func.count())
            .where(BroadcastRecipient.broadcast_id == broadcast_id)
            .group_by(BroadcastRecipient.state)
        )
        return {RecipientState(state): int(n) for state, n in rows}

    async def skip_rest(self, broadcast_id: int) -> int:
        result = await self.session.execute(
            update(BroadcastRecipient)
            .where(
                BroadcastRecipient.broadcast_id == broadcast_id,
                BroadcastRecipient.state == RecipientState.PENDING,
            )
            .values(state=RecipientState.SKIPPED)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # -- retention ----------------------------------------------------------------------------

    async def expired(
        self, alerts_before: dt.datetime, news_before: dt.datetime
    ) -> list[Broadcast]:
        """Finished broadcasts past their retention (alerts and news have their own)."""
        rows = await self.session.scalars(
            select(Broadcast)
            .where(
                Broadcast.state.not_in((*ACTIVE, BroadcastState.EXPIRED)),
                ((Broadcast.kind == BroadcastKind.ALERT) & (Broadcast.created_at < alerts_before))
                | ((Broadcast.kind == BroadcastKind.NEWS) & (Broadcast.created_at < news_before)),
            )
            .order_by(Broadcast.id)
        )
        return list(rows)

    async def sent_messages(
        self, broadcast_id: int, since: dt.datetime, limit: int = 500
    ) -> list[tuple[int, int, int]]:
        """(recipient id, member's Telegram id, message id) of messages sent after `since`."""
        rows = await self.session.execute(
            select(
                BroadcastRecipient.id, BroadcastRecipient.member_id, BroadcastRecipient.message_id
            )
            .where(
                BroadcastRecipient.broadcast_id == broadcast_id,
                BroadcastRecipient.message_id.is_not(None),
                BroadcastRecipient.sent_at > since,
            )
            .order_by(BroadcastRecipient.id)
            .limit(limit)
        )
        found = list(rows)
        members = {
            m.id: m
            for m in await self.session.scalars(
                select(Member).where(Member.id.in_({int(r[1]) for r in found}))
            )
        }
        out: list[tuple[int, int, int]] = []
        for rid, member_id, message_id in found:
            member = members.get(int(member_id))
            if member is not None and message_id is not None:
                try:
                    out.append((int(rid), member.telegram_id, int(message_id)))
                except InvalidTag:
                    continue
        return out

    async def clear_message_ids(self, recipient_ids: Sequence[int]) -> None:
        if recipient_ids:
            await self.session.execute(
                update(BroadcastRecipient)
                .where(BroadcastRecipient.id.in_(list(recipient_ids)))
                .values(message_id=None)
            )

    async def drop(self, broadcast: Broadcast) -> None:
        """Delete the job, its recipients and its alert (rows deleted everywhere)."""
        await self.session.execute(
            delete(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == broadcast.id)
        )
        alert_id = broadcast.alert_id
        await self.session.delete(broadcast)
        if alert_id is not None:
            await self.session.execute(delete(Alert).where(Alert.id == alert_id))
        await self.session.flush()

    async def drop_old_alerts(self, before: dt.datetime) -> int:
        """Alerts past retention whose broadcast is gone (or never existed)."""
        result = await self.session.execute(
            delete(Alert).where(
                Alert.created_at < before,
                Alert.id.not_in(select(Broadcast.alert_id).where(Broadcast.alert_id.is_not(None))),
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)
