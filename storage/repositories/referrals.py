"""The referral aggregate: referrals, the staff groups they go to, and their outbox rows."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    FACTS_MASTER,
    FACTS_MEMBER,
    Direction,
    NetworkGroup,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    Referral,
    ReferralState,
    Relay,
    Transfer,
    utcnow,
)
from storage.repositories.keys import KeyRepo
from storage.repositories.members import new_public_id
from storage.sealed import identity_of, open_member, seal_member

log = logging.getLogger(__name__)

REFERRAL_PREFIX = "R-"


def new_referral_code(length: int = 5) -> str:
    return REFERRAL_PREFIX + new_public_id(length)


class GroupRepo:
    """Which Telegram group serves which network."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, network_id: str) -> NetworkGroup | None:
        return await self.session.scalar(
            select(NetworkGroup).where(NetworkGroup.network_id == network_id)
        )

    async def active_chat(self, network_id: str) -> int | None:
        group = await self.get(network_id)
        return group.chat_id if group is not None and group.active else None

    async def is_live(self, chat_id: int) -> bool:
        """Whether the chat is still the active group of some bound network."""
        live = await self.session.scalar(
            select(func.count())
            .select_from(NetworkGroup)
            .where(NetworkGroup.chat_id == chat_id, NetworkGroup.active.is_(True))
        )
        return bool(live)

    async def bind(self, network_id: str, chat_id: int, language: str | None = None) -> None:
        group = await self.get(network_id)
        if group is None:
            group = NetworkGroup(network_id=network_id, chat_id=chat_id, active=True)
            self.session.add(group)
        else:
            group.chat_id, group.active, group.bound_at = chat_id, True, utcnow()
        if language is not None:
            group.language = language
        elif group.language is None:
            group.language = await self.language_of(chat_id)  # the chat's earlier choice
        await self.session.flush()

    async def language_of(self, chat_id: int) -> str | None:
        """The language a group chose for its cards, or None (the deployment's default)."""
        return await self.session.scalar(
            select(NetworkGroup.language)
            .where(NetworkGroup.chat_id == chat_id, NetworkGroup.language.is_not(None))
            .limit(1)
        )

    async def set_language(self, chat_id: int, language: str) -> int:
        """Every network the group serves reads in `language` from now on."""
        result = await self.session.execute(
            update(NetworkGroup).where(NetworkGroup.chat_id == chat_id).values(language=language)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def networks_of(self, chat_id: int) -> list[str]:
        rows = await self.session.scalars(
            select(NetworkGroup.network_id).where(NetworkGroup.chat_id == chat_id)
        )
        return sorted(rows)

    async def unbind_chat(self, chat_id: int) -> list[str]:
        networks = await self.networks_of(chat_id)
        await self.session.execute(delete(NetworkGroup).where(NetworkGroup.chat_id == chat_id))
        return networks

    async def deactivate(self, chat_id: int) -> list[str]:
        networks = await self.networks_of(chat_id)
        await self.session.execute(
            update(NetworkGroup).where(NetworkGroup.chat_id == chat_id).values(active=False)
        )
        return networks

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> int:
        """A group became a supergroup: follow it to its new id."""
        result = await self.session.execute(
            update(NetworkGroup)
            .where(NetworkGroup.chat_id == old_chat_id)
            .values(chat_id=new_chat_id)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def all(self) -> Sequence[NetworkGroup]:
        return (await self.session.scalars(select(NetworkGroup))).all()


@dataclass(frozen=True)
class RequestFigure:
    """One request, for per-network figures: no code, no member, no text (see `figures`)."""

    network: str  # the network asked (by the member's country)
    group_network: str | None  # whose group got the card ("global": the fallback); None: none yet
    need: str
    country: str
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    claimed_at: dt.datetime | None
    first_answer_at: dt.datetime | None  # the first staff reply relayed to the member
    closed_at: dt.datetime | None


class ReferralRepo:
    """Referrals and their relays. Every loader opens the need, country and network with the
    member's own data key (H1) before returning, so callers read them as attributes; a
    tombstone (member forgotten, key destroyed) reads None for all four."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def unlock(self, referrals: Iterable[Referral]) -> None:
        """Open the sealed facts of referrals loaded some other way (session.get)."""
        keys = KeyRepo.of(self.session)
        for referral in referrals:
            if referral.facts_key == FACTS_MASTER:
                open_member(referral, None, identity_of(self.session))
                continue
            sealer = None
            if referral.member_id is not None:
                try:
                    sealer = await keys.get(referral.member_id)
                except InvalidTag:
                    # A key that cannot be unwrapped: this row reads as shredded, the others
                    # open as usual (M3); the outbox buries what it owes that member.
                    log.warning("a member's data key could not be unwrapped")
            open_member(referral, sealer)

    async def _one(self, referral: Referral | None) -> Referral | None:
        if referral is not None:
            await self.unlock((referral,))
        return referral

    async def _all(self, referrals: Sequence[Referral]) -> Sequence[Referral]:
        await self.unlock(referrals)
        return referrals

    async def new_code(self) -> str:
        while True:
            code = new_referral_code()
            if await self.session.scalar(select(Referral.id).where(Referral.code == code)) is None:
                return code

    async def add(self, referral: Referral) -> Referral:
        """Store a new referral, its facts sealed with its member's data key (created if the
        member has none yet)."""
        if referral.member_id is None:
            raise ValueError("a new referral belongs to a member")
        sealer = await KeyRepo.of(self.session).get_or_create(referral.member_id)
        referral.facts_key = FACTS_MEMBER
        seal_member(referral, sealer)
        self.session.add(referral)
        await self.session.flush()
        return referral

    async def set_group_network(self, referral: Referral, network_id: str | None) -> None:
        """Record whose group got the card (sealed with the member's key, like the rest);
        nothing to record once the member is gone."""
        if referral.facts_key == FACTS_MASTER:
            await self.reseal(referral)
        sealer = (
            await KeyRepo.of(self.session).get(referral.member_id)
            if referral.member_id is not None
            else None
        )
        if sealer is None:
            return
        referral.group_network_id = network_id
        seal_member(referral, sealer)

    async def set_network(self, referral: Referral, network_id: str) -> None:
        """A transfer (bot/desk): the request belongs to another network from now on, its
        card not yet posted there; sealed with the member's key like the rest."""
        if referral.facts_key == FACTS_MASTER:
            await self.reseal(referral)
        sealer = (
            await KeyRepo.of(self.session).get(referral.member_id)
            if referral.member_id is not None
            else None
        )
        if sealer is None:
            raise ValueError("a forgotten member's request cannot move")
        referral.network_id, referral.group_network_id = network_id, None
        seal_member(referral, sealer)

    async def drop_facts(self, referral: Referral) -> None:
        """/forget: the tombstone keeps its code, state and dates; no need, country, network."""
        referral.need_sealed = referral.country_sealed = None
        referral.network_sealed = referral.group_network_sealed = None
        referral.facts_key = FACTS_MEMBER

    async def reseal(self, referral: Referral) -> bool:
        """Move one referral's facts from the master-derived key to its member's data key."""
        if referral.facts_key != FACTS_MASTER:
            return False
        open_member(referral, None, identity_of(self.session))
        facts = {
            "need": referral.need,
            "country": referral.country,
            "network_id": referral.network_id,
            "group_network_id": referral.group_network_id,
        }
        if referral.member_id is None:
            await self.drop_facts(referral)
            return True
        try:
            sealer = await KeyRepo.of(self.session).get_or_create(referral.member_id)
        except InvalidTag:
            log.warning("a member's data key could not be unwrapped: a referral stays as it was")
            return False
        for name, value in facts.items():
            setattr(referral, name, value)
        referral.facts_key = FACTS_MEMBER
        seal_member(referral, sealer)
        return True

    async def reseal_master_facts(self, batch: int = 500) -> int:
        """Every referral still sealed the pre-0008 way, moved (at start, after the key store
        is open: the migration cannot reach it). Returns how many."""
        moved, after = 0, 0
        while True:
            rows = (
                await self.session.scalars(
                    select(Referral)
                    .where(Referral.facts_key == FACTS_MASTER, Referral.id > after)
                    .order_by(Referral.id)
                    .limit(batch)
                )
            ).all()
            for referral in rows:
                moved += await self.reseal(referral)
                after = referral.id
            await self.session.flush()
            if len(rows) < batch:
                break
        if moved:
            log.info("sealed the facts of %d referrals with their members' keys", moved)
        return moved

    async def get(self, referral_id: int) -> Referral | None:
        return await self._one(await self.session.get(Referral, referral_id))

    async def by_code(self, code: str) -> Referral | None:
        return await self._one(
            await self.session.scalar(select(Referral).where(Referral.code == code))
        )

    async def by_update(self, update_id: int) -> Referral | None:
        return await self._one(
            await self.session.scalar(
                select(Referral).where(Referral.source_update_id == update_id)
            )
        )

    async def of_member(self, member_id: int, code: str) -> Referral | None:
        """The member's own referral: callback data names a code, the member proves ownership."""
        return await self._one(
            await self.session.scalar(
                select(Referral).where(
                    Referral.code == code,
                    Referral.member_id == member_id,
                    Referral.state != ReferralState.DELETED,
                )
            )
        )

    async def list_of_member(self, member_id: int, limit: int = 20) -> Sequence[Referral]:
        rows = await self.session.scalars(
            select(Referral)
            .where(Referral.member_id == member_id, Referral.state != ReferralState.DELETED)
            .order_by(Referral.id.desc())
            .limit(limit)
        )
        return await self._all(rows.all())

    async def of_member_all(self, member_id: int) -> Sequence[Referral]:
        rows = await self.session.scalars(select(Referral).where(Referral.member_id == member_id))
        return await self._all(rows.all())

    async def figures(
        self, start: dt.datetime, end: dt.datetime, network: str | None = None
    ) -> list[RequestFigure]:
        """Requests created in [start, end), opened with their members' keys: the one source
        for per-network figures (/stats). `network`: only requests to that network (asked of
        it, or carded in its group). Requests of members who used /forget, and requests the
        retention pass removed, are not counted: nothing is kept that could be joined back."""
        first_answer = (
            select(Relay.referral_id, func.min(Relay.created_at).label("at"))
            .where(Relay.direction == Direction.TO_MEMBER)
            .group_by(Relay.referral_id)
            .subquery()
        )
        rows = (
            await self.session.execute(
                select(Referral, first_answer.c.at)
                .outerjoin(first_answer, first_answer.c.referral_id == Referral.id)
                .where(
                    Referral.created_at >= start,
                    Referral.created_at < end,
                    Referral.member_id.is_not(None),
                )
                .order_by(Referral.id)
            )
        ).all()
        await self.unlock(row[0] for row in rows)
        found = []
        for referral, answered in rows:
            need, country, asked = referral.need, referral.country, referral.network_id
            if need is None or country is None or asked is None:
                continue  # shredded
            carded = referral.group_network_id
            if network is not None and network not in (asked, carded):
                continue
            found.append(
                RequestFigure(
                    asked,
                    carded,
                    need,
                    country,
                    referral.created_at,
                    referral.delivered_at,
                    referral.claimed_at,
                    answered,
                    referral.closed_at,
                )
            )
        return found

    async def unclaimed_since(
        self, before: dt.datetime, column: str, limit: int = 100
    ) -> Sequence[Referral]:
        """Delivered, unclaimed referrals delivered before `before` whose `column` is unset."""
        stamp = getattr(Referral, column)
        rows = await self.session.scalars(
            select(Referral)
            .where(
                Referral.state == ReferralState.DELIVERED,
                Referral.delivered_at.is_not(None),
                Referral.delivered_at <= before,
                stamp.is_(None),
            )
            .order_by(Referral.id)
            .limit(limit)
        )
        return await self._all(rows.all())

    async def others_waiting(self, referral_id: int) -> int:
        """Referrals other than this one that wait for a group."""
        count = await self.session.scalar(
            select(func.count())
            .select_from(Referral)
            .where(Referral.state == ReferralState.WAITING, Referral.id != referral_id)
        )
        return int(count or 0)

    async def stamp_closed(self, states: Sequence[str], now: dt.datetime) -> None:
        """Give finished referrals without a closing date one: their retention clock starts."""
        await self.session.execute(
            update(Referral)
            .where(Referral.state.in_(states), Referral.closed_at.is_(None))
            .values(closed_at=now)
        )

    async def purge_closed(self, states: Sequence[str], before: dt.datetime) -> int:
        result = await self.session.execute(
            delete(Referral).where(Referral.state.in_(states), Referral.closed_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def drop_relay_text(self, relay_id: int) -> None:
        await self.session.execute(update(Relay).where(Relay.id == relay_id).values(body=None))

    async def drop_delivered_relay_texts(self, done_states: Sequence[str]) -> int:
        """A relayed text is needed only until it is delivered (or given up on)."""
        delivered = select(OutboxMessage.id).where(
            OutboxMessage.relay_id == Relay.id, OutboxMessage.state.in_(done_states)
        )
        result = await self.session.execute(
            update(Relay).where(Relay.body.is_not(None), exists(delivered)).values(body=None)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def relay_by_update(self, update_id: int) -> Relay | None:
        return await self.session.scalar(select(Relay).where(Relay.source_update_id == update_id))

    async def add_relay(self, relay: Relay) -> Relay:
        self.session.add(relay)
        await self.session.flush()
        return relay

    async def get_relay(self, relay_id: int) -> Relay | None:
        return await self.session.get(Relay, relay_id)

    async def clear_texts(self, referral: Referral) -> None:
        referral.body = None
        await self.session.execute(
            update(Relay).where(Relay.referral_id == referral.id).values(body=None)
        )
        # A transfer's note (bot/desk) speaks of the member too.
        await self.session.execute(
            update(Transfer).where(Transfer.referral_id == referral.id).values(note=None)
        )


class OutboxRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _tag(self, chat_id: int) -> bytes:
        return identity_of(self.session).tag(chat_id)

    async def enqueue(self, key: str, **fields: object) -> OutboxMessage | None:
        """Add a message unless one with this key exists (then None: it is already owed)."""
        if await self.session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)):
            return None
        row = OutboxMessage(key=key, **fields)
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, row_id: int) -> OutboxMessage | None:
        return await self.session.get(OutboxMessage, row_id)

    async def claim(
        self, owner: str, now: dt.datetime, lease: dt.timedelta, limit: int = 50
    ) -> Sequence[OutboxMessage]:
        """Lease due rows to one worker, never to two (R5).

        PostgreSQL locks the candidates FOR UPDATE SKIP LOCKED, so concurrent workers take
        disjoint rows. SQLite ignores FOR UPDATE, but runs the conditional UPDATE below under its
        single writer lock, so a row another worker leased meanwhile is not taken again.
        """
        due = (
            OutboxMessage.state == OutboxState.PENDING,
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
        )
        ids = list(
            await self.session.scalars(
                select(OutboxMessage.id)
                .where(*due)
                .order_by(OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if not ids:
            return []
        token = f"{owner}:{secrets.token_hex(4)}"
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), *due)
            .values(lease_until=now + lease, lease_owner=token)
            .execution_options(synchronize_session=False)
        )
        rows = await self.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.lease_owner == token)
            .order_by(OutboxMessage.id)
            .execution_options(populate_existing=True)
        )
        return rows.all()

    async def release(self, owner: str | None = None) -> int:
        """Hand leases back (on shutdown; with `None`, every lease: a lone worker restarting)."""
        query = update(OutboxMessage).where(OutboxMessage.lease_until.is_not(None))
        if owner is not None:
            query = query.where(OutboxMessage.lease_owner.like(owner + ":%"))
        result = await self.session.execute(query.values(lease_until=None, lease_owner=None))
        return int(getattr(result, "rowcount", 0) or 0)

    async def next_due(self) -> dt.datetime | None:
        return await self.session.scalar(
            select(func.min(OutboxMessage.next_attempt_at)).where(
                OutboxMessage.state == OutboxState.PENDING
            )
        )

    async def card_of(self, referral_id: int) -> OutboxMessage | None:
        """The referral's card as posted (its chat and message id), if it was: the newest, after
        a transfer to another network's group."""
        return await self.session.scalar(
            select(OutboxMessage)
            .where(
                OutboxMessage.referral_id == referral_id,
                OutboxMessage.kind == OutboxKind.CARD,
                OutboxMessage.state == OutboxState.SENT,
            )
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )

    async def posted_cards(self, referral_id: int, kinds: Sequence[str]) -> list[OutboxMessage]:
        rows = await self.session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.referral_id == referral_id,
                OutboxMessage.kind.in_(kinds),
                OutboxMessage.state == OutboxState.SENT,
            )
            .order_by(OutboxMessage.id)
        )
        return list(rows)

    async def forget_chat(self, chat_id: int, owed: Sequence[str]) -> None:
        """A forgotten member: messages owed to their chat are cancelled, and no row keeps
        their Telegram id (delivered messages remember the chat they went to)."""
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.chat_id == chat_id, OutboxMessage.state.in_(owed))
            .values(state=OutboxState.CANCELLED)
        )
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.sent_chat_hash == self._tag(chat_id))
            .values(sent_chat_hash=None, sent_chat_sealed=None, message_id=None)
        )
        await self.session.execute(
            update(OutboxMessage).where(OutboxMessage.chat_id == chat_id).values(chat_id=None)
        )

    async def posted(self, chat_id: int, message_id: int) -> OutboxMessage | None:
        """The outbox row that produced this message: what a reply was answering."""
        return await self.session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.sent_chat_hash == self._tag(chat_id),
                OutboxMessage.message_id == message_id,
            )
        )

    async def cancel(self, referral_id: int, kinds: Sequence[str] | None = None) -> int:
        query = update(OutboxMessage).where(
            OutboxMessage.referral_id == referral_id,
            OutboxMessage.state.in_((OutboxState.PENDING, OutboxState.WAITING)),
        )
        if kinds is not None:
            query = query.where(OutboxMessage.kind.in_(kinds))
        result = await self.session.execute(query.values(state=OutboxState.CANCELLED))
        return int(getattr(result, "rowcount", 0) or 0)

    async def wake_waiting(self, now: dt.datetime) -> int:
        """A group was bound: cards parked for want of one, or given up on, are due now."""
        result = await self.session.execute(
            update(OutboxMessage)
            .where(
                (OutboxMessage.state == OutboxState.WAITING)
                | (
                    (OutboxMessage.state == OutboxState.DEAD)
                    & OutboxMessage.kind.in_((OutboxKind.CARD, OutboxKind.ESCALATION))
                )
            )
            .values(state=OutboxState.PENDING, next_attempt_at=now, failures=0)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def count(self, state: OutboxState) -> int:
        return int(
            await self.session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == state)
            )
            or 0
        )

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> None:
        rows = await self.session.scalars(
            select(OutboxMessage).where(OutboxMessage.sent_chat_hash == self._tag(old_chat_id))
        )
        for row in rows:
            row.sent_chat_id = new_chat_id  # sealed again, bound to its row
