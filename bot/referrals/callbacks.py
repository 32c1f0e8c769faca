"""Callback data of the referral buttons: a card in a staff group, a member's own request."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class CardOp(StrEnum):
    CLAIM = "c"
    CLOSE = "x"
    TRANSFER = "t"  # handled by bot/desk: move the request to another network


class CardAction(CallbackData, prefix="cd"):
    """Claim or close on a card in a staff group; `r` is the referral code."""

    op: CardOp
    r: str


class RequestOp(StrEnum):
    LIST = "l"
    OPEN = "o"
    REPLY = "r"
    WITHDRAW = "w"
    WITHDRAW_YES = "wy"
    DELETE = "d"
    DELETE_YES = "dy"


class RequestAction(CallbackData, prefix="rq"):
    """A member's action on their own request; `r` is the referral code."""

    op: RequestOp
    r: str = ""


# FSM data key: the "My requests" screen (RequestAction data) to open once the right PIN is typed.
# The safety router sets it and passes the update on; the referrals router opens the screen, so
# the member lands on their requests with no extra tap (tour [25]).
UNLOCKED_RESUME = "unlocked_resume"
