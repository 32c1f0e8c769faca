"""Publishing alerts and news as durable broadcast jobs; the engine sends them."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Alert, Broadcast, BroadcastKind, BroadcastState
from storage.repositories import BroadcastRepo
from storage.sealed import identity_of

COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
MAX_TEXT = 3500  # leaves room in 4096 for the first line, the date and the footer
MAX_AREAS = 10
MAX_AREA = 60


def new_code() -> str:
    return secrets.token_hex(6)


def clean_areas(areas: Sequence[str]) -> list[str]:
    """Areas as written, trimmed, without repeats; at most MAX_AREAS of MAX_AREA characters."""
    seen: dict[str, str] = {}
    for area in areas:
        tidy = " ".join(area.split())[:MAX_AREA]
        if tidy and tidy.casefold() not in seen:
            seen[tidy.casefold()] = tidy
    return list(seen.values())[:MAX_AREAS]


async def publish_alert(
    session: AsyncSession,
    *,
    network_id: str,
    country: str,
    areas: list[str],
    text: str,
    language: str,
    approved_by: int | None,
    source_report_id: int | None,
) -> int:
    """Record an approved alert and its broadcast job in `session`'s transaction.

    Returns the alert's id. The same `source_report_id` twice (Approve pressed twice, a replayed
    update) returns the first alert's id and queues nothing more.
    """
    country = country.strip().upper()
    if not COUNTRY_RE.match(country):
        raise ValueError("country: expected an ISO 3166-1 alpha-2 code")
    text = text.strip()
    if not text:
        raise ValueError("text: empty")
    repo = BroadcastRepo(session)
    if source_report_id is not None:
        existing = await repo.alert_for_report(source_report_id)
        if existing is not None:
            return existing.id
    identity = identity_of(session)
    alert = await repo.add_alert(
        Alert(
            code=new_code(),
            network_id=network_id,
            country=country,
            areas=json.dumps(clean_areas(areas), ensure_ascii=False),
            text=text[:MAX_TEXT],
            language=language,
            approved_by_hash=identity.tag(approved_by) if approved_by is not None else None,
            source_report_id=source_report_id,
        )
    )
    await repo.add(
        Broadcast(
            code=new_code(),
            kind=BroadcastKind.ALERT,
            alert_id=alert.id,
            network_id=network_id,
            audience=json.dumps({"country": country}),
            language=language,
            state=BroadcastState.PLANNING,
            total=0,
        )
    )
    return alert.id


async def publish_news(
    session: AsyncSession,
    *,
    network_id: str,
    text: str,
    language: str,
    audience: dict[str, str],
    progress_chat_id: int | None = None,
) -> Broadcast:
    """Record a network's news as a broadcast job. `audience`: {} (the network's countries),
    {"country": "KE"} or {"language": "fr"}."""
    text = text.strip()
    if not text:
        raise ValueError("text: empty")
    broadcast = Broadcast(
        code=new_code(),
        kind=BroadcastKind.NEWS,
        network_id=network_id,
        audience=json.dumps(audience),
        text=text[:MAX_TEXT],
        language=language,
        state=BroadcastState.PLANNING,
        total=0,
    )
    broadcast.progress_chat_id = progress_chat_id
    return await BroadcastRepo(session).add(broadcast)
