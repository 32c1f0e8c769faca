"""Referrals between members and network groups: sealing, rendering, and the state changes.

The member flow, the group side and the delivery worker all go through `Referrals`, so every
change that owes Telegram a message writes its outbox row in the same transaction (R4) and rings
the worker's doorbell after the commit. Nothing here sends anything itself.

Texts are sealed with the member's own data key (storage.crypto.DataKeys via KeyRepo); the aad
binds a ciphertext to its referral code and purpose, so a ciphertext moved to another row fails
to open. Staff-facing texts never carry the member's Telegram id, name or username (the last
only when the member chose to share it, R24).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.directory.model import Directory
from storage.crypto import Sealer
from storage.models import (
    Destination,
    Direction,
    Member,
    OutboxKind,
    OutboxMessage,
    Referral,
    ReferralState,
    Relay,
    utcnow,
)
from storage.repositories import GroupRepo, KeyRepo, OutboxRepo, ReferralRepo

log = logging.getLogger(__name__)

REQUEST_TEXT_LIMIT = 2000
OPEN_STATES = frozenset(
    {
        ReferralState.QUEUED,
        ReferralState.WAITING,
        ReferralState.DELIVERED,
        ReferralState.CLAIMED,
        ReferralState.ANSWERED,
    }
)
CARD_KINDS = (OutboxKind.CARD, OutboxKind.ESCALATION)


def ring_after_commit(session: AsyncSession, app: App) -> None:
    """Ring the doorbell once this update's transaction commits (never before: the worker
    would look, find nothing yet, and sleep)."""
    sync = session.sync_session
    if sync.info.get("doorbell"):
        return
    sync.info["doorbell"] = True
    bell = app.doorbell

    def ring(_session: object) -> None:
        sync.info.pop("doorbell", None)
        bell.ring()

    event.listen(sync, "after_commit", ring, once=True)


# -- sealing ---------------------------------------------------------------------------------


def body_aad(code: str) -> bytes:
    return b"referral:" + code.encode()


def relay_aad(code: str, direction: str, update_id: int) -> bytes:
    return b"relay:%s:%s:%d" % (code.encode(), direction.encode(), update_id)


@dataclass(frozen=True)
class Body:
    text: str
    username: str | None = None


def seal_body(sealer: Sealer, code: str, body: Body) -> bytes:
    raw = json.dumps({"t": body.text, "u": body.username}, ensure_ascii=False).encode()
    return sealer.seal(raw, body_aad(code))


def open_body(sealer: Sealer | None, referral: Referral) -> Body | None:
    """The referral's text, or None once deleted or shredded (its key destroyed)."""
    if sealer is None or referral.body is None:
        return None
    try:
        data = json.loads(sealer.open(referral.body, body_aad(referral.code)))
    except (InvalidTag, ValueError):
        log.warning("a referral body could not be opened")
        return None
    return Body(str(data["t"]), data.get("u"))


def media_aad(code: str, direction: str, update_id: int) -> bytes:
    return b"media:%s:%s:%d" % (code.encode(), direction.encode(), update_id)


@dataclass(frozen=True)
class Media:
    """Where a photo or voice note is, so the worker can copy it (the file is never uploaded
    again): the chat it was sent in, its message id, its kind, and the sender's caption."""

    kind: str  # "photo" | "voice"
    chat_id: int
    message_id: int
    caption: str | None = None


def seal_media(sealer: Sealer, code: str, direction: str, update_id: int, media: Media) -> bytes:
    raw = json.dumps(
        {"k": media.kind, "c": media.chat_id, "m": media.message_id, "t": media.caption},
        ensure_ascii=False,
    ).encode()
    return sealer.seal(raw, media_aad(code, direction, update_id))


def open_media(sealer: Sealer | None, referral: Referral, relay: Relay) -> Media | None:
    """The copy's source, or None once delivered, deleted or shredded."""
    if sealer is None or relay.body is None:
        return None
    try:
        aad = media_aad(referral.code, relay.direction, relay.source_update_id)
        data = json.loads(sealer.open(relay.body, aad))
        return Media(str(data["k"]), int(data["c"]), int(data["m"]), data.get("t"))
    except (InvalidTag, ValueError, KeyError):
        log.warning("a relayed photo or voice note could not be opened")
        return None


