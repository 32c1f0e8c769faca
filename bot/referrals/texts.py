"""Every text the referral feature shows: the card staff see, the member's list, the relays,
reminders and admin alerts. Change the wording here; the logic lives in service.py and outbox.py.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder
from babel import Locale

from bot.directory.model import Directory
from bot.i18n import _, language_name
from bot.referrals.callbacks import CardAction, CardOp
from bot.referrals.service import Body
from bot.ui.localise import fill, here
from storage.models import Member, Referral, ReferralState

# What a member sees for each stored state.
MEMBER_STATES = {
    ReferralState.QUEUED: ReferralState.WAITING,
    ReferralState.WAITING: ReferralState.WAITING,
    ReferralState.DELIVERED: ReferralState.DELIVERED,
    ReferralState.CLAIMED: ReferralState.CLAIMED,
    ReferralState.ANSWERED: ReferralState.ANSWERED,
    ReferralState.CLOSED: ReferralState.CLOSED,
    ReferralState.WITHDRAWN: ReferralState.WITHDRAWN,
}

# -- names -------------------------------------------------------------------------------------


@cache
def _territory_names(lang: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in Locale.parse(lang).territories.items()}


# What a label says once the member's key is gone (a tombstone: /forget).
UNKNOWN = "—"


def country_label(code: str | None, lang: str) -> str:
    if code is None:
        return UNKNOWN
    return _territory_names(lang).get(code, code)


def language_label(code: str, lang: str) -> str:
    """'Spanish (Español)' for staff reading in English: both names, so either side can read it."""
    foreign = str(Locale.parse(lang).languages.get(code, code))
    native = language_name(code)
    return foreign if foreign.lower() == native.lower() else f"{foreign} ({native})"


def need_label(directory: Directory, need_id: str | None, lang: str) -> str:
    if need_id is None:
        return UNKNOWN
    need = directory.need(need_id)
    return need.name(lang) if need is not None else need_id


def network_label(directory: Directory, network_id: str | None) -> str:
    if network_id is None:
        return UNKNOWN
    network = directory.network(network_id)
    return network.name if network is not None else network_id


def pseudonym(public_id: str) -> str:
    return _("Member {code}").format(code=public_id)


# -- rendering ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardView:
    """Everything a card shows, in the staff's language (the deployment's default).

    `need` and `country` are None on a tombstone (the member used /forget): sealed with their
    key, which is gone, so the card says only that the request was withdrawn or deleted."""

    code: str
    need: str | None
    country: str | None
    language: str
    member: str
    username: str | None
    text: str | None
    network: str
    via_fallback: bool
    state: ReferralState
    # Where the request was before (bot/desk transfers), in the staff's language.
    history: tuple[str, ...] = ()


def card_view(
    directory: Directory,
    referral: Referral,
    member: Member | None,
    body: Body | None,
    lang: str,
    group_network: str | None = None,
    history: tuple[str, ...] = (),
) -> CardView:
    """`group_network`: the network whose group gets the card, when not yet recorded."""
    routed = group_network or referral.group_network_id or referral.network_id
    return CardView(
        code=referral.code,
        need=need_label(directory, need, lang) if (need := referral.need) else None,
        country=country_label(country, lang) if (country := referral.country) else None,
        language=language_label(referral.language, lang),
        member=pseudonym(member.public_id) if member is not None else _("a former member"),
        username=body.username if body is not None else None,
        text=body.text if body is not None else None,
        network=network_label(directory, referral.network_id),
        via_fallback=referral.network_id is not None and routed != referral.network_id,
        state=referral.state,
        history=history,
    )


def card_text(
    view: CardView,
    *,
    repeat: bool = False,
    claimed_by: str | None = None,
    escalated_hours: int | None = None,
    moved_to: str | None = None,
) -> str:
    """`moved_to`: the network a transfer took the request to; this card keeps no text."""
    # A lock screen shows two lines: the request number, then nothing (tour [2]).
    lines = ["📨 <b>" + _("Request {code}").format(code=view.code) + "</b>", ""]
    if repeat:
        lines.append("🔁 " + _("(repeat) This card may have been posted before."))
    if escalated_hours is not None:
        lines.append(
            "⏫ "
            + _("Escalated: unclaimed for {hours} hours in the group of {network}.").format(
                hours=escalated_hours, network=html.escape(view.network)
            )
        )
    if view.need is not None:
        lines.append(_("Need: {need}").format(need=html.escape(view.need)))
    if view.country is not None:
        lines.append(_("Country: {country}").format(country=html.escape(view.country)))
    lines.append(_("Language: {language}").format(language=html.escape(view.language)))
    who = html.escape(view.member)
    if view.username:
        who += " (@" + html.escape(view.username) + ")"
    lines.append(_("From: {member}").format(member=who))
    if view.via_fallback:
        lines.append(
            _("For: {network} (its group is not set up, so it came here)").format(
                network=html.escape(view.network)
            )
        )
    if view.state != ReferralState.DELETED:
        lines += [html.escape(line) for line in view.history]
    if moved_to is not None:
        lines += [
            "",
            "➡️ <b>"
            + _("Transferred to {network}.").format(network=html.escape(moved_to))
            + "</b>",
        ]
        return "\n".join(lines)
    if view.state == ReferralState.WITHDRAWN:
        lines += ["", "↩️ <b>" + _("Withdrawn by the member.") + "</b>"]
        return "\n".join(lines)
    if view.state == ReferralState.DELETED:
        lines += ["", "🗑 <b>" + _("Deleted by the member: the text is gone.") + "</b>"]
        return "\n".join(lines)
    if view.text is not None:
        lines += ["", "<blockquote>" + html.escape(view.text) + "</blockquote>"]
    lines.append("")
    if view.state == ReferralState.CLOSED:
        lines.append("✅ <b>" + _("Closed.") + "</b>")
    else:
        if claimed_by is not None:
            lines.append("✋ " + _("Claimed by {name}.").format(name=html.escape(claimed_by)))
        elif view.state in (ReferralState.CLAIMED, ReferralState.ANSWERED):
            lines.append("✋ " + _("Claimed."))
        lines.append(
            _("Reply to this message to answer. The member sees the network's name, never yours.")
        )
    return "\n".join(lines)


def card_markup(code: str, state: ReferralState) -> InlineKeyboardMarkup | None:
    if state in (ReferralState.CLOSED, ReferralState.WITHDRAWN, ReferralState.DELETED):
        return None
    kb = InlineKeyboardBuilder()
    if state in (ReferralState.QUEUED, ReferralState.WAITING, ReferralState.DELIVERED):
        kb.button(text="✋ " + _("Claim"), callback_data=CardAction(op=CardOp.CLAIM, r=code))
    kb.button(text="✅ " + _("Close"), callback_data=CardAction(op=CardOp.CLOSE, r=code))
    kb.button(text="➡️ " + _("Transfer"), callback_data=CardAction(op=CardOp.TRANSFER, r=code))
    kb.adjust(2)
    return kb.as_markup()


def member_state_label(state: ReferralState) -> str:
    labels = {
        ReferralState.WAITING: _("queued"),  # its network has no group yet
        ReferralState.DELIVERED: _("delivered"),
        ReferralState.CLAIMED: _("claimed"),
        ReferralState.ANSWERED: _("answered"),
        ReferralState.CLOSED: _("closed"),
        ReferralState.WITHDRAWN: _("withdrawn"),
    }
    return labels.get(MEMBER_STATES.get(state, state), state)


class AlertReason(StrEnum):
    """Why admins get a private alert."""

    WAITING = "waiting"  # a request waits: no group for its network, and no fallback
    DEAD = "dead"  # a message was given up on
    REFUSED = "refused"  # a group stopped accepting the bot's messages
    QUARANTINED = "quarantined"  # an update was set aside (bot/telegram/intake.py)


# -- texts the worker sends ----------------------------------------------------------------------
# A message the bot starts shows its first two lines on a lock screen: they say only "New
# message" and the request number. A network's name (some name sex work) comes from line 3 on
# (tour [2]); in discreet mode the neutral word comes first, and the rest moves down.


def neutral_head(code: str) -> list[str]:
    return ["💬 <b>" + _("New message") + f"</b> · {code}", ""]


def relay_to_member_text(network: str, code: str, text: str, repeat: bool) -> str:
    lines = neutral_head(code)
    lines.append(_("Reply from {network}:").format(network="<b>" + html.escape(network) + "</b>"))
    if repeat:
        lines.append("🔁 " + _("(repeat) You may have received this already."))
    lines += [
        "",
        html.escape(text),
        "",
        _(
            "Tap “Reply”, or just write here, to answer. They see your member code, never "
            "your name."
        ),
    ]
    return "\n".join(lines)


def relay_to_group_text(view: CardView, text: str, repeat: bool) -> str:
    lines = []
    if repeat:
        lines.append("🔁 " + _("(repeat) This message may have been posted before."))
    lines += [
        f"💬 <b>{view.code}</b> · " + _("{member} wrote:").format(member=html.escape(view.member)),
        "",
        "<blockquote>" + html.escape(text) + "</blockquote>",
        "",
        _("Reply to this message to answer."),
    ]
    return "\n".join(lines)


def media_to_member_caption(network: str, code: str, caption: str | None, repeat: bool) -> str:
    """A network's photo or voice note: the same neutral head as a text reply, no staff name."""
    lines = neutral_head(code)
    lines.append(_("Reply from {network}:").format(network="<b>" + html.escape(network) + "</b>"))
    if repeat:
        lines.append("🔁 " + _("(repeat) You may have received this already."))
    if caption:
        lines += ["", html.escape(caption)]
    return "\n".join(lines)


