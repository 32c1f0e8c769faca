"""The desk's figures as a group reads them (`/stats`) and as a CSV (`python -m bot report`).

Aggregates only: no member code, no text. Any count from 1 to 4 is shown as "<5", and a time
computed from fewer than 5 answered requests is not shown at all.
"""

from __future__ import annotations

import csv
import html
import io

from babel.dates import format_date

from bot.desk.service import SMALL, Figures
from bot.directory.model import Directory
from bot.i18n import _
from bot.referrals.texts import country_label, need_label, network_label
from bot.ui.localise import number

SUPPRESSED = "<5"


def cell(count: int, language: str) -> str:
    """A count as shown: "<5" from 1 to 4, Babel's digits otherwise."""
    return SUPPRESSED if 0 < count < SMALL else number(count, language)


def hours(value: float, language: str) -> str:
    return _("{hours} h").format(hours=number(round(value, 1), language))


def stats_text(figures: Figures, directory: Directory, language: str) -> str:
    def count(n: int) -> str:
        return html.escape(cell(n, language))

    def dated(day: object) -> str:
        return format_date(day, format="medium", locale=language)  # type: ignore[arg-type]

    lines = [
        "📊 <b>" + _("Figures") + "</b>",
        "",
        html.escape(network_label(directory, figures.network)),
        _("Requests made from {start} to {end}: {total}").format(
            start=dated(figures.start), end=dated(figures.end), total=count(figures.total)
        ),
    ]
    sections = (
        (_("By need"), [(need_label(directory, k, language), n) for k, n in figures.by_need]),
        (_("By country"), [(country_label(k, language), n) for k, n in figures.by_country]),
        (_("By week"), figures.by_week),
    )
    for title, rows in sections:
        if not rows:
            continue
        lines += ["", "<b>" + title + "</b>"]
        lines += [f"• {html.escape(label)}: {count(n)}" for label, n in rows]
    lines += ["", "<b>" + _("Time to first answer") + "</b>"]
    if figures.median_hours is not None and figures.p90_hours is not None:
        lines.append(
            _("Median {median}; 9 in 10 within {p90} ({count} answered requests).").format(
                median=hours(figures.median_hours, language),
                p90=hours(figures.p90_hours, language),
                count=number(figures.answered, language),
            )
        )
    else:
        lines.append(_("Not shown: fewer than 5 answered requests."))
    lines += [
        "",
        "<b>" + _("Where they stand now") + "</b>",
        _("Open: {open} (overdue: {overdue})").format(
            open=count(figures.open), overdue=count(figures.overdue)
        ),
        _("Escalated: {n}").format(n=count(figures.escalated)),
        _("Withdrawn by the member: {n}").format(n=count(figures.withdrawn)),
        _("Closed: {n}").format(n=count(figures.closed)),
        "",
        "<i>"
        + _(
            "Counts from 1 to 4 show as “{small}”. The time to first answer runs from the "
            "request to the first claim or staff reply; overdue means open and unanswered past "
            "the reminder. Another period: /stats 2026-01-01 2026-06-30"
        ).format(small=html.escape(SUPPRESSED))
        + "</i>",
    ]
    return "\n".join(lines)


def stats_csv(figures: Figures) -> str:
    """section,key,value rows with ids (need ids, ISO country codes, ISO weeks), suppressed
    the same way."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "key", "value"])

    def count(n: int) -> str:
        return SUPPRESSED if 0 < n < SMALL else str(n)

    writer.writerow(["period", "network", figures.network])
    writer.writerow(["period", "from", figures.start.isoformat()])
    writer.writerow(["period", "to", figures.end.isoformat()])
    writer.writerow(["requests", "total", count(figures.total)])
    for section, rows in (
        ("need", figures.by_need),
        ("country", figures.by_country),
        ("week", figures.by_week),
    ):
        for key, n in rows:
            writer.writerow([section, key, count(n)])
    answered = figures.median_hours is not None and figures.p90_hours is not None
    writer.writerow(["first_answer", "answered", count(figures.answered)])
    writer.writerow(
        ["first_answer", "median_hours", f"{figures.median_hours:.1f}" if answered else ""]
    )
    writer.writerow(["first_answer", "p90_hours", f"{figures.p90_hours:.1f}" if answered else ""])
    for key in ("open", "overdue", "escalated", "withdrawn", "closed"):
        writer.writerow(["state", key, count(getattr(figures, key))])
    return out.getvalue()