def open_relay(sealer: Sealer | None, referral: Referral, relay: Relay) -> str | None:
    if sealer is None or relay.body is None:
        return None
    try:
        aad = relay_aad(referral.code, relay.direction, relay.source_update_id)
        return sealer.open(relay.body, aad).decode()
    except (InvalidTag, ValueError):
        log.warning("a relayed message could not be opened")
        return None


# -- state changes -----------------------------------------------------------------------------


class Referrals:
    """Referral changes inside one transaction; the caller commits, then rings the doorbell."""

    def __init__(self, session: AsyncSession, app: App) -> None:
        self.session, self.app = session, app
        self.referrals = ReferralRepo(session)
        self.outbox = OutboxRepo(session)
        self.groups = GroupRepo(session)
        self.keys = KeyRepo(session, app.sealer)

    @property
    def directory(self) -> Directory:
        return self.app.directory

    async def submit(
        self,
        member: Member,
        *,
        need: str,
        country: str,
        language: str,
        text: str,
        username: str | None,
        update_id: int | None,
    ) -> Referral:
        """Store the referral and its card's outbox row: one transaction (R4)."""
        if update_id is not None:
            earlier = await self.referrals.by_update(update_id)
            if earlier is not None:
                return earlier  # the same consent tap, replayed after a crash
        sealer = await self.keys.get_or_create(member.id)
        code = await self.referrals.new_code()
        network = self.directory.network_for(country)
        referral = await self.referrals.add(
            Referral(
                code=code,
                member_id=member.id,
                need=need,
                country=country,
                language=language,
                network_id=network.id,
                body=seal_body(sealer, code, Body(text, username)),
                state=ReferralState.QUEUED,
                source_update_id=update_id,
            )
        )
        await self.outbox.enqueue(
            f"card:{referral.id}",
            referral_id=referral.id,
            destination=Destination.NETWORK,
            kind=OutboxKind.CARD,
        )
        return referral

    async def staff_reply(self, referral: Referral, text: str, update_id: int) -> bool:
        """Relay a staff member's reply to the member; False when it was relayed already."""
        relayed = await self._relay(
            referral, text, update_id, Direction.TO_MEMBER, Destination.MEMBER
        )
        if relayed and referral.state in (
            ReferralState.QUEUED,
            ReferralState.WAITING,
            ReferralState.DELIVERED,
            ReferralState.CLAIMED,
        ):
            referral.state = ReferralState.ANSWERED
        return relayed

    async def member_reply(self, referral: Referral, text: str, update_id: int) -> bool:
        """Relay a member's answer to the group, as a reply to the card."""
        return await self._relay(referral, text, update_id, Direction.TO_GROUP, Destination.CARD)

    async def staff_media(self, referral: Referral, media: Media, update_id: int) -> bool:
        """A staff member's photo or voice note for the member; False when queued already."""
        relayed = await self._relay(
            referral, media, update_id, Direction.TO_MEMBER, Destination.MEMBER
        )
        if relayed and referral.state in (
            ReferralState.QUEUED,
            ReferralState.WAITING,
            ReferralState.DELIVERED,
            ReferralState.CLAIMED,
        ):
            referral.state = ReferralState.ANSWERED
        return relayed

    async def member_media(self, referral: Referral, media: Media, update_id: int) -> bool:
        """A member's photo or voice note for the group, as a reply to the card."""
        return await self._relay(referral, media, update_id, Direction.TO_GROUP, Destination.CARD)

    async def _relay(
        self,
        referral: Referral,
        content: str | Media,
        update_id: int,
        direction: Direction,
        destination: Destination,
    ) -> bool:
        """Seal the text (or where the media is) under the member's key and queue it; once
        per update (R3, R11)."""
        if await self.referrals.relay_by_update(update_id) is not None:
            return False
        if referral.member_id is None:
            return False
        sealer = await self.keys.get_or_create(referral.member_id)
        if isinstance(content, Media):
            body = seal_media(sealer, referral.code, direction, update_id, content)
            kind = OutboxKind.MEDIA
        else:
            body = sealer.seal(content.encode(), relay_aad(referral.code, direction, update_id))
            kind = OutboxKind.RELAY
        relay = await self.referrals.add_relay(
            Relay(
                referral_id=referral.id,
                direction=direction,
                body=body,
                source_update_id=update_id,
            )
        )
        await self.outbox.enqueue(
            f"relay:{relay.id}",
            referral_id=referral.id,
            relay_id=relay.id,
            destination=destination,
            kind=kind,
        )
        return True

    async def claim(self, referral: Referral, now: dt.datetime | None = None) -> bool:
        if referral.state not in (
            ReferralState.QUEUED,
            ReferralState.WAITING,
            ReferralState.DELIVERED,
        ):
            return False
        referral.state, referral.claimed_at = ReferralState.CLAIMED, now or utcnow()
        return True

    async def close(self, referral: Referral, now: dt.datetime | None = None) -> bool:
        if referral.state not in OPEN_STATES:
            return False
        referral.state, referral.closed_at = ReferralState.CLOSED, now or utcnow()
        await self.outbox.enqueue(
            f"closed:{referral.id}",
            referral_id=referral.id,
            destination=Destination.MEMBER,
            kind=OutboxKind.CLOSED,
        )
        return True

    async def withdraw(self, referral: Referral, *, delete: bool = False) -> None:
        """The member takes the request back; with `delete`, its texts are erased too."""
        was_open = referral.state in OPEN_STATES
        # A card not yet posted is simply never posted.
        await self.outbox.cancel(referral.id)
        if delete:
            await self.referrals.clear_texts(referral)
            referral.state = ReferralState.DELETED
        elif was_open:
            referral.state = ReferralState.WITHDRAWN
        posted = await self.posted_cards(referral.id)
        if was_open and posted:
            await self.outbox.enqueue(
                f"withdrawn:{referral.id}",
                referral_id=referral.id,
                destination=Destination.CARD,
                kind=OutboxKind.WITHDRAWN,
            )
        await self.enqueue_card_edits(referral, posted)
        if delete:
            # The member's words relayed to the group go too, not only the card's (tour [4]).
            relayed = (OutboxKind.RELAY, OutboxKind.MEDIA)
            for relay in await self.outbox.posted_cards(referral.id, relayed):
                if relay.destination == Destination.MEMBER:
                    continue
                # A photo or voice note cannot be edited into a notice: it is deleted.
                what = "media" if relay.kind == OutboxKind.MEDIA else "relay"
                await self.outbox.enqueue(
                    f"edit:{relay.id}:deleted",
                    referral_id=referral.id,
                    destination=Destination.CARD,
                    kind=OutboxKind.EDIT,
                    params=json.dumps({what: relay.id}),
                )

    async def forget_member(self, member_id: int) -> int:
        """Before /forget deletes a member: withdraw and erase their referrals, shred the key.

        The rows stay as tombstones (member_id set to NULL by the foreign key), so the groups
        are told "withdrawn by the member" and the cards lose the text. A tombstone keeps no
        need, country or network either: those were sealed with the member's key (H1), which
        goes too, so even an older copy of the database cannot open them. Returns how many.
        """
        referrals = await self.referrals.of_member_all(member_id)
        for referral in referrals:
            await self.withdraw(referral, delete=True)
            await self.referrals.drop_facts(referral)
        await self.keys.destroy(member_id)
        return len(referrals)

    async def posted_cards(self, referral_id: int) -> list[OutboxMessage]:
        return await self.outbox.posted_cards(referral_id, CARD_KINDS)

    async def enqueue_card_edits(
        self, referral: Referral, cards: Iterable[OutboxMessage] | None = None
    ) -> None:
        """Bring every posted card of the referral up to date with its state."""
        for card in cards if cards is not None else await self.posted_cards(referral.id):
            await self.outbox.enqueue(
                f"edit:{card.id}:{referral.state}",
                referral_id=referral.id,
                destination=Destination.CARD,
                kind=OutboxKind.EDIT,
                params=json.dumps({"card": card.id}),
            )

    async def bind(self, network_id: str, chat_id: int, language: str | None = None) -> int:
        """Bind a group and make everything that waited for one due now."""
        await self.groups.bind(network_id, chat_id, language)
        return await self.outbox.wake_waiting(utcnow())
