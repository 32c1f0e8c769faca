"""Callback data that more than one feature builds buttons for."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class CheckUp(CallbackData, prefix="cu"):
    """A page of the privacy check-up; -1 skips the offer made with the welcome."""

    page: int


class DiscreetOp(StrEnum):
    SHOW = "show"
    MODE = "mode"  # toggle discreet mode
    PROTECT = "protect"  # toggle protect_content


class Discreet(CallbackData, prefix="dm"):
    op: DiscreetOp


class PinOp(StrEnum):
    SHOW = "show"
    SET = "set"
    REMOVE = "remove"


class PinMenu(CallbackData, prefix="pn"):
    op: PinOp
