"""The one place an approved report becomes an alert: the broadcast engine's publish_alert.

Kept apart so the moderation never sends anything to members itself. The alert reaches every
member opted in for the report's country: the member's own words for the area are not passed
as areas, because the engine prints areas on the alert, and members must read only what staff
approved (the text, which names the area as staff left it). Who approved is not passed either:
the group's card shows it, and nothing else keeps it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.service import publish_alert
from storage.models import BadDateReport


async def publish(session: AsyncSession, report: BadDateReport, text: str) -> int:
    """Queue the alert in the caller's transaction, so an approval and its broadcast commit
    together; returns the alert's id (the same id again for the same report)."""
    return await publish_alert(
        session,
        network_id=report.group_network_id or report.network_id,
        country=report.country,
        areas=[],
        text=text,
        language=report.language,
        approved_by=None,
        source_report_id=report.id,
    )