def media_to_group_caption(view: CardView, caption: str | None, repeat: bool) -> str:
    lines = []
    if repeat:
        lines.append("🔁 " + _("(repeat) This message may have been posted before."))
    lines.append(
        f"💬 <b>{view.code}</b> · " + _("{member} sent:").format(member=html.escape(view.member))
    )
    if caption:
        lines += ["", "<blockquote>" + html.escape(caption) + "</blockquote>"]
    lines += ["", _("Reply to this message to answer.")]
    return "\n".join(lines)


def relay_deleted_text(code: str) -> str:
    return f"💬 <b>{code}</b> · 🗑 " + _("Deleted by the member: the text is gone.")


def closed_text(network: str, code: str) -> str:
    # The blank line keeps the network's name off the lock screen (line 3 at the earliest).
    return (
        "\n".join([*neutral_head(code), ""])
        + "✅ "
        + _(
            "Your request {code} was closed by {network}. You can send a new request at any "
            "time with /ask."
        ).format(code=code, network=html.escape(network))
    )


def transferred_text(network: str, code: str) -> str:
    """The member's request moved to another network (bot/desk): neutral first lines."""
    return (
        "\n".join([*neutral_head(code), ""])
        + "➡️ "
        + _(
            "Your request {code} is now with {network}, who can help you better. Their reply "
            "will come here; you do not need to send it again."
        ).format(code=code, network="<b>" + html.escape(network) + "</b>")
    )


