"""The one place an approved report becomes an alert: alerts-a's broadcast engine.

Kept apart so the moderation never sends anything to members itself; until the engine is merged
this records nothing and returns no alert id.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import BadDateReport


async def publish(session: AsyncSession, report: BadDateReport, text: str) -> int | None:
    """Queue the alert in the caller's transaction (so an approval and its broadcast commit
    together); returns the alert's id."""
    del session, report, text
    return None
