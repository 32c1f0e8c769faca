"""What members and staff read: alerts, news, progress. Called inside an i18n locale context.

Lock-screen rule: a message the bot starts (an alert, news) opens with two neutral lines, a
plain "notice" line and the date; the network, the area and the words come after (issue 12).
"""

from __future__ import annotations

import datetime as dt
import html
import json

from babel.dates import format_date

from bot.directory.countries import country_name
from bot.i18n import _
from bot.ui.localise import fill, rtl_line
from storage.models import RecipientState


def neutral_head(when: dt.datetime, language: str) -> str:
    # NOTE: The first line of an alert or of news sent to a member: it shows on a lock screen,
    # so it must stay neutral (no network, nothing about sex work or danger).
    first = _("You have a new notice")
    return rtl_line(first, language) + "\n" + rtl_line(when_text(when, language), language)


def when_text(when: dt.datetime, language: str) -> str:
    return format_date(when.date(), format="long", locale=language)


def alert_text(
    *, text: str, country: str, areas_json: str, created: dt.datetime, language: str
) -> str:
    areas = json.loads(areas_json or "[]")
    place = country_name(country, language)
    if areas:
        place = ", ".join(areas) + " · " + place
    return "\n".join(
        [
            neutral_head(created, language),
            "",
            "<b>" + html.escape(fill(_("Alert for {place}"), language, place=place)) + "</b>",
            html.escape(text),
            "",
            # NOTE: The one-line "what to do" footer under every alert.
            "<i>"
            + html.escape(
                _(
                    "Take care: share this with people you trust, go with a friend if you can,"
                    " and write /ask if you need support."
                )
            )
            + "</i>",
        ]
    )


def news_text(*, text: str, network: str, created: dt.datetime, language: str) -> str:
    return "\n".join(
        [
            neutral_head(created, language),
            "",
            html.escape(text),
            "",
            "— " + html.escape(network),
            "<i>" + html.escape(_("You receive news because you asked for it: /alerts")) + "</i>",
        ]
    )


def progress_text(
    counts: dict[RecipientState, int], total: int, language: str, *, finished: str | None = None
) -> str:
    done = sum(counts.get(s, 0) for s in (RecipientState.SENT,))
    failed = sum(counts.get(s, 0) for s in (RecipientState.FAILED, RecipientState.UNREACHABLE))
    line = fill(
        _("{done} / {total} · {failed} failed"), language, done=done, total=total, failed=failed
    )
    if finished:
        return finished + "\n" + line
    return _("Sending…") + "\n" + line
