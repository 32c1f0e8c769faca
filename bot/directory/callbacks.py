"""Callback data of the services flow, shared by the services and law screens (and the
catch-all, which offers "what to do now" to a cry for help)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class ServicePage(CallbackData, prefix="sv"):
    c: str  # country
    n: str  # need id, or "all"
    p: int = 0  # page


class NeedMenu(CallbackData, prefix="sn"):
    c: str


class AfterViolence(CallbackData, prefix="av"):
    """The "what to do now" card; `c` is the country it was opened from, or empty."""

    c: str = ""