def withdrawn_text(code: str) -> str:
    return "↩️ " + _("{code}: withdrawn by the member.").format(code=code)


def undelivered_text(code: str) -> str:
    return "⚠️ " + _(
        "{code}: a reply from this group could not be delivered to the member (Telegram "
        "refused it). If it was long, please send it again in shorter parts."
    ).format(code=code)


def reminder_text(code: str, hours: int) -> str:
    return "⏰ " + _(
        "{code} has not been claimed for {hours} hours. Please claim it, or close it."
    ).format(code=code, hours=hours)


def alert_text(directory: Directory, params: dict[str, Any]) -> str:
    reason = params.get("reason")
    code = html.escape(str(params.get("code") or ""))
    network_id = str(params.get("network") or "")
    network = html.escape(network_label(directory, network_id)) if network_id else ""
    error = html.escape(str(params.get("error") or ""))
    # Admins' lock screens too: the first two lines name neither the network nor the need.
    head = "⚠️ <b>" + _("New message") + "</b>\n\n"
    if reason == AlertReason.WAITING:
        return head + _(
            "Request {code} for {network} is waiting: no staff group is set up for it, and "
            "there is no fallback group. In a staff group, send /bind {id} (or /bind global)."
        ).format(code=code, network=network, id=html.escape(network_id))
    if reason == AlertReason.QUARANTINED:
        return "⚠️ " + _(
            "An update from Telegram could not be handled and was set aside, so that nothing "
            "else waits for it. Its content is not shown here; the logs and /metrics count such "
            "updates. Later ones today are counted without another message."
        )
    if reason == AlertReason.REFUSED:
        return head + _(
            "The bot cannot post in the group of {network} any more ({error}). Its requests "
            "now go to the fallback group. Add the bot back and send /bind {id} there."
        ).format(network=network, error=error, id=html.escape(network_id))
    dead = _(
        "A message for request {code} could not be delivered after {n} tries ({error}). It is "
        "marked dead; send /bind in the right group to try the card again."
    )
    return head + fill(dead, here(), code=code or "—", n=int(params.get("n") or 0), error=error)
