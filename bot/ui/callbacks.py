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


class AskAbout(CallbackData, prefix="aa"):
    """ "Ask a network" about a country already chosen (a /network card): `n`, the need, once
    the member picked it."""

    c: str  # ISO 3166-1 alpha-2
    n: str = ""


class GuideLink(CallbackData, prefix="gc"):
    """Open a guide's card from outside the Guides section (the free-text search in
    bot/core/fallback.py). Same prefix and field as bot/guides/handlers.GuideCard, which
    answers it."""

    s: str
