"""Callback data of the bad-date buttons: the member's form and list, the staff card."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class When(StrEnum):
    TODAY = "t"
    YESTERDAY = "y"
    WEEK = "w"
    EARLIER = "e"


class Harm(StrEnum):
    """What happened; the order is the order of the buttons."""

    VIOLENCE = "v"
    SEXUAL_ASSAULT = "s"
    ROBBERY = "r"
    CONDOM = "c"
    NON_PAYMENT = "p"
    THREATS = "t"
    FAKE_POLICE = "o"
    OTHER = "x"


class StepOp(StrEnum):
    WHEN = "w"  # v: a When
    HARM = "h"  # v: a Harm, toggled
    HARMS_DONE = "hd"
    SUPPORT = "s"  # v: "1" or "0"
    SEND = "go"
    REDO = "re"  # write the description again
    CANCEL = "c"


class ReportStep(CallbackData, prefix="bds"):
    """A step of the member's form; `v` is the step's value."""

    op: StepOp
    v: str = ""


class MineOp(StrEnum):
    LIST = "l"
    OPEN = "o"
    DELETE = "d"
    DELETE_YES = "dy"


class MyReport(CallbackData, prefix="bdm"):
    """A member's action on their own report; `r` is the report code."""

    op: MineOp
    r: str = ""


class CardOp(StrEnum):
    APPROVE = "a"
    EDIT = "e"
    REJECT = "x"


class ReportCard(CallbackData, prefix="bdc"):
    """Approve, Edit or Reject on a report card in a staff group; `r` is the report code."""

    op: CardOp
    r: str
