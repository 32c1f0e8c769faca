"""Every text of the bad-date feature: choices, the card staff see, the member's preview,
list and notes. The card's first two lines name no network and nothing sensitive (a lock
screen shows them)."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.baddates.callbacks import CardOp, Harm, ReportCard, When
from bot.baddates.service import ReportBody
from bot.directory.model import Directory
from bot.i18n import _
from bot.referrals.texts import country_label, language_label, network_label, pseudonym
from storage.models import BadDateReport, BadDateState, Member

HEAD = "📝"


def when_label(when: When) -> str:
    return {
        When.TODAY: _("Today"),
        When.YESTERDAY: _("Yesterday"),
        When.WEEK: _("This week"),
        When.EARLIER: _("Earlier"),
    }[when]


def harm_label(harm: Harm) -> str:
    return {
        Harm.VIOLENCE: _("Violence"),
        Harm.SEXUAL_ASSAULT: _("Sexual assault"),
        Harm.ROBBERY: _("Robbery"),
        Harm.CONDOM: _("Refused or removed a condom"),
        Harm.NON_PAYMENT: _("Did not pay"),
        Harm.THREATS: _("Threats or blackmail"),
        Harm.FAKE_POLICE: _("Posing as police"),
        Harm.OTHER: _("Other"),
    }[harm]


def harms_label(harms: tuple[Harm, ...]) -> str:
    return ", ".join(harm_label(h) for h in Harm if h in harms)


def when_dated(when: When, reported: dt.date) -> str:
    """The choice as a date the alert can carry ("yesterday" means nothing a week later)."""
    if when == When.TODAY:
        return reported.isoformat()
    if when == When.YESTERDAY:
        return (reported - dt.timedelta(days=1)).isoformat()
    if when == When.WEEK:
        return _("in the week to {date}").format(date=reported.isoformat())
    return _("before {date}").format(date=(reported - dt.timedelta(days=7)).isoformat())


def alert_draft(body: ReportBody, reported: dt.date) -> str:
    """The alert as staff first see it: plain text, what happened, where, when, the person."""
    head = f"{harms_label(body.harms)} · {body.area} · {when_dated(body.when, reported)}"
    return head + "\n" + body.description


@dataclass(frozen=True)
class CardView:
    """Everything a card or the member's preview shows, in one language."""

    code: str
    country: str
    language: str
    member: str
    network: str
    via_fallback: bool
    state: BadDateState
    body: ReportBody | None
    reported: dt.date
    alert: str | None  # what members would read
    edited: bool


def card_view(
    directory: Directory,
    report: BadDateReport,
    member: Member | None,
    body: ReportBody | None,
    alert_text: str | None,
    lang: str,
    group_network: str | None = None,
) -> CardView:
    routed = group_network or report.group_network_id or report.network_id
    reported = report.created_at.date()
    alert = alert_text or (alert_draft(body, reported) if body is not None else None)
    return CardView(
        code=report.code,
        country=country_label(report.country, lang),
        language=language_label(report.language, lang),
        member=pseudonym(member.public_id) if member is not None else _("a former member"),
        network=network_label(directory, report.network_id),
        via_fallback=routed != report.network_id,
        state=report.state,
        body=body,
        reported=reported,
        alert=alert,
        edited=alert_text is not None,
    )


def quote(text: str) -> str:
    return "<blockquote>" + html.escape(text) + "</blockquote>"


def report_lines(view: CardView) -> list[str]:
    """The report itself: the same lines on the card and on the member's preview."""
    lines = [_("Country: {country}").format(country=html.escape(view.country))]
    body = view.body
    if body is not None:
        lines += [
            _("Area: {area}").format(area=html.escape(body.area)),
            _("When: {when} ({date})").format(
                when=when_label(body.when), date=when_dated(body.when, view.reported)
            ),
            _("What happened: {what}").format(what=html.escape(harms_label(body.harms))),
        ]
    lines += [
        _("Language: {language}").format(language=html.escape(view.language)),
        _("From: {member}").format(member=html.escape(view.member)),
    ]
    if view.via_fallback:
        lines.append(
            _("For: {network} (its group is not set up, so it came here)").format(
                network=html.escape(view.network)
            )
        )
    if body is None:
        return lines
    lines.append(
        _("Wants support: yes (they can also write to you with “Ask a network”).")
        if body.support
        else _("Wants support: no")
    )
    lines += ["", "<b>" + _("Description") + "</b>", quote(body.description)]
    if view.alert is not None:
        title = _("The alert as members would read it")
        if view.edited:
            title += " " + _("(rewritten by staff)")
        lines += ["", "<b>" + title + "</b>", quote(view.alert)]
    return lines


