"""Callback data that more than one feature builds buttons for."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class CheckUp(CallbackData, prefix="cu"):
    """A page of the privacy check-up; -1 skips the offer made with the welcome."""

    page: int


class Discreet(CallbackData, prefix="dm"):
    op: str  # "show", "mode" (toggle discreet mode) or "protect" (toggle protect_content)


class PinMenu(CallbackData, prefix="pn"):
    op: str  # "show", "set" or "remove"