def card_text(view: CardView, *, repeat: bool = False, decision: str | None = None) -> str:
    lines = [f"{HEAD} <b>" + _("Report {code}").format(code=view.code) + "</b>", ""]
    if repeat:
        lines.append("🔁 " + _("(repeat) This card may have been posted before."))
    if view.state == BadDateState.DELETED:
        lines.append(_("Country: {country}").format(country=html.escape(view.country)))
        lines += [
            "",
            "🗑 <b>" + _("Withdrawn and deleted by the member: nothing is sent.") + "</b>",
        ]
        return "\n".join(lines)
    lines += report_lines(view)
    lines.append("")
    if decision is not None:
        lines.append(decision)
    elif view.state == BadDateState.APPROVED:
        lines.append("✅ <b>" + _("Approved.") + "</b>")
    elif view.state == BadDateState.REJECTED:
        lines.append("✖️ <b>" + _("Rejected.") + "</b>")
    else:
        lines.append(
            _(
                "Approve sends this alert to the members who asked for alerts in {country}. "
                "Edit first to take out anything that could identify the member. Nothing "
                "goes to members without an approval."
            ).format(country=html.escape(view.country))
        )
    return "\n".join(lines)


def card_markup(code: str, state: BadDateState) -> InlineKeyboardMarkup | None:
    if state not in (BadDateState.QUEUED, BadDateState.WAITING, BadDateState.DELIVERED):
        return None
    kb = InlineKeyboardBuilder()
    kb.button(text="✅ " + _("Approve"), callback_data=ReportCard(op=CardOp.APPROVE, r=code))
    kb.button(text="✏️ " + _("Edit"), callback_data=ReportCard(op=CardOp.EDIT, r=code))
    kb.button(text="✖️ " + _("Reject"), callback_data=ReportCard(op=CardOp.REJECT, r=code))
    kb.adjust(3)
    return kb.as_markup()


def decision_line(approved: bool, who: str, at: dt.datetime) -> str:
    when = at.strftime("%Y-%m-%d %H:%M") + " UTC"
    if approved:
        return (
            "✅ <b>"
            + _("Approved by {name}, {when}.").format(name=html.escape(who), when=when)
            + "</b> "
            + _("The alert is on its way to the members who asked for it.")
        )
    return (
        "✖️ <b>"
        + _("Rejected by {name}, {when}.").format(name=html.escape(who), when=when)
        + "</b> "
        + _("Nothing was sent to members.")
    )


def state_label(state: BadDateState) -> str:
    return {
        BadDateState.QUEUED: _("waiting for review"),
        BadDateState.WAITING: _("waiting for review"),
        BadDateState.DELIVERED: _("waiting for review"),
        BadDateState.APPROVED: _("alert sent"),
        BadDateState.REJECTED: _("reviewed, no alert"),
        BadDateState.DELETED: _("deleted"),
    }[state]


def note_text(code: str, country: str, outcome: str) -> str:
    """What the member is told once staff decided; the first two lines say nothing."""
    head = "🔔 <b>" + _("Update") + f"</b> · {code}\n\n"
    if outcome == "approved":
        return head + _(
            "Your report {code} was reviewed, and a warning based on it went to the members "
            "who asked for alerts in {country}. Thank you for looking out for others."
        ).format(code=code, country=html.escape(country))
    return head + _(
        "Your report {code} was reviewed. No warning will be sent from it; this says nothing "
        "about what happened to you. If you want support, /ask reaches a network."
    ).format(code=code)
